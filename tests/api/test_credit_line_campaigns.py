"""Campaigns on the credit line (DESIGN §8, the Adomni page): spend draws on the business
center's credit line, never beyond what it has left; each cycle (28 days or the calendar
month) closes with one invoice listing each campaign's delivery; a cycle with no delivery
issues none; paying it restores the line; early cancellation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from adledger import clock
from adledger.jobs.credit_line import close_credit_line_cycles_job
from adledger.store.models import Invoice
from tests.api.campaign_fixtures import Shop, open_shop
from tests.api.installment_fixtures import card_campaign, launch, plan_of
from tests.helpers import balance, campaign_action, record_spend, spend_event

SET_CREDIT_LINE = """mutation($input: SetCreditLineInput!) { setCreditLine(input: $input) {
  __typename ... on UserError { code message } } }"""


async def _line(api, users, shop: Shop, limit: str = "1000.00") -> None:
    staff = await users.create("billing", staff=True)
    line = {
        "businessCenterId": shop.center.id,
        "cycle": "TWENTY_EIGHT_DAYS",
        "limit": {"amount": limit, "currencyCode": "USD"},
        "netTermsDays": 30,
    }
    result = (await api.data(SET_CREDIT_LINE, {"input": line}, staff.token))["setCreditLine"]
    assert result["__typename"] == "SetCreditLineSuccess", result


async def _spend(api, shop: Shop, campaign_id: str, amount: str, event_id: str) -> dict[str, Any]:
    event = spend_event(event_id, campaign_id, amount)
    return await record_spend(api, [event], shop.adserver.token)


def _cycle_end() -> datetime:
    """The first 28-day cycle counts from the day the line was granted (today, UTC)."""
    today = clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=28)


async def _statements(sessions) -> list[Invoice]:
    async with sessions() as session:
        stmt = select(Invoice).where(Invoice.kind == "CREDIT_LINE_CYCLE").order_by(Invoice.id)
        return list(await session.scalars(stmt))


async def test_without_a_credit_line_the_launch_is_refused(api, users) -> None:
    shop = await open_shop(api, users)
    campaign_id = await card_campaign(api, shop, plan="CREDIT_LINE")

    refused = await launch(api, shop, campaign_id)

    assert refused["__typename"] == "InvalidStateError"
    assert "credit line" in refused["message"]
    assert (await plan_of(api, shop, campaign_id))["status"] == "DRAFT"


async def test_spend_draws_on_the_credit_line_and_never_beyond_it(api, users) -> None:
    # given a 1,000.00 credit line and two campaigns on it
    shop = await open_shop(api, users)
    await _line(api, users, shop)
    first = await card_campaign(api, shop, plan="CREDIT_LINE", budget="800.00")
    second = await card_campaign(api, shop, plan="CREDIT_LINE", budget="800.00")
    launched = await launch(api, shop, first)
    await launch(api, shop, second)
    # when they deliver 700.00 and then 400.00
    one = await _spend(api, shop, first, "700.00", "e1")
    two = await _spend(api, shop, second, "400.00", "e2")
    # then nothing was reserved, and the line pays 1,000.00: the last 100.00 is refused
    assert launched["campaign"]["status"] == "ACTIVE"
    assert one["refused"] == []
    assert [(r["reason"], r["amount"]["amount"]) for r in two["refused"]] == [
        ("INSUFFICIENT_FUNDS", "100.00")
    ]
    found = await balance(api, shop.center.wallet_id, shop.token)
    assert found["creditLineUsed"]["amount"] == "1000.00"
    assert (await plan_of(api, shop, second))["spent"]["amount"] == "300.00"


async def test_each_cycle_is_billed_once_per_campaign_and_paying_restores_the_line(
    api, users, sessions, jobs, webhooks
) -> None:
    # given two campaigns on a 28-day credit line that delivered 250.00 and 120.50
    shop = await open_shop(api, users)
    await _line(api, users, shop)
    first = await card_campaign(api, shop, plan="CREDIT_LINE", budget="800.00")
    second = await card_campaign(api, shop, plan="CREDIT_LINE", budget="800.00")
    for campaign_id in (first, second):
        await launch(api, shop, campaign_id)
    await _spend(api, shop, first, "250.00", "e1")
    await _spend(api, shop, second, "120.50", "e2")
    end = _cycle_end()
    # when the cycle has not ended, then when it has (twice, as two workers would)
    early = await close_credit_line_cycles_job(jobs, end - timedelta(minutes=1))
    closed = await close_credit_line_cycles_job(jobs, end + timedelta(minutes=10))
    again = await close_credit_line_cycles_job(jobs, end + timedelta(hours=1))
    # then one statement, a line per campaign, due after the net terms
    assert (early.opened, closed.opened, again.opened) == (0, 1, 0)
    [statement] = await _statements(sessions)
    assert statement.subtotal == 37050
    assert statement.issue_on == end
    assert statement.due_at == end + timedelta(days=30)
    served = await api.data(
        "query($id: ID!) { campaign(id: $id) { invoices { edges { node { id } } } } }",
        {"id": first},
        shop.token,
    )
    assert served["campaign"]["invoices"]["edges"] == []  # statements are the center's
    lines = await api.data(
        """query($id: ID!) { businessCenter(id: $id) { invoices(kind: CREDIT_LINE_CYCLE) {
          edges { node { lines { description amount { amount } } paymentReference } } } } }""",
        {"id": shop.center.id},
        shop.token,
    )
    node = lines["businessCenter"]["invoices"]["edges"][0]["node"]
    period = f"{end - timedelta(days=28):%Y-%m-%d} to {end - timedelta(days=1):%Y-%m-%d}"
    assert node["lines"] == [
        {
            "description": f"Campaign Billboard run: delivery, {period}",
            "amount": {"amount": "250.00"},
        },
        {
            "description": f"Campaign Billboard run: delivery, {period}",
            "amount": {"amount": "120.50"},
        },
    ]
    # and a cycle with no delivery issues nothing
    quiet = await close_credit_line_cycles_job(jobs, end + timedelta(days=28, minutes=10))
    assert quiet.opened == 0
    # and paying the statement restores the credit line
    assert (await webhooks.pay(node["paymentReference"])).status_code == 200
    found = await balance(api, shop.center.wallet_id, shop.token)
    assert found["creditLineUsed"]["amount"] == "0.00"


async def test_canceling_if_available_stops_delivery_and_the_cycle_bills_what_was_delivered(
    api, users, sessions, jobs
) -> None:
    shop = await open_shop(api, users)
    await _line(api, users, shop)
    campaign_id = await card_campaign(api, shop, plan="CREDIT_LINE", budget="800.00")
    await launch(api, shop, campaign_id)
    await _spend(api, shop, campaign_id, "90.00", "e1")

    canceled = await campaign_action(api, "cancelCampaign", campaign_id, shop.token)
    late = await _spend(api, shop, campaign_id, "10.00", "e2")
    await close_credit_line_cycles_job(jobs, _cycle_end() + timedelta(minutes=10))

    assert canceled["campaign"]["status"] == "CANCELED"
    assert late["refused"][0]["reason"] == "SETTLEMENT_WINDOW_CLOSED"  # settled at once
    [statement] = await _statements(sessions)
    assert statement.subtotal == 9000


async def test_canceling_guaranteed_on_the_credit_line_goes_to_billing(api, users) -> None:
    shop = await open_shop(api, users)
    await _line(api, users, shop)
    campaign_id = await card_campaign(api, shop, plan="CREDIT_LINE", delivery="GUARANTEED")
    await launch(api, shop, campaign_id)

    canceled = await campaign_action(api, "cancelCampaign", campaign_id, shop.token)

    assert canceled["campaign"]["status"] == "CANCELED"
    seen = await api.data(
        "query($id: ID!) { campaign(id: $id) { cancellationRequest { status } } }",
        {"id": campaign_id},
        shop.token,
    )
    assert seen["campaign"]["cancellationRequest"] == {"status": "OPEN"}
