"""Partner events (issue 26): each money change appends its event in its own transaction,
numbered per center without gaps once committed, read through BusinessCenter.events and
node(id:) by the finance roles only."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from adledger import clock
from adledger.domain.errors import InvalidState
from adledger.domain.months import month_of
from adledger.jobs.campaigns import complete_campaigns_job
from adledger.jobs.events import prune_events_job
from adledger.jobs.outbox import run_outbox_job
from adledger.schema.ids import from_cursor, to_global_id
from adledger.services import outbox
from adledger.store import partitions
from adledger.store.models import Event, OutboxEffect
from tests.api.campaign_fixtures import move_flight, open_shop
from tests.api.event_scenarios import FEED
from tests.helpers import (
    add_member,
    campaign_action,
    create_center,
    launch,
    new_campaign,
    record_spend,
    spend_event,
    subscribe,
    top_up,
)

NODE = """query($id: ID!) { node(id: $id) { id ... on Event { type sequence data } } }"""


async def _feed(api, center, token=None, **args: Any) -> dict[str, Any]:
    variables = {"id": center.id, **args}
    data = await api.data(FEED, variables, token or center.admin.token)
    return data["businessCenter"]["events"]


async def _events(api, center, token=None, **args: Any) -> list[dict[str, Any]]:
    """Every event of the feed (one page of 100), with its data parsed."""
    edges = (await _feed(api, center, token, first=100, **args))["edges"]
    return [{**e["node"], "data": json.loads(e["node"]["data"])} for e in edges]


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


@pytest.fixture
async def center(api, users):
    """A center on the PRO plan paid from a 399.00 balance: 200.00 left."""
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, "399.00")
    assert (await subscribe(api, center))["__typename"] == "SubscribeToPlanSuccess"
    return center


# -- top-ups and invoices --------------------------------------------------------------


async def test_a_paid_top_up_is_told_as_its_invoice_opened_paid_and_the_top_up_paid(
    api, center, webhooks
) -> None:
    # given the plan's invoice, opened and paid from the balance when the center subscribed
    before = await _events(api, center)
    assert _types(before) == ["invoice.opened", "invoice.paid"]
    # when the admin tops up 100.00 and the customer pays
    made = await top_up(api, center.wallet_id, center.admin.token, amount="100.00")
    reference = made["topUp"]["invoice"]["paymentReference"]
    await webhooks.pay(reference)
    # then the feed tells the top-up's invoice opened, paid, and the top-up paid, in order
    events = await _events(api, center)
    assert _types(events) == [
        "invoice.opened",
        "invoice.paid",
        "invoice.opened",
        "invoice.paid",
        "top_up.paid",
    ]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5]
    opened, paid, top_up_paid = events[2:]
    assert opened["data"]["id"] == made["topUp"]["invoice"]["id"]
    assert (opened["data"]["kind"], opened["data"]["status"]) == ("TOP_UP", "OPEN")
    assert opened["data"]["amountDue"] == {"amount": "100.00", "currencyCode": "USD"}
    assert (paid["data"]["status"], paid["data"]["paymentReference"]) == ("PAID", reference)
    assert top_up_paid["data"] == {
        "id": made["topUp"]["id"],
        "status": "PAID",
        "targetBalance": None,
        "amount": {"amount": "100.00", "currencyCode": "USD"},
        "createdAt": top_up_paid["data"]["createdAt"],
        "paidAt": top_up_paid["data"]["paidAt"],
        "wallet": {"id": center.wallet_id},
        "invoice": {"id": made["topUp"]["invoice"]["id"]},
    }
    assert top_up_paid["businessCenter"] == {"id": center.id}


async def test_a_failed_payment_is_told_for_the_invoice_and_the_top_up(
    api, center, webhooks
) -> None:
    made = await top_up(api, center.wallet_id, center.admin.token, amount="100.00")
    reference = made["topUp"]["invoice"]["paymentReference"]

    await webhooks.pay(reference, "failed")

    events = await _events(api, center, types=["invoice.payment_failed", "top_up.failed"])
    assert _types(events) == ["invoice.payment_failed", "top_up.failed"]
    assert events[0]["data"]["status"] == "OPEN"
    assert (events[1]["data"]["id"], events[1]["data"]["status"]) == (made["topUp"]["id"], "FAILED")


async def test_a_voided_invoice_is_told(api, center, webhooks) -> None:
    made = await top_up(api, center.wallet_id, center.admin.token, amount="100.00")
    reference = made["topUp"]["invoice"]["paymentReference"]

    await webhooks.sandbox.void_invoice(reference, "test:void")
    await webhooks.send(reference, "invoice.voided")

    events = await _events(api, center, types=["invoice.voided"])
    assert [(e["data"]["id"], e["data"]["status"]) for e in events] == [
        (made["topUp"]["invoice"]["id"], "VOID")
    ]


# -- campaigns and spend ---------------------------------------------------------------


async def test_a_campaigns_life_is_told_status_by_status(api, users, jobs) -> None:
    # given a shop with a campaign of 100.00 paid from its account's balance
    shop = await open_shop(api, users, cash="300.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    # when it is launched, paused, resumed, spent in full, and another is canceled
    await launch(api, campaign_id, shop.token)
    await campaign_action(api, "pauseCampaign", campaign_id, shop.token)
    await campaign_action(api, "resumeCampaign", campaign_id, shop.token)
    await record_spend(api, [spend_event("s1", campaign_id, "100.00")], shop.adserver.token)
    other = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, other, shop.token)
    await campaign_action(api, "cancelCampaign", other, shop.token)
    # then each change is an event of its campaign, with its snapshot as the API shows it
    events = await _events(api, shop.center, types=[*_CAMPAIGN_TYPES, "spend.applied"])
    told = [(e["type"], e["data"].get("id") or e["data"]["campaign"]["id"]) for e in events]
    assert told == [
        ("campaign.launched", campaign_id),
        ("campaign.activated", campaign_id),
        ("campaign.paused", campaign_id),
        ("campaign.resumed", campaign_id),
        ("campaign.stopped", campaign_id),
        ("spend.applied", campaign_id),
        ("campaign.launched", other),
        ("campaign.activated", other),
        ("campaign.canceled", other),
    ]
    stopped = events[4]["data"]
    assert (stopped["status"], stopped["stopReasonCode"], stopped["stopReason"]) == (
        "BUDGET_EXHAUSTED",
        "CAMPAIGN_BUDGET_REACHED",
        "campaign budget reached",
    )
    assert stopped["spent"] == {"amount": "100.00", "currencyCode": "USD"}
    assert events[2]["data"]["status"] == "PAUSED"
    canceled = events[8]["data"]
    assert (canceled["status"], canceled["credited"]) == (
        "CANCELED",
        {"amount": "100.00", "currencyCode": "USD"},
    )


_CAMPAIGN_TYPES = [
    "campaign.launched",
    "campaign.activated",
    "campaign.paused",
    "campaign.resumed",
    "campaign.stopped",
    "campaign.completed",
    "campaign.canceled",
    "campaign.rejected",
]


async def test_a_rejected_and_a_completed_campaign_are_told(api, users, jobs, sessions) -> None:
    shop = await open_shop(api, users, cash="300.00")
    staff = await users.create("staff", staff=True)
    rejected = await new_campaign(api, shop.account, shop.token, "100.00")
    completed = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, rejected, shop.token)
    await launch(api, completed, shop.token)
    # when staff reject one, and the other's flight ends and complete-campaigns runs
    await campaign_action(api, "rejectCampaign", rejected, staff.token, "creative")
    ended = clock.now() - timedelta(minutes=1)
    await move_flight(sessions, completed, ended - timedelta(days=2), ended)
    await complete_campaigns_job(jobs, clock.now())
    # then
    events = await _events(api, shop.center, types=["campaign.rejected", "campaign.completed"])
    assert [(e["type"], e["data"]["id"], e["data"]["status"]) for e in events] == [
        ("campaign.rejected", rejected, "REJECTED"),
        ("campaign.completed", completed, "COMPLETED"),
    ]
    assert events[0]["data"]["rejectionReason"] == "creative"


async def test_a_spend_batch_is_one_event_per_campaign_with_its_totals(api, users) -> None:
    # given two campaigns of 100.00 and 50.00, delivering
    shop = await open_shop(api, users, cash="300.00")
    big = await new_campaign(api, shop.account, shop.token, "100.00")
    small = await new_campaign(api, shop.account, shop.token, "50.00")
    await launch(api, big, shop.token)
    await launch(api, small, shop.token)
    # when one batch reports three ad events of one and two of the other, past its budget
    batch = [
        spend_event("b1", big, "10.00"),
        spend_event("b2", big, "20.00"),
        spend_event("s1", small, "30.00"),
        spend_event("b3", big, "5.00"),
        spend_event("s2", small, "30.00"),
    ]
    await record_spend(api, batch, shop.adserver.token)
    # then the feed has one spend.applied per campaign, with the batch's totals
    events = await _events(api, shop.center, types=["spend.applied"])
    by_campaign = {e["data"]["campaign"]["id"]: e["data"] for e in events}
    assert len(events) == 2
    assert by_campaign[big] == {
        "campaign": {
            "id": big,
            "status": "ACTIVE",
            "budget": {"amount": "100.00", "currencyCode": "USD"},
            "spent": {"amount": "35.00", "currencyCode": "USD"},
            "impressions": 300,
        },
        "amountApplied": {"amount": "35.00", "currencyCode": "USD"},
        "amountRefused": {"amount": "0.00", "currencyCode": "USD"},
        "impressions": 300,
        "eventsCount": 3,
    }
    assert by_campaign[small]["amountApplied"] == {"amount": "50.00", "currencyCode": "USD"}
    assert by_campaign[small]["amountRefused"] == {"amount": "10.00", "currencyCode": "USD"}
    assert (by_campaign[small]["eventsCount"], by_campaign[small]["impressions"]) == (2, 200)
    assert by_campaign[small]["campaign"]["status"] == "BUDGET_EXHAUSTED"


async def test_a_spend_batch_writes_and_numbers_its_events_in_its_own_transaction(
    api, users, statements, sessions
) -> None:
    shop = await open_shop(api, users, cash="300.00")
    ids = [await new_campaign(api, shop.account, shop.token, "50.00") for _ in range(3)]
    for campaign_id in ids:
        await launch(api, campaign_id, shop.token)
    statements.statements.clear()

    await record_spend(
        api, [spend_event(f"e{i}", ids[i % 3], "1.00") for i in range(30)], shop.adserver.token
    )

    # one statement writes the events and locks their center's counter, one numbers them,
    # and no transaction of its own follows to number them (no outbox row, no BEGIN)
    inserts = [s for s in statements.statements if "INSERT INTO events" in s]
    numbering = [s for s in statements.statements if "UPDATE events e SET sequence" in s]
    declared = [s for s in statements.statements if "INSERT INTO outbox" in s]
    assert (len(inserts), len(numbering), len(declared)) == (1, 1, 0)
    async with sessions() as session:
        unnumbered = select(func.count()).where(Event.sequence.is_(None))
        assert await session.scalar(unnumbered.select_from(Event)) == 0


# -- never for a change that rolled back -----------------------------------------------


async def test_a_mutation_failing_after_its_change_leaves_no_event(
    api, users, sessions, monkeypatch
) -> None:
    # given a delivering campaign, and its save failing once the pause is made
    shop = await open_shop(api, users, cash="300.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    before = await _events(api, shop.center)

    async def failing_save(session, row) -> None:
        raise InvalidState("the save failed halfway")

    monkeypatch.setattr("adledger.services.campaigns.repo.save", failing_save)
    # when the pause is asked
    result = await campaign_action(api, "pauseCampaign", campaign_id, shop.token)
    # then it answers the error, and no event was written, nor anything left to number
    assert result["__typename"] == "InvalidStateError", result
    monkeypatch.undo()
    assert await _events(api, shop.center) == before
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == len(before)
        undone = select(func.count()).where(OutboxEffect.done_at.is_(None))
        assert await session.scalar(undone.select_from(OutboxEffect)) == 0


async def test_a_webhook_failing_after_its_change_leaves_no_event(
    api, center, webhooks, monkeypatch
) -> None:
    made = await top_up(api, center.wallet_id, center.admin.token, amount="100.00")
    reference = made["topUp"]["invoice"]["paymentReference"]
    before = await _events(api, center)

    async def failing(*_: Any) -> None:
        raise InvalidState("funding failed halfway")

    monkeypatch.setattr("adledger.services.top_ups.fund_waiting", failing)
    response = await webhooks.pay(reference)

    assert response.json()["outcome"] == "FAILED"
    assert await _events(api, center) == before


# -- numbering -------------------------------------------------------------------------


async def test_concurrent_payments_get_a_gapless_sequence(api, center, webhooks) -> None:
    # given 50 top-ups awaiting payment (each opened an invoice: 2 + 50 events)
    references = []
    for _ in range(50):
        made = await top_up(api, center.wallet_id, center.admin.token, amount="10.00")
        references.append(made["topUp"]["invoice"]["paymentReference"])
    # when their 50 payments arrive at once
    responses = await asyncio.gather(*(webhooks.pay(ref) for ref in references))
    # then each is told (invoice paid, top-up paid), numbered 1..N without gap or repeat
    assert {r.json()["outcome"] for r in responses} == {"PROCESSED"}
    events = []
    after = None
    while True:
        page = await _feed(api, center, first=100, after=after)
        events += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [e["sequence"] for e in events] == list(range(1, 2 + 50 + 100 + 1))
    assert _types(events).count("top_up.paid") == 50
    assert _types(events).count("invoice.paid") == 51
    assert len({e["id"] for e in events}) == len(events)


async def test_concurrent_spend_batches_get_a_gapless_sequence(api, users) -> None:
    shop = await open_shop(api, users, cash="1000.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "900.00")
    await launch(api, campaign_id, shop.token)
    before = len(await _events(api, shop.center))

    batches = [[spend_event(f"c{i}", campaign_id, "1.00")] for i in range(50)]
    await asyncio.gather(*(record_spend(api, b, shop.adserver.token) for b in batches))

    events = (await _feed(api, shop.center, first=100, after=_cursor(before)))["edges"]
    assert [e["node"]["sequence"] for e in events] == list(range(before + 1, before + 51))
    assert {e["node"]["type"] for e in events} == {"spend.applied"}


def _cursor(sequence: int) -> str:
    return to_global_id("cursor", sequence)


async def test_the_feed_pages_without_skip_or_repeat_while_events_arrive(
    api, center, webhooks
) -> None:
    # given a partner reading the feed 3 at a time while top-ups keep being made
    seen: list[int] = []
    after = None
    for round_ in range(8):
        if round_ < 5:
            await top_up(api, center.wallet_id, center.admin.token, amount="10.00")
        page = await _feed(api, center, first=3, after=after)
        seen += [e["node"]["sequence"] for e in page["edges"]]
        if page["edges"]:
            after = page["edges"][-1]["cursor"]
            assert from_cursor(after) == seen[-1]
    # then it read every event once, in order
    assert seen == list(range(1, 2 + 5 + 1))


async def test_a_reader_paging_while_payments_commit_reads_each_event_once(
    api, center, webhooks
) -> None:
    # given 20 top-ups awaiting payment (2 + 20 events so far)
    references = []
    for _ in range(20):
        made = await top_up(api, center.wallet_id, center.admin.token, amount="10.00")
        references.append(made["topUp"]["invoice"]["paymentReference"])
    seen: list[int] = []
    after = None

    async def read_a_page() -> int:
        nonlocal after
        page = await _feed(api, center, first=5, after=after)
        seen.extend(e["node"]["sequence"] for e in page["edges"])
        after = page["edges"][-1]["cursor"] if page["edges"] else after
        return len(page["edges"])

    # when a partner pages 5 at a time while the 20 payments arrive at once
    paying = asyncio.gather(*(webhooks.pay(ref) for ref in references))
    while not paying.done():
        await read_a_page()
        await asyncio.sleep(0.005)
    await paying
    while await read_a_page():
        pass
    # then it read every event (2 + 20 + 20 x 2) once, in order
    assert seen == list(range(1, 2 + 20 + 40 + 1))


async def test_an_event_not_numbered_yet_is_not_shown(api, center, sessions, jobs) -> None:
    # given an event committed while its sequencer has not run (a process killed)
    async with sessions() as session:
        await session.execute(
            text(
                "INSERT INTO events (business_center_id, type, api_version, subject_type, "
                "subject_id, data, created_at) VALUES (:c, 'test.ping', '2026-12-01', 'Test', "
                "1, '{}', :now)"
            ),
            {"c": _db_id(center.id), "now": clock.now()},
        )
        payload = {"business_center_id": _db_id(center.id)}
        await outbox.add(session, "events.sequence", payload, "event:999:sequence")
        await session.commit()
    # then the feed does not show it, until run-outbox numbers it
    assert _types(await _events(api, center)) == ["invoice.opened", "invoice.paid"]
    await run_outbox_job(jobs, clock.now() + outbox.GRACE)
    events = await _events(api, center)
    assert [(e["type"], e["sequence"]) for e in events][-1] == ("test.ping", 3)


def _db_id(global_id: str) -> int:
    from adledger.schema.ids import from_global_id

    parsed = from_global_id(global_id)
    assert parsed is not None
    return parsed[1]


# -- the feed's arguments --------------------------------------------------------------


async def test_an_unknown_type_is_refused_naming_it(api, center) -> None:
    body = await api.post(
        FEED, {"id": center.id, "types": ["invoice.paid", "invoice.exploded"]}, center.admin.token
    )

    assert body["data"] == {"businessCenter": None}
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert "invoice.exploded" in body["errors"][0]["message"]


async def test_a_filter_keeps_its_types_and_an_empty_one_keeps_every_type(api, center) -> None:
    assert _types(await _events(api, center, types=["invoice.paid"])) == ["invoice.paid"]
    assert _types(await _events(api, center, types=[])) == ["invoice.opened", "invoice.paid"]


async def test_a_page_holds_at_most_100_events(api, center, webhooks) -> None:
    for _ in range(51):
        await top_up(api, center.wallet_id, center.admin.token, amount="10.00")

    page = await _feed(api, center, first=500)

    assert (len(page["edges"]), page["pageInfo"]["hasNextPage"]) == (53, False)
    assert len((await _feed(api, center))["edges"]) == 50  # the default page


# -- who may read them -----------------------------------------------------------------


@pytest.mark.parametrize("role", ["ADMIN", "FINANCE_MANAGER", "FINANCE_ANALYST"])
async def test_the_finance_roles_read_the_feed_and_its_nodes(api, users, center, role) -> None:
    member = await users.create("member")
    await add_member(api, center, member, role)

    events = await _events(api, center, member.token)
    node = (await api.data(NODE, {"id": events[0]["id"]}, member.token))["node"]

    assert _types(events) == ["invoice.opened", "invoice.paid"]
    assert (node["type"], node["sequence"]) == ("invoice.opened", 1)


async def test_staff_read_any_centers_feed(api, users, center) -> None:
    staff = await users.create("staff", staff=True)

    assert _types(await _events(api, center, staff.token)) == ["invoice.opened", "invoice.paid"]


async def test_a_standard_member_may_not_read_the_feed_nor_an_event(api, users, center) -> None:
    member = await users.create("member")
    await add_member(api, center, member, "STANDARD")
    event_id = (await _events(api, center))[0]["id"]

    feed = await api.post(FEED, {"id": center.id}, member.token)
    node = await api.post(NODE, {"id": event_id}, member.token)

    assert feed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert feed["errors"][0]["path"] == ["businessCenter", "events"]
    assert node["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert node["data"] == {"node": None}


async def test_another_centers_member_sees_nothing(api, users, center) -> None:
    stranger = await users.create("stranger")
    await create_center(api, stranger, name="Other")
    event_id = (await _events(api, center))[0]["id"]

    feed = await api.data(FEED, {"id": center.id}, stranger.token)
    node = await api.data(NODE, {"id": event_id}, stranger.token)

    assert feed == {"businessCenter": None}
    assert node == {"node": None}


# -- retention -------------------------------------------------------------------------


async def test_prune_drops_only_months_entirely_older_than_the_retention(
    api, center, sessions
) -> None:
    # given events in partitions of January and February 2020
    async with sessions() as session:
        for month in (date(2020, 1, 1), date(2020, 2, 1)):
            assert await partitions.ensure_month(session, "events", month) == "created"
        for moment in (datetime(2020, 1, 20, tzinfo=UTC), datetime(2020, 2, 20, tzinfo=UTC)):
            await session.execute(
                text(
                    "INSERT INTO events (business_center_id, type, api_version, subject_type, "
                    "subject_id, data, created_at) VALUES (:c, 'test.ping', '2026-12-01', "
                    "'Test', 1, '{}', :at)"
                ),
                {"c": _db_id(center.id), "at": moment},
            )
        await session.commit()
    ctx = {"sessions": sessions, "event_retention_days": 30}
    # when the job runs on 2020-03-15 (the cutoff: 2020-02-14)
    first = await prune_events_job(ctx, datetime(2020, 3, 15, tzinfo=UTC))
    # then January went whole, February (younger events) stays
    assert (first.dropped, first.failed) == (["events_y2020m01"], [])
    async with sessions() as session:
        left = await partitions.partitions_of(session, "events")
    assert "events_y2020m02" in left and "events_y2020m01" not in left
    # and run now, it drops February, never this month nor the feed's events
    second = await prune_events_job(ctx, clock.now())
    assert second.dropped == ["events_y2020m02"]
    async with sessions() as session:
        left = await partitions.partitions_of(session, "events")
    assert partitions.partition_name("events", month_of(clock.now())) in left
    assert _types(await _events(api, center)) == ["invoice.opened", "invoice.paid"]
