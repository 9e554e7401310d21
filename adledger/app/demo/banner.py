"""The demo banner's ready-to-run requests: recordSpend bodies and the balance guard's
lines (Contoso Retail's automatic recharge), cut to the demo as `adledger dev` finds it."""

from __future__ import annotations

import json
from datetime import timedelta

from adledger import clock
from adledger.app.demo.guard import (
    ALERT_BALANCE_BELOW,
    ALERT_RUNWAY_DAYS,
    RECHARGE_MONTHLY_CAP,
    GuardDemo,
)
from adledger.app.demo.seed import (
    DEMO_AUTOMATIC_CAMPAIGN,
    DEMO_AUTOMATIC_CENTER_NAME,
    DEMO_CURRENCY,
)
from adledger.domain.currency import format_minor, format_money
from adledger.domain.money import parse_amount
from adledger.schema.ids import to_global_id

RECORD_SPEND = (
    "mutation($events: [SpendEventInput!]!) { recordSpend(input: {events: $events}) "
    "{ __typename ... on RecordSpendSuccess { accepted duplicates "
    "stoppedCampaigns { id status } refused { eventId reason amount { amount } } } "
    "... on UserError { code message field } } }"
)

ACTIVE = "ACTIVE"

# The spend that crosses the threshold goes past it by at least this step, and is a
# multiple of it: a round amount, still crossing after a 12.50 example was run first.
_STEP = 500

_GUARD_QUERY = (
    'query { businessCenter(id: "%s") { wallet { balance { available { amount } } '
    "runway { burnRatePerDay { amount } daysLeft runsOutAt committedShortfallAt "
    "committedShortfall { amount } } "
    "balanceAlerts { kind threshold { amount } days armed lastTriggeredAt } "
    "autoRecharge { status threshold { amount } targetBalance { amount } "
    "rechargedThisMonth { amount } } } "
    "invoices(kind: AUTO_RECHARGE, first: 3) { edges { node { number status "
    "amountDue { amount } paidAt paymentReference } } } "
    "notifications(first: 3) { edges { node { kind message } } } } }"
)


def spend_body(campaign_id: str, tag: str, amount: str = "12.50") -> str:
    """A recordSpend request for one event of `amount` USD on the campaign, dated now.
    Rounded up to the second, never down: a demo seeded a moment ago launched its
    campaigns within this second, and spend dated before the launch is refused."""
    now = clock.now()
    if now.microsecond:
        now = now.replace(microsecond=0) + timedelta(seconds=1)
    event = {
        "eventId": f"{tag}-{int(now.timestamp())}",
        "campaignId": campaign_id,
        "amount": {"amount": amount, "currencyCode": DEMO_CURRENCY.value},
        "impressions": 2500,
        "occurredAt": now.isoformat(),
    }
    return json.dumps({"query": RECORD_SPEND, "variables": {"events": [event]}})


def crossing_amount(guard: GuardDemo) -> int | None:
    """The spend (minor units) that takes the available balance below the threshold: the
    next multiple of 5.00 above the gap. None when it is already below (or no rule)."""
    if guard.threshold is None or guard.available < guard.threshold:
        return None
    return (guard.available - guard.threshold) // _STEP * _STEP + _STEP


def curl(url: str, token: str, body: str) -> str:
    return (
        f"curl -s {url} -H 'Authorization: Bearer {token}' "
        f"-H 'Content-Type: application/json' -d '{body}'"
    )


def guard_example(
    url: str, admin_token: str, adserver_token: str, campaign_id: str | None, guard: GuardDemo
) -> str:
    """Contoso Retail's balance guard: its rule and alerts, a recordSpend that crosses the
    threshold from the balance it has now, what pays the recharge, and where to see it."""
    center = to_global_id("BusinessCenter", guard.center_id)
    look = curl(url, admin_token, json.dumps({"query": _GUARD_QUERY % center}))
    return (
        _rule_words(guard)
        + _crossing(url, adserver_token, campaign_id, guard)
        + "  See the wallet's balance, runway, alerts and rule, the recharge invoices and\n"
        "  the alerts' notifications (the runway weighs complete days: today's spend\n"
        "  counts from tomorrow):\n"
        f"    {look}\n"
    )


def _rule_words(guard: GuardDemo) -> str:
    alerts = (
        f"it alerts below {_shown(parse_amount(ALERT_BALANCE_BELOW, DEMO_CURRENCY).minor)} "
        f"and under {ALERT_RUNWAY_DAYS} days of runway"
    )
    name = DEMO_AUTOMATIC_CENTER_NAME
    if guard.threshold is None or guard.target is None:
        return (
            f"  {name}'s wallet: {alerts}. Automatic recharge needs a saved card\n"
            "  (createCardSetup), then setAutoRecharge.\n"
        )
    if guard.rule_status != ACTIVE:
        return (
            f"  {name}'s wallet: {alerts}. Its automatic recharge is {guard.rule_status}:\n"
            "  setAutoRecharge starts it again.\n"
        )
    cap = _shown(parse_amount(RECHARGE_MONTHLY_CAP, DEMO_CURRENCY).minor)
    return (
        f"  {name}'s wallet recharges itself: below {_shown(guard.threshold)} available,\n"
        f"  its saved sandbox card is charged up to {_shown(guard.target)} (at most {cap}\n"
        f"  a month), and {alerts}.\n"
    )


def _crossing(url: str, token: str, campaign_id: str | None, guard: GuardDemo) -> str:
    now = f"  It has {_shown(guard.available)} available now"
    if guard.threshold is None or guard.rule_status != ACTIVE:
        return now + ".\n"
    amount = crossing_amount(guard)
    if amount is None:
        why = (
            "a recharge is in flight (its invoice is in the query below)"
            if guard.in_flight
            else "its recharge is under way or was not made (this month's cap reached, or\n"
            "  the card declined): the query below shows the rule and its invoices"
        )
        return f"{now}, below the threshold: {why}.\n"
    if campaign_id is None:
        return f"{now}; {DEMO_AUTOMATIC_CAMPAIGN!r} no longer delivers to spend on.\n"
    shown = format_minor(amount, DEMO_CURRENCY)
    body = spend_body(campaign_id, "demo-recharge", shown)
    return (
        f"{now}: report {shown} of spend on\n"
        f"  {DEMO_AUTOMATIC_CAMPAIGN!r} to take it below the threshold:\n"
        f"    {curl(url, token, body)}\n"
        "  The sandbox card pays at once, off-session: when that answers, the AUTO_RECHARGE\n"
        "  invoice is PAID and the wallet credited. Nothing to simulate (`payments simulate`\n"
        "  pays invoices that wait on their hosted page, like Northwind's top-up below).\n"
    )


def _shown(minor: int) -> str:
    return format_money(minor, DEMO_CURRENCY)
