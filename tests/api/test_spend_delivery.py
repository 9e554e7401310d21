"""Spend is billed only for the time a campaign delivered (issue 23): an event whose
occurredAt is in the future, outside the flight or in a moment the campaign did not
deliver (before its launch, while paused or stopped) is refused per event with its reason,
and an instant that cannot be represented is refused per event as INVALID_INPUT while the
rest of the batch is applied."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from adledger import clock
from adledger.jobs.campaigns import complete_campaigns_job
from tests.api.campaign_fixtures import move_flight, open_shop
from tests.api.installment_fixtures import card_campaign
from tests.helpers import (
    Api,
    campaign,
    campaign_action,
    launch,
    new_campaign,
    record_spend,
    spend_event,
    update_budget,
)

REFUSED_IN_FULL = """
mutation($input: RecordSpendInput!) {
  recordSpend(input: $input) {
    __typename
    ... on RecordSpendSuccess {
      accepted duplicates refused { eventId amount { amount } reason field message }
    }
    ... on UserError { code message field }
  }
}"""


def _at(moment: datetime) -> str:
    return moment.isoformat()


def _reasons(result: dict[str, Any]) -> dict[str, str]:
    return {r["eventId"]: r["reason"] for r in result["refused"]}


async def _spent(api: Api, campaign_id: str, token: str) -> str:
    return str((await campaign(api, campaign_id, token))["spent"]["amount"])


async def test_spend_before_the_flight_or_the_launch_is_refused(api, users) -> None:
    # given a campaign whose flight started a day ago, launched only now
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    launched = await launch(api, campaign_id, shop.token)
    starts = datetime.fromisoformat(launched["campaign"]["startsAt"])
    launched_at = datetime.fromisoformat(launched["campaign"]["launchedAt"])

    # when the ad server reports delivery before startsAt, in 1900, and between startsAt
    # and the launch, beside one event after the launch
    result = await record_spend(
        api,
        [
            spend_event("before-start", campaign_id, "1.00", occurred_at=_at(starts - timedelta(hours=1))),
            spend_event("in-1900", campaign_id, "2.00", occurred_at="1900-01-01T00:00:00+00:00"),
            spend_event("before-launch", campaign_id, "4.00", occurred_at=_at(launched_at - timedelta(hours=1))),
            spend_event("delivered", campaign_id, "8.00"),
        ],
        shop.adserver.token,
    )  # fmt: skip

    # then only the delivered one is billed; each other one is refused whole, with its reason
    assert result["accepted"] == 1
    assert _reasons(result) == {
        "before-start": "OUTSIDE_FLIGHT",
        "in-1900": "OUTSIDE_FLIGHT",
        "before-launch": "CAMPAIGN_NOT_DELIVERING",
    }
    assert [r["amount"]["amount"] for r in result["refused"]] == ["1.00", "2.00", "4.00"]
    assert await _spent(api, campaign_id, shop.token) == "8.00"


async def test_spend_in_the_future_is_refused_beyond_the_clock_skew_allowance(api, users) -> None:
    # given a delivering campaign
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    now = clock.now()

    # when events arrive dated two days ahead (inside the flight) and one minute ahead
    result = await record_spend(
        api,
        [
            spend_event("days-ahead", campaign_id, "3.00", occurred_at=_at(now + timedelta(days=2))),
            spend_event("skewed", campaign_id, "1.00", occurred_at=_at(now + timedelta(minutes=1))),
        ],
        shop.adserver.token,
    )  # fmt: skip

    # then the one two days ahead is refused, the one within the allowance (5 min) is billed
    assert (result["accepted"], _reasons(result)) == (1, {"days-ahead": "IN_THE_FUTURE"})
    assert await _spent(api, campaign_id, shop.token) == "1.00"


async def test_a_paused_moment_stays_unbilled_after_the_campaign_resumes(api, users) -> None:
    # given a campaign that delivered, was paused for a while, and resumed
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    before_pause = clock.now()
    await campaign_action(api, "pauseCampaign", campaign_id, shop.token)
    while_paused = clock.now()
    resumed = await campaign_action(api, "resumeCampaign", campaign_id, shop.token)
    assert resumed["__typename"] == "CampaignActionSuccess", resumed

    # when the ad server reports (late) for a moment before the pause, one while paused,
    # and one after the resume
    result = await record_spend(
        api,
        [
            spend_event("before-pause", campaign_id, "1.00", occurred_at=_at(before_pause)),
            spend_event("while-paused", campaign_id, "2.00", occurred_at=_at(while_paused)),
            spend_event("after-resume", campaign_id, "4.00"),
        ],
        shop.adserver.token,
    )  # fmt: skip

    # then the paused moment is refused; delivering time is billed
    assert (result["accepted"], _reasons(result)) == (2, {"while-paused": "CAMPAIGN_NOT_DELIVERING"})  # fmt: skip
    assert await _spent(api, campaign_id, shop.token) == "5.00"


async def test_a_paused_moment_stays_unbilled_after_the_campaign_completes(
    api, users, jobs
) -> None:
    # given a campaign paused a moment after its launch, and completed at endsAt paused
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    launched = await launch(api, campaign_id, shop.token)
    before_pause = clock.now()
    await campaign_action(api, "pauseCampaign", campaign_id, shop.token)
    while_paused = clock.now()
    ends = datetime.fromisoformat(launched["campaign"]["endsAt"])
    await complete_campaigns_job(jobs, ends + timedelta(minutes=1))
    assert (await campaign(api, campaign_id, shop.token))["status"] == "COMPLETED"

    # when late reports arrive for before the pause and for while it was paused
    result = await record_spend(
        api,
        [
            spend_event("before-pause", campaign_id, "1.00", occurred_at=_at(before_pause)),
            spend_event("while-paused", campaign_id, "2.00", occurred_at=_at(while_paused)),
        ],
        shop.adserver.token,
    )  # fmt: skip

    # then only the delivering moment is billed
    assert (result["accepted"], _reasons(result)) == (1, {"while-paused": "CAMPAIGN_NOT_DELIVERING"})  # fmt: skip
    assert await _spent(api, campaign_id, shop.token) == "1.00"


async def test_spend_after_a_budget_stop_is_not_delivering_until_the_budget_is_raised(
    api, users
) -> None:
    # given a campaign its own budget stopped, then raised and delivering again
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "50.00")
    await launch(api, campaign_id, shop.token)
    stopping = await record_spend(api, [spend_event("all", campaign_id, "50.00")], shop.adserver.token)  # fmt: skip
    assert stopping["stoppedCampaigns"] == [{"id": campaign_id, "status": "BUDGET_EXHAUSTED"}]
    while_stopped = clock.now()
    raised = await update_budget(api, campaign_id, shop.token, "80.00")
    assert raised["campaign"]["status"] == "ACTIVE", raised

    # when reports arrive for the stopped moment and for after the restart
    result = await record_spend(
        api,
        [
            spend_event("stopped", campaign_id, "1.00", occurred_at=_at(while_stopped)),
            spend_event("restarted", campaign_id, "2.00"),
        ],
        shop.adserver.token,
    )  # fmt: skip

    # then the stopped moment is refused, the restarted one billed
    assert (result["accepted"], _reasons(result)) == (1, {"stopped": "CAMPAIGN_NOT_DELIVERING"})
    assert await _spent(api, campaign_id, shop.token) == "52.00"


async def test_an_unrepresentable_instant_refuses_its_event_and_the_rest_is_applied(
    api, users, sessions
) -> None:
    # given a delivering campaign
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    events = [
        spend_event("good-1", campaign_id, "1.00"),
        spend_event("year-0", campaign_id, "2.00", occurred_at="0001-01-01T00:00:00+14:00"),
        spend_event("year-10000", campaign_id, "4.00", occurred_at="9999-12-31T23:00:00-14:00"),
        spend_event("no-offset", campaign_id, "8.00", occurred_at="2026-01-01T00:00:00"),
        spend_event("good-2", campaign_id, "16.00"),
    ]

    # when they arrive in one batch
    answer = await api.data(REFUSED_IN_FULL, {"input": {"events": events}}, shop.adserver.token)
    result = answer["recordSpend"]

    # then each bad instant is refused with INVALID_INPUT naming its event's field, and the
    # valid events are billed
    assert result["__typename"] == "RecordSpendSuccess", result
    assert result["accepted"] == 2
    assert [(r["eventId"], r["reason"], r["field"], r["amount"]["amount"]) for r in result["refused"]] == [
        ("year-0", "INVALID_INPUT", ["input", "events", "1", "occurredAt"], "2.00"),
        ("year-10000", "INVALID_INPUT", ["input", "events", "2", "occurredAt"], "4.00"),
        ("no-offset", "INVALID_INPUT", ["input", "events", "3", "occurredAt"], "8.00"),
    ]  # fmt: skip
    assert all("occurredAt" in r["message"] for r in result["refused"])
    assert await _spent(api, campaign_id, shop.token) == "17.00"
    # and the refused events are not recorded: their ids may come again with a valid instant
    async with sessions() as session:
        recorded = await session.scalars(text("SELECT event_id FROM spend_events ORDER BY 1"))
        assert list(recorded) == ["good-1", "good-2"]


async def test_event_ids_are_1_to_200_printable_characters(api, users, sessions) -> None:
    # given a delivering campaign
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    good = spend_event("good", campaign_id, "1.00")

    # when a batch holds an empty id, one of 201 characters, or one with a control character
    bad_ids = {"empty": "", "201": "x" * 201, "control": "ab\x07c", "newline": "a\nb"}
    answers = {
        name: await record_spend(
            api, [good, spend_event(event_id, campaign_id, "1.00")], shop.adserver.token
        )
        for name, event_id in bad_ids.items()
    }

    # then each batch is refused whole, naming the field, and nothing is applied
    for name, answer in answers.items():
        assert (answer["code"], answer["field"]) == ("INVALID_INPUT", ["input", "events", "1", "eventId"]), name  # fmt: skip
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM spend_events")) == 0
    assert await _spent(api, campaign_id, shop.token) == "0.00"
    # and 200 printable characters are an id
    longest = await record_spend(api, [spend_event("y" * 200, campaign_id, "1.00")], shop.adserver.token)  # fmt: skip
    assert longest["accepted"] == 1


async def test_late_reports_for_delivering_time_count_once_the_flight_moved(
    api, users, sessions
) -> None:
    """The fixture that moves a flight in time moves its delivering time with it."""
    # given a campaign launched now, whose flight is then moved two days back
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    now = clock.now()
    await move_flight(sessions, campaign_id, now - timedelta(days=3), now + timedelta(days=27))

    # when the ad server reports for a day ago (after the moved launch)
    result = await record_spend(
        api,
        [spend_event("a-day-ago", campaign_id, "1.00", occurred_at=_at(now - timedelta(days=1)))],
        shop.adserver.token,
    )

    # then it is delivering time
    assert (result["accepted"], result["refused"]) == (1, [])


async def test_a_campaign_waiting_for_funds_delivers_from_its_funding(api, users, webhooks) -> None:
    # given a campaign launched short of funds, and its shortfall invoice paid a moment later
    shop = await open_shop(api, users, cash="40.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    invoice = (await launch(api, campaign_id, shop.token))["shortfallInvoice"]
    waiting = clock.now()
    assert (await webhooks.pay(invoice["paymentReference"])).status_code == 200
    assert (await campaign(api, campaign_id, shop.token))["status"] == "ACTIVE"

    # when the ad server reports for while it waited, and for after its funding
    result = await record_spend(
        api,
        [
            spend_event("waiting", campaign_id, "1.00", occurred_at=_at(waiting)),
            spend_event("funded", campaign_id, "2.00"),
        ],
        shop.adserver.token,
    )

    # then only the time since the funding is delivering time
    assert (result["accepted"], _reasons(result)) == (1, {"waiting": "CAMPAIGN_NOT_DELIVERING"})
    assert await _spent(api, campaign_id, shop.token) == "2.00"


MAKEGOOD = """
mutation($input: OfferMakegoodInput!) { offerMakegood(input: $input) {
  ... on MakegoodSuccess { campaign { makegoodOffers { id } } } } }"""
ACCEPT = """
mutation($input: DecideMakegoodInput!) { acceptMakegood(input: $input) {
  ... on MakegoodSuccess { campaign { makegoodOffers { makegoodCampaign { id status } } } } } }"""


async def test_a_makegood_flights_reports_follow_its_delivering_time(api, users) -> None:
    # given a makegood flight starting in an hour, accepted now (so SCHEDULED)
    shop = await open_shop(api, users, cash="1000.00")
    campaign_id = await card_campaign(
        api, shop, plan="CREDIT_BALANCE", delivery="GUARANTEED", booked=100_000
    )
    await launch(api, campaign_id, shop.token)
    staff = await users.create("billing", staff=True)
    starts = clock.now() + timedelta(hours=1)
    dates = {"startsAt": _at(starts), "endsAt": _at(starts + timedelta(days=7))}
    offer = {"campaignId": campaign_id, "kind": "FLIGHT", **dates}
    offered = await api.data(MAKEGOOD, {"input": offer}, staff.token)
    [made] = offered["offerMakegood"]["campaign"]["makegoodOffers"]
    accepted = await api.data(ACCEPT, {"input": {"offerId": made["id"]}}, shop.token)
    flight = accepted["acceptMakegood"]["campaign"]["makegoodOffers"][0]["makegoodCampaign"]
    assert flight["status"] == "SCHEDULED"

    # when the ad server reports impressions for now (before its startsAt)
    free = spend_event("mgf-early", flight["id"], "0.00")
    result = await record_spend(api, [free], shop.adserver.token)

    # then the report is refused, for nothing, and its impressions do not count
    assert result["accepted"] == 0
    assert result["refused"] == [
        {
            "eventId": "mgf-early",
            "amount": {"amount": "0.00", "currencyCode": "USD"},
            "reason": "OUTSIDE_FLIGHT",
        }
    ]
    query = "query($id: ID!) { campaign(id: $id) { impressions } }"
    assert (await api.data(query, {"id": flight["id"]}, shop.token))["campaign"]["impressions"] == 0


async def test_the_delivering_intervals_cost_one_read_per_batch_and_none_inside_the_open_one(
    api, users, statements
) -> None:
    # given a campaign that was paused and resumed
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    before_pause = clock.now()
    await campaign_action(api, "pauseCampaign", campaign_id, shop.token)
    await campaign_action(api, "resumeCampaign", campaign_id, shop.token)

    # when a batch of 50 events falls inside its open interval, and then one of 50 late ones
    statements.statements.clear()
    inside = [spend_event(f"in-{n}", campaign_id, "0.10") for n in range(50)]
    inside_result = await record_spend(api, inside, shop.adserver.token)
    reads_inside = _interval_reads(statements.statements)
    statements.statements.clear()
    late = [spend_event(f"late-{n}", campaign_id, "0.10", occurred_at=_at(before_pause)) for n in range(50)]  # fmt: skip
    late_result = await record_spend(api, late, shop.adserver.token)
    reads_late = _interval_reads(statements.statements)

    # then the first costs no read of the intervals, the second one read
    assert (inside_result["accepted"], late_result["accepted"]) == (50, 50)
    assert (len(reads_inside), len(reads_late)) == (0, 1), reads_late


def _interval_reads(statements: list[str]) -> list[str]:
    return [s for s in statements if "FROM campaign_delivery_intervals" in s]
