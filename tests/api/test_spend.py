"""recordSpend, the ad server's delivery reports, and the bad input every campaign mutation
refuses with a typed error and no change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import text

from adledger import clock
from tests.api.campaign_fixtures import move_flight, open_shop
from tests.helpers import (
    UPDATE_BUDGET,
    balance,
    campaign,
    campaign_action,
    create_account,
    create_campaign,
    create_center,
    launch,
    new_campaign,
    record_spend,
    spend_event,
    update_budget,
)


async def test_spend_moves_the_reserve_to_revenue_once_per_event(api, users) -> None:
    shop = await open_shop(api, users, cash="500.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "500.00")
    await launch(api, campaign_id, shop.token)
    events = [spend_event("e1", campaign_id, "10.00"), spend_event("e2", campaign_id, "5.50")]

    first = await record_spend(api, events, shop.adserver.token)
    replay = await record_spend(api, [*events, spend_event("e3", campaign_id, "1.00")], shop.adserver.token)  # fmt: skip

    assert (first["accepted"], first["duplicates"], first["refused"]) == (2, 0, [])
    assert (replay["accepted"], replay["duplicates"]) == (1, 2)
    assert (await campaign(api, campaign_id, shop.token))["spent"]["amount"] == "16.50"


async def test_spend_reaching_the_budget_stops_the_campaign_and_reports_the_excess(
    api, users
) -> None:
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)

    result = await record_spend(
        api,
        [spend_event("a", campaign_id, "70.00"), spend_event("b", campaign_id, "45.00"),
         spend_event("c", campaign_id, "1.00")],
        shop.adserver.token,
    )  # fmt: skip

    assert result["accepted"] == 2
    assert result["stoppedCampaigns"] == [{"id": campaign_id, "status": "BUDGET_EXHAUSTED"}]
    assert result["refused"] == [
        {"eventId": "b", "amount": {"amount": "15.00", "currencyCode": "USD"}, "reason": "OVER_BUDGET"},
        {"eventId": "c", "amount": {"amount": "1.00", "currencyCode": "USD"}, "reason": "OVER_BUDGET"},
    ]  # fmt: skip
    assert (await campaign(api, campaign_id, shop.token))["spent"]["amount"] == "100.00"


async def test_late_reports_are_taken_until_the_window_closes(api, users, sessions) -> None:
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    ended = clock.now() - timedelta(hours=2)
    await move_flight(sessions, campaign_id, ended - timedelta(days=2), ended)
    during = (ended - timedelta(hours=1)).isoformat()

    late = await record_spend(api, [spend_event("l1", campaign_id, "5.00", occurred_at=during)], shop.adserver.token)  # fmt: skip
    after = await record_spend(api, [spend_event("l2", campaign_id, "5.00")], shop.adserver.token)  # fmt: skip
    ended = clock.now() - timedelta(hours=13)
    await move_flight(sessions, campaign_id, ended - timedelta(days=2), ended)
    closed = await record_spend(api, [spend_event("l3", campaign_id, "5.00", occurred_at=ended.isoformat())], shop.adserver.token)  # fmt: skip

    assert (late["accepted"], late["refused"]) == (1, [])
    assert after["refused"][0]["reason"] == "OUTSIDE_FLIGHT"  # now is after endsAt
    assert closed["refused"][0]["reason"] == "SETTLEMENT_WINDOW_CLOSED"
    assert (await campaign(api, campaign_id, shop.token))["spent"]["amount"] == "5.00"


async def test_spend_for_a_paused_or_pending_campaign_is_refused_as_not_delivering(
    api, users
) -> None:
    shop = await open_shop(api, users, cash="100.00")
    paused = await new_campaign(api, shop.account, shop.token, "100.00")
    pending = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, paused, shop.token)
    await launch(api, pending, shop.token)
    await campaign_action(api, "pauseCampaign", paused, shop.token)

    result = await record_spend(
        api, [spend_event("p1", paused, "1.00"), spend_event("p2", pending, "1.00")],
        shop.adserver.token,
    )  # fmt: skip

    assert result["accepted"] == 0
    assert {r["reason"] for r in result["refused"]} == {"CAMPAIGN_NOT_DELIVERING"}


async def test_a_batch_with_one_bad_event_is_refused_whole(api, users, sessions) -> None:
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    good = spend_event("g1", campaign_id, "1.00")
    unknown = "Q2FtcGFpZ246OTk5OTk="  # Campaign:99999

    cases = {
        "wrong currency": ([good, spend_event("x", campaign_id, "1.00", "EUR")], "CURRENCY_MISMATCH", ["input", "events", "1", "amount", "currencyCode"]),
        "negative": ([good, spend_event("x", campaign_id, "-1.00")], "INVALID_INPUT", ["input", "events", "1", "amount", "amount"]),
        "zero": ([good, spend_event("x", campaign_id, "0.00")], "INVALID_INPUT", ["input", "events", "1", "amount", "amount"]),
        "over-precise": ([good, spend_event("x", campaign_id, "1.001")], "INVALID_INPUT", ["input", "events", "1", "amount", "amount"]),
        "unknown campaign": ([good, spend_event("x", unknown, "1.00")], "NOT_FOUND", ["input", "events", "1", "campaignId"]),
        "empty": ([], "INVALID_INPUT", ["input", "events"]),
        "oversized": ([spend_event(f"o{i}", campaign_id, "0.01") for i in range(1001)], "INVALID_INPUT", ["input", "events"]),
    }  # fmt: skip
    for name, (events, code, field) in cases.items():
        result = await record_spend(api, events, shop.adserver.token)
        assert (result["code"], result["field"]) == (code, field), name

    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM spend_events")) == 0
    assert (await campaign(api, campaign_id, shop.token))["spent"]["amount"] == "0.00"


async def test_only_the_ad_server_and_staff_record_spend(api, users) -> None:
    shop = await open_shop(api, users, cash="100.00")
    staff = await users.create("staff", staff=True)
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)

    by_owner = await record_spend(api, [spend_event("f1", campaign_id, "1.00")], shop.token)
    by_staff = await record_spend(api, [spend_event("f2", campaign_id, "1.00")], staff.token)

    assert by_owner["code"] == "FORBIDDEN"
    assert by_staff["accepted"] == 1


async def test_an_integration_token_moves_no_customer_money_otherwise(api, users) -> None:
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    token = shop.adserver.token

    # launch and cancel answers that read nothing guarded: refused before any id is read
    launched = await api.data(CAMPAIGN_ONLY % "launchCampaign", {"c": campaign_id}, token)
    canceled = await api.data(CAMPAIGN_ONLY % "cancelCampaign", {"c": campaign_id}, token)
    reduced = await api.post(UPDATE_BUDGET, _budget(campaign_id, "60.00"), token)
    center = """mutation { createBusinessCenter(input: {name: "Mine", currencyCode: USD}) {
        __typename ... on UserError { code } } }"""
    founded = (await api.data(center, {}, token))["createBusinessCenter"]

    assert launched["launchCampaign"]["code"] == "FORBIDDEN"
    assert canceled["cancelCampaign"]["code"] == "FORBIDDEN"
    # an answer selecting the campaign's shortfallInvoice is refused before anything runs
    assert reduced["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert founded["code"] == "FORBIDDEN"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "100.00"


CAMPAIGN_ONLY = """mutation($c: ID!) { %s(input: {campaignId: $c}) {
    __typename ... on UserError { code } } }"""


def _budget(campaign_id: str, amount: str) -> dict[str, Any]:
    return {
        "input": {"campaignId": campaign_id, "budget": {"amount": amount, "currencyCode": "USD"}}
    }


async def test_the_ad_server_sees_the_campaigns_it_stopped_but_not_what_they_lead_to(
    api, users
) -> None:
    # given three campaigns, each 100.00 from exhausting its budget
    shop = await open_shop(api, users, cash="300.00")
    campaign_ids = [await new_campaign(api, shop.account, shop.token, "100.00") for _ in "abc"]
    for campaign_id in campaign_ids:
        await launch(api, campaign_id, shop.token)
    reads = [
        "invoices { edges { node { amountDue { amount } hostedUrl } } }",
        "shortfallInvoice { amountDue { amount } }",
        "adAccount { name }",
    ]

    # when each report stops one, and asks what the stopped campaign leads to
    answers = [
        await api.post(
            STOPPED_AND % read,
            {"events": [spend_event(f"e{n}", campaign_id, "100.00")]},
            shop.adserver.token,
        )
        for n, (campaign_id, read) in enumerate(zip(campaign_ids, reads, strict=True))
    ]

    # then those reads are refused before anything ran (issue 23: the spend was applied
    # and the answer lost), and the same reports without them are applied and answered
    assert [a["errors"][0]["extensions"]["code"] for a in answers] == ["FORBIDDEN"] * 3
    assert [a["data"] for a in answers] == [None] * 3
    for n, campaign_id in enumerate(campaign_ids):
        found = await campaign(api, campaign_id, shop.token)
        assert (found["status"], found["spent"]["amount"]) == ("ACTIVE", "0.00")
        retry = await api.data(
            STOPPED_AND % "", {"events": [spend_event(f"e{n}", campaign_id, "100.00")]},
            shop.adserver.token,
        )  # fmt: skip
        assert retry["recordSpend"]["stoppedCampaigns"] == [
            {"id": campaign_id, "status": "BUDGET_EXHAUSTED"}
        ]


STOPPED_AND = """
mutation($events: [SpendEventInput!]!) {
  recordSpend(input: {events: $events}) {
    ... on RecordSpendSuccess { stoppedCampaigns { id status %s } }
  }
}"""


async def test_campaign_mutations_refuse_bad_input_and_change_nothing(api, users, jobs) -> None:
    shop = await open_shop(api, users, cash="300.00")
    other = await open_shop(api, users, cash="300.00")
    foreign = await new_campaign(api, other.account, other.token, "100.00")
    bad_dates = await create_campaign(api, shop.account, shop.token, "100.00", days=-1)
    too_small = await create_campaign(api, shop.account, shop.token, "49.99")
    wrong_money = await create_campaign(api, shop.account, shop.token, "100.00", currency="EUR")
    too_long = await create_campaign(api, shop.account, shop.token, "100.00", days=366)
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)

    twice = await launch(api, campaign_id, shop.token)
    not_mine = await launch(api, foreign, shop.token)
    await campaign_action(api, "cancelCampaign", campaign_id, shop.token)
    on_canceled = await update_budget(api, campaign_id, shop.token, "200.00")
    resume_canceled = await campaign_action(api, "resumeCampaign", campaign_id, shop.token)

    assert (bad_dates["code"], bad_dates["field"]) == ("INVALID_INPUT", ["input", "endsAt"])
    assert too_small["__typename"] == "BudgetBelowMinimumError"
    assert too_small["minimum"] == {"amount": "50.00", "currencyCode": "USD"}
    assert (wrong_money["code"], wrong_money["expected"]) == ("CURRENCY_MISMATCH", "USD")
    assert too_long["field"] == ["input", "endsAt"]
    assert twice["code"] == "INVALID_STATE" and "SCHEDULED" not in twice["message"]
    assert "ACTIVE" in twice["message"]
    assert not_mine["code"] == "NOT_FOUND"
    assert on_canceled["code"] == "INVALID_STATE" and "CANCELED" in on_canceled["message"]
    assert resume_canceled["code"] == "INVALID_STATE"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "300.00"


async def test_launch_needs_an_active_subscription(api, users) -> None:
    admin = await users.create("admin")
    center = await create_center(api, admin)
    account = await create_account(api, center)
    await users.fund(account.wallet_id, "100.00")
    campaign_id = await new_campaign(api, account, admin.token, "100.00")

    result = await launch(api, campaign_id, admin.token)

    assert result["code"] == "SUBSCRIPTION_REQUIRED"
    assert (await campaign(api, campaign_id, admin.token))["status"] == "DRAFT"
