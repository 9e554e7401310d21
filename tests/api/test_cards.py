"""Cards on file (DESIGN §8): createCardSetup answers what Stripe.js needs, the card is
recorded when the provider's event says the setup succeeded, and only the center's money
people start a setup or see the card."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.helpers import add_member, create_center

SETUP = """
mutation($input: CreateCardSetupInput!) {
  createCardSetup(input: $input) {
    __typename
    ... on CreateCardSetupSuccess { setupReference clientSecret businessCenter { id } }
    ... on UserError { code message field }
  }
}"""
CARD = """
query($id: ID!) { node(id: $id) { ... on BusinessCenter {
  paymentMethod { brand last4 expMonth expYear } } } }"""


async def _setup(api, center_id: str, token: str) -> dict[str, Any]:
    data = await api.data(SETUP, {"input": {"businessCenterId": center_id}}, token)
    return data["createCardSetup"]


async def _card(api, center_id: str, token: str) -> dict[str, Any] | None:
    return (await api.data(CARD, {"id": center_id}, token))["node"]["paymentMethod"]


async def _attach(webhooks, reference: str, *, declining: bool = False, event_id: str = "evt_1"):
    setup, card = await webhooks.sandbox.confirm_card_setup(reference, declining=declining)
    payload = webhooks.sandbox.setup_event_payload(setup, event_id)
    response = await webhooks.post(payload)
    assert response.status_code == 200, response.text
    return card, response.json()


async def test_a_card_set_up_and_confirmed_becomes_the_centers_payment_method(
    api, users, webhooks
) -> None:
    # given a center with no card
    admin = await users.create("admin")
    center = await create_center(api, admin)
    assert await _card(api, center.id, admin.token) is None
    # when its admin starts a setup and the provider confirms it with a card
    started = await _setup(api, center.id, admin.token)
    assert started["__typename"] == "CreateCardSetupSuccess", started
    assert started["clientSecret"].startswith(started["setupReference"])
    card, answer = await _attach(webhooks, started["setupReference"])
    # then the card shows on the center
    assert answer == {"received": True, "outcome": "PROCESSED"}
    assert await _card(api, center.id, admin.token) == {
        "brand": "visa",
        "last4": "4242",
        "expMonth": card.exp_month,
        "expYear": card.exp_year,
    }


async def test_the_same_event_twice_records_the_card_once(api, users, webhooks, sessions) -> None:
    admin = await users.create("admin")
    center = await create_center(api, admin)
    started = await _setup(api, center.id, admin.token)
    await _attach(webhooks, started["setupReference"], event_id="evt_twice")

    setup = await webhooks.sandbox.retrieve_card_setup(started["setupReference"])
    again = await webhooks.post(webhooks.sandbox.setup_event_payload(setup, "evt_twice"))

    assert again.json() == {"received": True, "outcome": "DUPLICATE"}
    async with sessions() as session:
        events = await session.scalar(
            text("SELECT count(*) FROM webhook_events WHERE event_id = 'evt_twice'")
        )
    assert events == 1


async def test_a_new_card_replaces_the_old_one(api, users, webhooks) -> None:
    admin = await users.create("admin")
    center = await create_center(api, admin)
    first = await _setup(api, center.id, admin.token)
    await _attach(webhooks, first["setupReference"], event_id="evt_a")
    second = await _setup(api, center.id, admin.token)
    assert second["setupReference"] != first["setupReference"]

    await _attach(webhooks, second["setupReference"], declining=True, event_id="evt_b")

    assert (await _card(api, center.id, admin.token))["last4"] == "0002"


async def test_only_admins_and_finance_managers_start_a_setup_and_money_readers_see_it(
    api, users, webhooks
) -> None:
    # given a center with a card and members of every role
    admin = await users.create("admin")
    center = await create_center(api, admin)
    started = await _setup(api, center.id, admin.token)
    await _attach(webhooks, started["setupReference"])
    members = {}
    for role in ("FINANCE_MANAGER", "FINANCE_ANALYST", "STANDARD"):
        members[role] = await users.create(role.lower())
        await add_member(api, center, members[role], role)
    # then a finance manager may start a setup; an analyst and a standard member may not
    assert (await _setup(api, center.id, members["FINANCE_MANAGER"].token))[
        "__typename"
    ] == "CreateCardSetupSuccess"
    for role in ("FINANCE_ANALYST", "STANDARD"):
        refused = await _setup(api, center.id, members[role].token)
        assert (refused["__typename"], refused["code"]) == ("ForbiddenError", "FORBIDDEN")
    # and the analyst sees the card, the standard member does not
    assert (await _card(api, center.id, members["FINANCE_ANALYST"].token))["last4"] == "4242"
    assert await _card(api, center.id, members["STANDARD"].token) is None


async def test_another_customers_center_is_not_found_and_nothing_is_made(
    api, users, sessions
) -> None:
    owner = await users.create("owner")
    center = await create_center(api, owner)
    stranger = await users.create("stranger")

    refused = await _setup(api, center.id, stranger.token)

    assert (refused["__typename"], refused["code"]) == ("NotFoundError", "NOT_FOUND")
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM card_setups")) == 0


async def test_a_setup_event_for_a_setup_we_never_made_is_ignored(api, users, webhooks) -> None:
    # given a setup the sandbox made for some other system (not through createCardSetup)
    from adledger.payments.port import CardSetupRequest

    made = await webhooks.sandbox.create_card_setup(CardSetupRequest("elsewhere:1", "cus_other"))
    # when its success event reaches us
    _, answer = await _attach(webhooks, made.reference, event_id="evt_foreign")
    # then nothing is recorded
    assert answer == {"received": True, "outcome": "IGNORED"}


async def test_a_center_starts_a_bounded_number_of_setups_a_day(api, users, sessions) -> None:
    from adledger.services.cards import MAX_SETUPS_A_DAY

    admin = await users.create("admin")
    center = await create_center(api, admin)
    for _ in range(MAX_SETUPS_A_DAY):
        assert (await _setup(api, center.id, admin.token))["__typename"] == "CreateCardSetupSuccess"

    refused = await _setup(api, center.id, admin.token)

    assert (refused["__typename"], refused["code"]) == ("InvalidStateError", "INVALID_STATE")
    async with sessions() as session:
        made = await session.scalar(text("SELECT count(*) FROM card_setups"))
    assert made == MAX_SETUPS_A_DAY
