"""A mutation never answers without its result (issue 23): an answer selecting a field the
caller may not read is refused, FORBIDDEN, before anything runs; the same request without
that field (the same event ids, the same idempotency key) is applied and answered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import text
from websockets.asyncio.client import connect

from adledger.schema.ids import db_id_of
from adledger.store.subjects import roles_in_centers_of
from adledger.store.users import user_by_email
from tests.api.campaign_fixtures import open_shop
from tests.helpers import (
    add_member,
    balance,
    campaign,
    launch,
    new_campaign,
    spend_event,
)

SPEND = """
mutation($events: [SpendEventInput!]!) {
  recordSpend(input: {events: $events}) {
    __typename
    ... on RecordSpendSuccess { accepted duplicates stoppedCampaigns { id status %s } }
    ... on UserError { code }
  }
}"""

LAUNCH = """
mutation($id: ID!, $key: String) {
  launchCampaign(input: {campaignId: $id, idempotencyKey: $key}) {
    __typename
    ... on LaunchCampaignSuccess { campaign { id status %s } }
    ... on UserError { code }
  }
}"""

READ_MONEY_OF_CAMPAIGN = "adAccount { wallet { balance { cash { amount } } } }"


async def _spent_events(sessions) -> int:
    async with sessions() as session:
        return await session.scalar(text("SELECT count(*) FROM spend_events"))


def _refusal(answer: dict[str, Any]) -> tuple[str, list[str]]:
    assert answer["data"] is None, answer
    [error] = answer["errors"]
    assert "path" not in error  # no field ran: a request error
    return error["extensions"]["code"], error["extensions"]["selection"]


@pytest.mark.parametrize(
    ("read", "selection"),
    [
        ("invoices { edges { node { id } } }", "invoices"),
        ("adAccount { name }", "adAccount"),
        ("makegoodOffers { id }", "makegoodOffers"),
        ("notifications { message }", "notifications"),
        ("shortfallInvoice { id }", "shortfallInvoice"),
        ("... on Campaign { cancellationRequest { id } }", "cancellationRequest"),
    ],
)
async def test_the_ad_server_selecting_what_it_may_not_read_is_refused_before_spend_is_applied(
    api, users, sessions, read: str, selection: str
) -> None:
    # given a campaign one report away from its budget
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    events = {"events": [spend_event("stop-it", campaign_id, "100.00")]}

    # when the ad server reports it and asks for something about the campaign it may not read
    refused = await api.post(SPEND % read, events, shop.adserver.token)

    # then the request is refused naming that field, and nothing was applied
    assert _refusal(refused) == ("FORBIDDEN", ["recordSpend", "stoppedCampaigns", selection])
    assert await _spent_events(sessions) == 0
    assert (await campaign(api, campaign_id, shop.token))["spent"]["amount"] == "0.00"

    # and its retry, with the same event, gets the whole answer (not only `duplicates`)
    retried = (await api.data(SPEND % "", events, shop.adserver.token))["recordSpend"]
    assert (retried["accepted"], retried["duplicates"]) == (1, 0)
    assert retried["stoppedCampaigns"] == [{"id": campaign_id, "status": "BUDGET_EXHAUSTED"}]


async def test_the_refusal_is_a_400_without_data_for_the_spec_media_type(api, users) -> None:
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    body = {
        "query": SPEND % "adAccount { name }",
        "variables": {"events": [spend_event("e1", campaign_id, "1.00")]},
    }
    headers = {
        "Authorization": f"Bearer {shop.adserver.token}",
        "Accept": "application/graphql-response+json",
    }

    response = await api.client.post("/graphql", json=body, headers=headers)

    assert response.status_code == 400
    assert list(response.json()) == ["errors"]
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_no_mutation_of_a_refused_document_runs_not_even_an_earlier_one(
    api, users, sessions
) -> None:
    # given two campaigns
    shop = await open_shop(api, users, cash="200.00")
    first, second = [await new_campaign(api, shop.account, shop.token, "100.00") for _ in "ab"]
    await launch(api, first, shop.token)
    await launch(api, second, shop.token)
    document = """mutation($a: [SpendEventInput!]!, $b: [SpendEventInput!]!) {
      a: recordSpend(input: {events: $a}) { ... on RecordSpendSuccess { accepted } }
      b: recordSpend(input: {events: $b}) {
        ... on RecordSpendSuccess { stoppedCampaigns { ...Leads } }
      }
    }
    fragment Leads on Campaign { adAccount { name } }"""
    variables = {
        "a": [spend_event("a1", first, "10.00")],
        "b": [spend_event("b1", second, "100.00")],
    }

    # when one document reports to both, the second asking what the ad server may not read
    refused = await api.post(document, variables, shop.adserver.token)

    # then neither ran (the first would otherwise have committed, its answer lost too)
    assert _refusal(refused) == ("FORBIDDEN", ["b", "stoppedCampaigns", "adAccount"])
    assert await _spent_events(sessions) == 0


async def test_a_field_skipped_by_a_directive_is_not_refused(api, users) -> None:
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    document = SPEND.replace("$events: [SpendEventInput!]!", "$events: [SpendEventInput!]!, $no: Boolean!")  # fmt: skip
    variables = {"events": [spend_event("e1", campaign_id, "100.00")], "no": False}

    answer = await api.data(
        document % "adAccount @include(if: $no) { name }", variables, shop.adserver.token
    )

    assert answer["recordSpend"]["stoppedCampaigns"] == [
        {"id": campaign_id, "status": "BUDGET_EXHAUSTED"}
    ]


async def test_staff_recording_spend_read_everything_they_select(api, users) -> None:
    shop = await open_shop(api, users, cash="100.00")
    staff = await users.create("staff", staff=True)
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    events = {"events": [spend_event("e1", campaign_id, "100.00")]}

    answer = await api.data(SPEND % READ_MONEY_OF_CAMPAIGN, events, staff.token)

    [stopped] = answer["recordSpend"]["stoppedCampaigns"]
    assert stopped["adAccount"]["wallet"]["balance"]["cash"] == {"amount": "0.00"}


# Members: what their role reads in the business center the mutation acts on -----------


async def test_a_standard_member_launching_and_selecting_the_balance_is_refused_first(
    api, users
) -> None:
    # given a STANDARD member and a draft campaign of 100.00 on an account holding 100.00
    shop = await open_shop(api, users, cash="100.00")
    member = await users.create("standard")
    await add_member(api, shop.center, member, "STANDARD")
    campaign_id = await new_campaign(api, shop.account, member.token, "100.00")
    variables = {"id": campaign_id, "key": "launch-1"}

    # when the member launches it and asks for the account's balance, which it may not read
    refused = await api.post(LAUNCH % READ_MONEY_OF_CAMPAIGN, variables, member.token)

    # then nothing ran: still a draft, the money still in the wallet
    selection = ["launchCampaign", "campaign", "adAccount", "wallet", "balance"]
    assert _refusal(refused) == ("FORBIDDEN", selection)
    assert (await campaign(api, campaign_id, shop.token))["status"] == "DRAFT"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "100.00"

    # and the same launch, same key, asking for what it may read, launches it once
    launched = await api.data(LAUNCH % "adAccount { name budget { mode } }", variables, member.token)  # fmt: skip
    again = await api.data(LAUNCH % "", variables, member.token)
    assert launched["launchCampaign"]["campaign"]["status"] == "ACTIVE"
    assert again["launchCampaign"]["campaign"]["status"] == "ACTIVE"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "0.00"


@pytest.mark.parametrize("role", ["ADMIN", "FINANCE_MANAGER"])
async def test_roles_that_read_money_get_the_balance_in_the_answer(api, users, role: str) -> None:
    shop = await open_shop(api, users, cash="100.00")
    member = await users.create(role.lower())
    await add_member(api, shop.center, member, role)
    campaign_id = await new_campaign(api, shop.account, member.token, "100.00")

    answer = await api.data(
        LAUNCH % f"{READ_MONEY_OF_CAMPAIGN} adAccount {{ availableToSpend {{ amount }} }}",
        {"id": campaign_id},
        member.token,
    )

    launched = answer["launchCampaign"]["campaign"]
    assert launched["status"] == "ACTIVE"
    assert launched["adAccount"]["wallet"]["balance"]["cash"] == {"amount": "0.00"}


async def test_a_standard_member_of_another_center_gets_not_found_as_for_no_campaign(
    api, users
) -> None:
    # given a STANDARD member of one center, and another center's campaign
    shop = await open_shop(api, users, cash="100.00")
    member = await users.create("standard")
    await add_member(api, shop.center, member, "STANDARD")
    other = await open_shop(api, users, cash="100.00")
    foreign = await new_campaign(api, other.account, other.token, "100.00")
    unknown = "Q2FtcGFpZ246OTk5OTk5OQ=="  # Campaign:9999999

    # when it launches either, asking for the balance
    answers = [
        await api.data(LAUNCH % READ_MONEY_OF_CAMPAIGN, {"id": campaign_id}, member.token)
        for campaign_id in (foreign, unknown)
    ]

    # then both answer NOT_FOUND: a FORBIDDEN would tell the foreign id exists
    assert [a["launchCampaign"]["code"] for a in answers] == ["NOT_FOUND", "NOT_FOUND"]
    assert (await campaign(api, foreign, other.token))["status"] == "DRAFT"


async def test_a_standard_member_changing_a_budget_may_not_select_available_to_spend(
    api, users
) -> None:
    shop = await open_shop(api, users, cash="300.00")
    member = await users.create("standard")
    await add_member(api, shop.center, member, "STANDARD")
    campaign_id = await new_campaign(api, shop.account, member.token, "100.00")
    await launch(api, campaign_id, member.token)
    document = """mutation($id: ID!) {
      updateCampaignBudget(input: {campaignId: $id, budget: {amount: "150.00", currencyCode: USD}}) {
        ... on UpdateCampaignBudgetSuccess { charged { amount } campaign { adAccount { availableToSpend { amount } } } }
      }
    }"""  # fmt: skip

    refused = await api.post(document, {"id": campaign_id}, member.token)

    selection = ["updateCampaignBudget", "campaign", "adAccount", "availableToSpend"]
    assert _refusal(refused) == ("FORBIDDEN", selection)
    assert (await campaign(api, campaign_id, shop.token))["budget"]["amount"] == "100.00"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "200.00"


async def test_a_standard_member_moving_money_and_selecting_the_balance_is_refused_by_the_move(
    api, users, statements
) -> None:
    # given a STANDARD member, and 100.00 in the center's wallet
    shop = await open_shop(api, users, cash="100.00")
    member = await users.create("standard")
    await add_member(api, shop.center, member, "STANDARD")
    document = """mutation($from: ID!, $to: ID!) {
      transferBalance(input: {fromWalletId: $from, toWalletId: $to, amount: {amount: "1.00", currencyCode: USD}}) {
        ... on TransferBalanceSuccess { from { balance { cash { amount } } } }
        ... on UserError { code }
      }
    }"""  # fmt: skip
    wallets = {"from": shop.center.wallet_id, "to": shop.account.wallet_id}
    statements.statements.clear()

    # when it transfers (which its role may not do) and asks for a balance (not its to read)
    answer = await api.data(document, wallets, member.token)

    # then the transfer itself refuses it (whoever may move money may read the balance, so
    # no roles were asked before it ran), and nothing moved
    assert answer == {"transferBalance": {"code": "FORBIDDEN"}}
    assert not [sql for sql in statements.statements if "c.center_id, m.role" in sql]
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "100.00"


async def test_a_finance_manager_moving_money_gets_the_balances_it_selected(api, users) -> None:
    # given a FINANCE_MANAGER of a center whose wallet holds 100.00
    shop = await open_shop(api, users, cash="100.00")
    member = await users.create("finance")
    await add_member(api, shop.center, member, "FINANCE_MANAGER")
    document = """mutation($from: ID!, $to: ID!) {
      transferBalance(input: {fromWalletId: $from, toWalletId: $to, amount: {amount: "1.00", currencyCode: USD}}) {
        ... on TransferBalanceSuccess { from { balance { cash { amount } } } to { balance { cash { amount } } } }
        ... on UserError { code }
      }
    }"""  # fmt: skip
    wallets = {"from": shop.account.wallet_id, "to": shop.center.wallet_id}

    # when it moves 1.00 and asks both balances
    answer = (await api.data(document, wallets, member.token))["transferBalance"]

    # then it reads both, as the move left them
    assert answer == {
        "from": {"balance": {"cash": {"amount": "99.00"}}},
        "to": {"balance": {"cash": {"amount": "1.00"}}},
    }


async def test_the_centers_of_every_type_an_input_names_and_the_roles_in_them_take_one_statement(
    api, users, sessions, statements
) -> None:
    shop = await open_shop(api, users, cash="100.00")
    other = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, other.account, other.token, "100.00")
    named = {
        "Wallet": {db_id_of(shop.account.wallet_id, "Wallet")},
        "AdAccount": {db_id_of(shop.account.id, "AdAccount")},
        "Campaign": {db_id_of(campaign_id, "Campaign"), 9_999_999},
        "TopUp": {1},  # not a type any mutation input names: ignored
    }

    async with sessions() as session:
        admin = await user_by_email(session, shop.admin.email)
        assert admin is not None
        before = statements.count
        found = await roles_in_centers_of(session, admin.id, named)
        used = statements.count - before

    # then both centers are found, with the caller's role in its own and none in the other's
    centers = {db_id_of(shop.center.id, "BusinessCenter"): "ADMIN", db_id_of(other.center.id, "BusinessCenter"): None}  # fmt: skip
    assert (found, used) == (centers, 1)


async def test_a_fan_out_of_fragments_in_a_mutation_is_refused_before_anything_is_walked(
    api, users, sessions
) -> None:
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    levels = 12  # 2^12 selections once expanded, over the 2,000 limit
    fragments = " ".join(
        f"fragment F{i} on Campaign {{ id ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    document = (
        SPEND.replace("stoppedCampaigns { id status %s }", "stoppedCampaigns { ...F0 }")
        + f" {fragments} fragment F{levels} on Campaign {{ adAccount {{ name }} }}"
    )

    refused = await api.post(
        document, {"events": [spend_event("e1", campaign_id, "1.00")]}, shop.adserver.token
    )

    assert refused["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert await _spent_events(sessions) == 0


@pytest.mark.parametrize("page", ["first: -1", 'after: "not-a-cursor"'])
async def test_page_arguments_the_answer_would_refuse_refuse_the_mutation_first(
    api, users, page: str
) -> None:
    # given an admin's draft campaign
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")

    # when it launches it, asking for its invoices with a page argument they refuse
    refused = await api.post(
        LAUNCH % f"invoices({page}) {{ edges {{ node {{ id }} }} }}",
        {"id": campaign_id},
        shop.token,
    )

    # then nothing ran (the launch used to commit, and the answer came back null)
    [error] = refused["errors"]
    assert refused["data"] is None and "path" not in error
    assert error["extensions"] == {
        "code": "INVALID_INPUT",
        "selection": ["launchCampaign", "campaign", "invoices"],
    }
    assert (await campaign(api, campaign_id, shop.token))["status"] == "DRAFT"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "100.00"


async def test_a_mutation_over_a_websocket_is_refused_the_same_way(
    api, users, sessions, live_url
) -> None:
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    payload = {
        "query": SPEND % "adAccount { name }",
        "variables": {"events": [spend_event("ws1", campaign_id, "100.00")]},
    }

    async with connect(f"ws://{live_url}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        init = {"Authorization": f"Bearer {shop.adserver.token}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))

    assert (message["type"], message["payload"]["data"]) == ("next", None)
    [error] = message["payload"]["errors"]
    assert error["extensions"]["selection"] == ["recordSpend", "stoppedCampaigns", "adAccount"]
    assert await _spent_events(sessions) == 0
