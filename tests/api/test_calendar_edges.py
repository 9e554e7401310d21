"""The date-bound flows at the calendar's edges, whatever today is: half an hour before a
year ends, on a leap day, and on a 31st followed by a short month. The clock is moved to
each (the `time_travel` fixture) and the jobs run at the instants they would.

Every flow runs through the API and the jobs: plan renewals (the anchor day kept, numbered
in the year they are issued), invoice numbers starting again in a new year, credit-line
statements per calendar month (postings dated by the app's clock), card installments
issued and charged on their dates, and account budget periods rolling over. And a clock
set back before a settled campaign's end gives it no budget to hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from adledger.domain.billing import add_months
from adledger.jobs.billing import renew_subscriptions_job
from adledger.jobs.budgets import roll_budget_periods_job
from adledger.jobs.campaigns import complete_campaigns_job, credit_sweep_job
from adledger.jobs.credit_line import StatementReport, close_credit_line_cycles_job
from adledger.jobs.installments import issue_invoices_job
from adledger.jobs.reports import RenewalReport
from adledger.store.models import Invoice
from tests.api.allocation_fixtures import account_state, campaign_state, set_budget
from tests.api.campaign_fixtures import move_flight, open_shop
from tests.api.installment_fixtures import card_campaign, card_shop, launch, plan_of
from tests.helpers import (
    TimeTravel,
    balance,
    create_center,
    new_campaign,
    record_spend,
    spend_event,
    subscribe,
    top_up,
    update_budget,
)
from tests.helpers import launch as launch_prepaid

NEW_YEARS_EVE = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
LEAP_DAY = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
JANUARY_31ST = datetime(2027, 1, 31, 23, 30, tzinfo=UTC)
EDGES = pytest.mark.parametrize(
    "edge", [NEW_YEARS_EVE, LEAP_DAY, JANUARY_31ST], ids=["new-years-eve", "leap-day", "jan-31"]
)
# The first instant of the month after each edge (every edge's next day starts it too).
NEXT_MONTH = {
    NEW_YEARS_EVE: datetime(2027, 1, 1, tzinfo=UTC),
    LEAP_DAY: datetime(2028, 3, 1, tzinfo=UTC),
    JANUARY_31ST: datetime(2027, 2, 1, tzinfo=UTC),
}

CENTER = """query($id: ID!) { businessCenter(id: $id) {
  subscription { status currentPeriodStart currentPeriodEnd } } }"""
SET_CREDIT_LINE = """mutation($input: SetCreditLineInput!) { setCreditLine(input: $input) {
  __typename ... on UserError { code message } } }"""


def _minute(iso_or_instant: str | datetime) -> datetime:
    """To the minute: each flow starts a few milliseconds after the clock was moved."""
    at = iso_or_instant
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.astimezone(UTC).replace(second=0, microsecond=0)


async def _invoices(sessions: Any, kind: str) -> list[Invoice]:
    async with sessions() as session:
        stmt = select(Invoice).where(Invoice.kind == kind).order_by(Invoice.id)
        return list(await session.scalars(stmt))


# -- plan renewals and invoice numbers ---------------------------------------------------


RENEWALS = {
    NEW_YEARS_EVE: (
        ["2027-01-31T23:30", "2027-02-28T23:30", "2027-03-31T23:30"],
        ["INV-2026-000001", "INV-2027-000001", "INV-2027-000002"],
    ),
    LEAP_DAY: (
        ["2028-03-29T12:00", "2028-04-29T12:00", "2028-05-29T12:00"],
        ["INV-2028-000001", "INV-2028-000002", "INV-2028-000003"],
    ),
    JANUARY_31ST: (
        ["2027-02-28T23:30", "2027-03-31T23:30", "2027-04-30T23:30"],
        ["INV-2027-000001", "INV-2027-000002", "INV-2027-000003"],
    ),
}


@EDGES
async def test_renewals_keep_the_anchor_day_and_are_numbered_in_their_year(
    edge: datetime, api, users, jobs, sessions, time_travel: TimeTravel
) -> None:
    # given a PRO plan paid from the balance, subscribed at the edge
    time_travel.to(edge)
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, "600.00")
    assert (await subscribe(api, center, "PRO"))["invoice"]["status"] == "PAID"
    # when each period ends and the renewal job runs then (twice, as two workers would)
    reports = []
    for _ in range(2):
        current = (await api.data(CENTER, {"id": center.id}, center.admin.token))["businessCenter"]
        time_travel.to(datetime.fromisoformat(current["subscription"]["currentPeriodEnd"]))
        reports.append(await renew_subscriptions_job(jobs, time_travel.now()))
        reports.append(await renew_subscriptions_job(jobs, time_travel.now()))
    # then each renewal is paid once, the periods keep the subscription's day of the month
    # (clamped in shorter months), and each invoice is numbered in the year it is issued
    assert reports == [RenewalReport(paid_from_balance=1), RenewalReport()] * 2
    found = (await api.data(CENTER, {"id": center.id}, center.admin.token))["businessCenter"]
    ends, numbers = RENEWALS[edge]
    subscription = found["subscription"]
    assert subscription["status"] == "ACTIVE"
    assert _minute(subscription["currentPeriodStart"]) == _minute(f"{ends[1]}+00:00")
    assert _minute(subscription["currentPeriodEnd"]) == _minute(f"{ends[2]}+00:00")
    invoices = await _invoices(sessions, "SUBSCRIPTION")
    assert [invoice.number for invoice in invoices] == numbers
    assert [_minute(invoice.issue_on) for invoice in invoices] == [
        _minute(edge),
        *(_minute(f"{end}+00:00") for end in ends[:2]),
    ]
    assert (await balance(api, center.wallet_id, center.admin.token))["cash"]["amount"] == "3.00"


async def test_invoice_numbers_start_again_at_one_when_the_year_turns(
    api, users, time_travel: TimeTravel
) -> None:
    # given a subscribed center half an hour before the year ends, and a top-up then
    time_travel.to(NEW_YEARS_EVE)
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, "199.00")
    plan = await subscribe(api, center, "PRO")
    december = await top_up(api, center.wallet_id, center.admin.token, amount="50.00")
    # when the next top-up comes a second after midnight
    time_travel.to(NEXT_MONTH[NEW_YEARS_EVE] + timedelta(seconds=1))
    january = await top_up(api, center.wallet_id, center.admin.token, amount="50.00")
    # then it opens the new year's numbering, without a gap in either year
    assert [
        plan["invoice"]["number"],
        december["topUp"]["invoice"]["number"],
        january["topUp"]["invoice"]["number"],
    ] == ["INV-2026-000001", "INV-2026-000002", "INV-2027-000001"]


# -- credit-line statements ---------------------------------------------------------------


@EDGES
async def test_a_calendar_month_statement_bills_the_spend_of_its_month_only(
    edge: datetime, api, users, jobs, sessions, time_travel: TimeTravel
) -> None:
    # given a calendar-month credit line granted at the edge, and a campaign on it
    time_travel.to(edge)
    shop = await open_shop(api, users)
    staff = await users.create("billing", staff=True)
    line = {
        "businessCenterId": shop.center.id,
        "cycle": "CALENDAR_MONTH",
        "limit": {"amount": "1000.00", "currencyCode": "USD"},
        "netTermsDays": 30,
    }
    granted = (await api.data(SET_CREDIT_LINE, {"input": line}, staff.token))["setCreditLine"]
    assert granted["__typename"] == "SetCreditLineSuccess", granted
    campaign_id = await card_campaign(api, shop, plan="CREDIT_LINE", budget="800.00")
    assert (await launch(api, shop, campaign_id))["campaign"]["status"] == "ACTIVE"
    # when it delivers 100.00 before the month ends and 40.00 just after
    first = await record_spend(
        api, [spend_event("before", campaign_id, "100.00")], shop.adserver.token
    )
    next_month = NEXT_MONTH[edge]
    time_travel.to(next_month + timedelta(minutes=5))
    second = await record_spend(
        api, [spend_event("after", campaign_id, "40.00")], shop.adserver.token
    )
    # and the job closes the month ten minutes into the next one (twice)
    time_travel.to(next_month + timedelta(minutes=10))
    closed = await close_credit_line_cycles_job(jobs, time_travel.now())
    again = await close_credit_line_cycles_job(jobs, time_travel.now())
    # then the statement bills the month's 100.00 only, issued at its end, due 30 days on
    assert (first["refused"], second["refused"]) == ([], [])
    assert (closed, again) == (StatementReport(opened=1), StatementReport())
    [statement] = await _invoices(sessions, "CREDIT_LINE_CYCLE")
    assert (statement.subtotal, statement.issue_on) == (10000, next_month)
    assert statement.due_at == next_month + timedelta(days=30)
    # (numbered in the year it is issued: the plan's invoice was the first of the edge's)
    assert statement.number == f"INV-{next_month.year}-{1 if edge is NEW_YEARS_EVE else 2:06d}"
    # and the next month's statement bills the 40.00
    following = add_months(next_month, 1)
    time_travel.to(following + timedelta(minutes=10))
    assert await close_credit_line_cycles_job(jobs, time_travel.now()) == StatementReport(opened=1)
    statements = await _invoices(sessions, "CREDIT_LINE_CYCLE")
    assert [(s.subtotal, s.issue_on) for s in statements] == [
        (10000, next_month),
        (4000, following),
    ]


# -- card installments ------------------------------------------------------------------


@EDGES
async def test_installments_are_numbered_at_launch_and_charged_on_their_dates(
    edge: datetime, api, users, webhooks, jobs, time_travel: TimeTravel
) -> None:
    # given a 1,000.00 card plan over 30 days launched at the edge (its flight began a day
    # earlier: the later installments fall 14 and 28 days after the launch)
    time_travel.to(edge)
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop, budget="1000.00", days=30)
    assert (await launch(api, shop, campaign_id))["__typename"] == "LaunchCampaignSuccess"
    plan = await plan_of(api, shop, campaign_id)
    due = [datetime.fromisoformat(invoice["issueOn"]) for invoice in plan["invoices"]]
    # when delivery keeps ahead of the payments and the job runs on each date (and just
    # before the last)
    reports = []
    for amount, issue_on in (("400.00", due[1]), ("300.00", due[2])):
        await record_spend(
            api, [spend_event(f"e{amount}", campaign_id, amount)], shop.adserver.token
        )
        time_travel.to(issue_on - timedelta(minutes=1))
        reports.append(str(await issue_invoices_job(jobs, time_travel.now())))
        time_travel.to(issue_on + timedelta(minutes=1))
        reports.append(await issue_invoices_job(jobs, time_travel.now()))
    # then each was charged on its date, and all three carry the launch year's numbers
    assert [_minute(at) for at in due] == [edge + timedelta(days=d) for d in (0, 14, 28)]
    assert reports[0] == reports[2] == "no invoices due"
    assert [report.outcomes.get("paid") for report in reports[1::2]] == [1, 1]
    paid = await plan_of(api, shop, campaign_id)
    assert [(i["status"], i["amountDue"]["amount"]) for i in paid["invoices"]] == [
        ("PAID", "333.33"),
        ("PAID", "333.33"),
        ("PAID", "333.34"),
    ]
    assert [i["number"] for i in paid["invoices"]] == [
        f"INV-{edge.year}-{n:06d}" for n in (2, 3, 4)
    ]
    assert paid["funded"]["amount"] == "1000.00"


# -- account budget periods ---------------------------------------------------------------


@EDGES
@pytest.mark.parametrize("mode", ["DAILY", "MONTHLY"])
async def test_a_budget_period_rolls_over_at_the_day_or_month_boundary(
    edge: datetime, mode: str, api, users, jobs, time_travel: TimeTravel
) -> None:
    # given an account capped at 40.00 per period at the edge, its campaign stopped by it
    time_travel.to(edge)
    shop = await open_shop(api, users, cash="500.00")
    capped = await set_budget(api, shop.account.id, shop.token, mode, "40.00")
    assert capped["__typename"] == "SetAdAccountBudgetSuccess", capped
    campaign_id = await new_campaign(api, shop.account, shop.token, "300.00")
    await launch_prepaid(api, campaign_id, shop.token)
    stopped = await record_spend(
        api, [spend_event("p1", campaign_id, "55.00")], shop.adserver.token
    )
    period = (await account_state(api, shop.account.id, shop.token))["budget"]
    # when the job runs a second before the period ends, then a minute after
    next_month = NEXT_MONTH[edge]
    early = await roll_budget_periods_job(jobs, next_month - timedelta(seconds=1))
    time_travel.to(next_month + timedelta(minutes=1))
    rolled = await roll_budget_periods_job(jobs, time_travel.now())
    # then the period was the day (or month) of the edge, and the next one starts at the
    # boundary, from zero, with the campaign delivering again
    midnight = edge.replace(hour=0, minute=0)
    starts = midnight if mode == "DAILY" else midnight.replace(day=1)
    assert stopped["refused"][0]["amount"]["amount"] == "15.00"
    assert (period["periodStart"], period["periodEnd"]) == (
        starts.isoformat(),
        next_month.isoformat(),
    )
    assert early.steps.get("restarted") is None
    assert rolled.steps.get("restarted") == 1
    assert (await campaign_state(api, campaign_id, shop.token))["status"] == "ACTIVE"
    budget = (await account_state(api, shop.account.id, shop.token))["budget"]
    assert (budget["periodStart"], budget["spentInPeriod"]) == (
        next_month.isoformat(),
        {"amount": "0.00"},
    )
    again = await record_spend(api, [spend_event("p2", campaign_id, "10.00")], shop.adserver.token)
    assert (again["accepted"], again["refused"]) == (1, [])


# -- a clock set back ---------------------------------------------------------------------


async def test_a_settled_campaign_takes_no_more_budget_on_a_clock_set_before_its_end(
    api, users, jobs, sessions, time_travel: TimeTravel
) -> None:
    # given a campaign that spent its budget, ended and was settled by the sweep
    shop = await open_shop(api, users, cash="500.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch_prepaid(api, campaign_id, shop.token)
    await record_spend(api, [spend_event("all", campaign_id, "100.00")], shop.adserver.token)
    ends = time_travel.now() - timedelta(hours=13)
    await move_flight(sessions, campaign_id, ends - timedelta(days=9), ends)
    await complete_campaigns_job(jobs, time_travel.now())
    await credit_sweep_job(jobs, time_travel.now())
    # when the clock reads a day before its end (a rehearsal of an earlier date) and the
    # advertiser raises its budget
    time_travel.to(ends - timedelta(days=1))
    raised = await update_budget(api, campaign_id, shop.token, "300.00")
    # then it is refused: no sweep would ever give the money back
    assert (raised["__typename"], raised["code"]) == ("InvalidStateError", "INVALID_STATE")
    assert "settled" in raised["message"]
    cash = (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"]
    assert cash == "400.00"
