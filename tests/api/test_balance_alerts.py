"""Low-balance alerts (issue 27): set by finance roles, refused whole on bad input, fired
once per real crossing by the transaction that moves the money (a notification and a
partner event), never by one that rolled back."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import text

from adledger import clock
from adledger.domain.money import Currency
from adledger.domain.wallets import Bucket, MoneyIn
from adledger.jobs.billing import renew_subscriptions_job
from adledger.schema.ids import db_id_of
from adledger.services import balance_guard
from adledger.services import wallets as wallet_service
from adledger.services.actor import Actor
from tests.api.allocation_fixtures import live_campaigns, open_center, unlimited
from tests.api.campaign_fixtures import open_shop
from tests.api.event_scenarios import feed_events, period_end
from tests.helpers import add_member, create_center, record_spend, spend_event, subscribe, top_up
from tests.helpers import balance as read_balance

SET = """mutation($input: SetBalanceAlertsInput!) { setBalanceAlerts(input: $input) {
  __typename
  ... on WalletSettingsSuccess { wallet { id balanceAlerts { kind threshold { amount currencyCode } days armed lastTriggeredAt } } }
  ... on UserError { code message field } } }"""
SET_BARE = """mutation($input: SetBalanceAlertsInput!) { setBalanceAlerts(input: $input) {
  __typename ... on UserError { code message field } } }"""
TRANSFER = """mutation($input: TransferBalanceInput!) { transferBalance(input: $input) {
  __typename ... on UserError { code message field } } }"""
ALERTS = """query($id: ID!) { node(id: $id) { ... on Wallet { balanceAlerts { kind armed lastTriggeredAt } } } }"""
NOTIFICATIONS = """query($id: ID!) { businessCenter(id: $id) { notifications(first: 100) {
  edges { node { kind message } } } } }"""


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "USD"}


async def _set(
    api, token: str, wallet_id: str, alerts: list[dict[str, Any]], document: str = SET
) -> dict[str, Any]:
    variables = {"input": {"walletId": wallet_id, "alerts": alerts}}
    return (await api.data(document, variables, token))["setBalanceAlerts"]


async def _audit_count(sessions, center_gid: str) -> int:
    async with sessions() as session:
        return await session.scalar(
            text(
                "SELECT count(*) FROM audit_events WHERE business_center_id = :c "
                "AND action = 'balance_alerts.set'"
            ),
            {"c": db_id_of(center_gid, "BusinessCenter")},
        )


async def test_an_admin_sets_alerts_and_an_identical_replay_changes_nothing(
    api, users, sessions
) -> None:
    # given a center
    shop = await open_shop(api, users)
    alerts = [
        {"kind": "BALANCE_BELOW", "threshold": usd("500.00")},
        {"kind": "RUNWAY_BELOW_DAYS", "days": 3.5},
    ]
    # when its admin sets two alerts, twice
    first = await _set(api, shop.token, shop.center.wallet_id, alerts)
    again = await _set(api, shop.token, shop.center.wallet_id, alerts)
    # then both are listed, armed, and audited once
    assert first["__typename"] == "WalletSettingsSuccess", first
    assert first["wallet"]["balanceAlerts"] == [
        {"kind": "BALANCE_BELOW", "threshold": usd("500.00"), "days": None, "armed": True, "lastTriggeredAt": None},
        {"kind": "RUNWAY_BELOW_DAYS", "threshold": None, "days": 3.5, "armed": True, "lastTriggeredAt": None},
    ]  # fmt: skip
    assert again == first
    assert await _audit_count(sessions, shop.center.id) == 1
    # and an empty list removes them (audited)
    cleared = await _set(api, shop.token, shop.center.wallet_id, [])
    assert cleared["wallet"]["balanceAlerts"] == []
    assert await _audit_count(sessions, shop.center.id) == 2


async def test_bad_alerts_are_refused_whole_naming_the_field(api, users, sessions) -> None:
    shop = await open_shop(api, users)
    wallet = shop.center.wallet_id
    good = {"kind": "BALANCE_BELOW", "threshold": usd("100.00")}
    cases = [
        ([good] * 6, "INVALID_INPUT", ["input", "alerts"]),
        ([good, {"kind": "RUNWAY_BELOW_DAYS", "days": 0.4}], "INVALID_INPUT", ["input", "alerts", "1", "days"]),
        ([good, {"kind": "RUNWAY_BELOW_DAYS", "days": 90.5}], "INVALID_INPUT", ["input", "alerts", "1", "days"]),
        ([{"kind": "RUNWAY_BELOW_DAYS", "threshold": usd("1.00"), "days": 2}], "INVALID_INPUT", ["input", "alerts", "0", "threshold"]),
        ([{"kind": "BALANCE_BELOW", "days": 2}], "INVALID_INPUT", ["input", "alerts", "0", "days"]),
        ([{"kind": "BALANCE_BELOW"}], "INVALID_INPUT", ["input", "alerts", "0", "threshold"]),
        ([{"kind": "BALANCE_BELOW", "threshold": usd("0.00")}], "INVALID_INPUT", ["input", "alerts", "0", "threshold", "amount"]),
        ([good, good, {"kind": "BALANCE_BELOW", "threshold": {"amount": "5", "currencyCode": "EUR"}}], "CURRENCY_MISMATCH", ["input", "alerts", "2", "threshold", "currencyCode"]),
    ]  # fmt: skip
    for alerts, code, field in cases:
        result = await _set(api, shop.token, wallet, alerts)
        assert (result["__typename"], result["code"], result["field"]) == (
            result["__typename"],
            code,
            field,
        ), (alerts, result)
    listed = (await api.data(ALERTS, {"id": wallet}, shop.token))["node"]["balanceAlerts"]
    assert listed == []
    assert await _audit_count(sessions, shop.center.id) == 0


async def test_only_admins_and_finance_managers_set_alerts(api, users) -> None:
    shop = await open_shop(api, users)
    alerts = [{"kind": "BALANCE_BELOW", "threshold": usd("100.00")}]
    for role in ("FINANCE_ANALYST", "STANDARD"):
        member = await users.create(role.lower())
        await add_member(api, shop.center, member, role)
        result = await _set(api, member.token, shop.center.wallet_id, alerts, SET_BARE)
        assert result["code"] == "FORBIDDEN", (role, result)
    manager = await users.create("manager")
    await add_member(api, shop.center, manager, "FINANCE_MANAGER")
    result = await _set(api, manager.token, shop.center.wallet_id, alerts)
    assert result["__typename"] == "WalletSettingsSuccess"


def _fired(balances: list[int], threshold: int, margin: int) -> list[int]:
    """The rule, restated: fire when below the line while armed; re-arm at line + margin.
    The balances it fires at."""
    armed, fired = True, []
    for balance in balances:
        if armed and balance < threshold:
            armed = False
            fired.append(balance)
        elif not armed and balance >= threshold + margin:
            armed = True
    return fired


def _expected_crossings(balances: list[int], threshold: int, margin: int) -> int:
    return len(_fired(balances, threshold, margin))


async def test_a_hovering_balance_alerts_once_per_real_crossing(api, users) -> None:
    # given a center wallet of 600.00 with an alert below 500.00 (margin 50.00), and an
    # ad account to move money to and from
    shop = await open_shop(api, users, cash="2000.00")
    await users.fund(shop.center.wallet_id, "600.00")
    assert (await read_balance(api, shop.center.wallet_id, shop.token))["available"][
        "amount"
    ] == "600.00"
    set_ = await _set(api, shop.token, shop.center.wallet_id, [{"kind": "BALANCE_BELOW", "threshold": usd("500.00")}])  # fmt: skip
    assert set_["__typename"] == "WalletSettingsSuccess", set_
    # when 100 transfers walk its balance around the line: out (spend-like) and back in
    rng = random.Random(27)
    balance, seen = 60_000, []
    for _ in range(100):
        step = rng.randint(1, 40) * 100 * rng.choice((-1, 1))
        step = max(step, 42_000 - balance) if step < 0 else min(step, 60_000 - balance)
        if step == 0:
            continue
        source, target = (
            (shop.center.wallet_id, shop.account.wallet_id)
            if step < 0
            else (shop.account.wallet_id, shop.center.wallet_id)
        )
        amount = f"{abs(step) // 100}.{abs(step) % 100:02d}"
        given = {"fromWalletId": source, "toWalletId": target, "amount": usd(amount)}
        result = (await api.data(TRANSFER, {"input": given}, shop.token))["transferBalance"]
        assert result["__typename"] == "TransferBalanceSuccess", result
        balance += step
        seen.append(balance)
    # then it alerted exactly once per crossing, as notifications and as events
    expected = _expected_crossings(seen, 50_000, 5_000)
    assert expected >= 2  # the walk does cross, more than once
    notified = await api.data(NOTIFICATIONS, {"id": shop.center.id}, shop.token)
    kinds = [e["node"]["kind"] for e in notified["businessCenter"]["notifications"]["edges"]]
    assert kinds.count("BALANCE_LOW") == expected
    events = await feed_events(api, shop.center.id, shop.token, ["balance.low"])
    assert len(events) == expected
    assert events[0]["data"]["wallet"] == {"id": shop.center.wallet_id}
    assert events[0]["data"]["alert"]["threshold"] == usd("500.00")
    assert float(events[0]["data"]["available"]["amount"]) < 500


def _dollars(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def _hovering_steps(seed: int, steps: int, start: int) -> list[int]:
    """A walk around 500.00, mostly between 440.00 and 580.00: spend (negative, 1.01 to
    40.99, in a batch of two events) or a top-up (positive, 10.00 to 40.00: at least the
    minimum top-up); a step that would leave the band goes the other way."""
    rng = random.Random(seed)
    balance, walk = start, []
    for _ in range(steps):
        spend = -rng.randint(101, 4_099)
        refill = rng.randint(10, 40) * 100
        step = rng.choice((spend, refill))
        if balance + step < 44_000:
            step = refill
        elif balance + step > 58_000:
            step = spend
        balance += step
        walk.append(step)
    return walk


async def test_spend_and_paid_top_ups_hovering_at_the_line_alert_once_per_crossing(
    api, users, webhooks
) -> None:
    # given an automatic center whose wallet holds 600.00, with an alert below 500.00
    # (margin 50.00), and a live campaign drawing on it as it spends (its account holds
    # nothing, so every cent spent lowers the center's available balance)
    shop = await open_center(api, users, ["0.00"])
    await unlimited(api, shop)
    await users.fund(shop.center.wallet_id, "600.00")
    [campaign_id] = await live_campaigns(api, shop)
    set_ = await _set(api, shop.token, shop.center.wallet_id, [{"kind": "BALANCE_BELOW", "threshold": usd("500.00")}])  # fmt: skip
    assert set_["__typename"] == "WalletSettingsSuccess", set_
    # when 100 steps walk it around the line: recordSpend batches and paid top-ups
    balance, seen = 60_000, []
    for n, step in enumerate(_hovering_steps(27, 100, balance)):
        if step < 0:
            half = -step // 2
            batch = [
                spend_event(f"h{n}a", campaign_id, _dollars(half)),
                spend_event(f"h{n}b", campaign_id, _dollars(-step - half)),
            ]
            spent = await record_spend(api, batch, shop.adserver.token)
            assert (spent["accepted"], spent["refused"]) == (2, []), spent
        else:
            asked = await top_up(api, shop.center.wallet_id, shop.token, amount=_dollars(step))
            paid = await webhooks.pay(asked["topUp"]["invoice"]["paymentReference"])
            assert paid.json()["outcome"] == "PROCESSED", paid.json()
        balance += step
        seen.append(balance)
    # then the wallet holds what the walk says, and it alerted exactly once per real
    # crossing (the margin rule restated above), as notifications and as events
    held = await read_balance(api, shop.center.wallet_id, shop.token)
    assert held["available"] == {"amount": _dollars(balance)}
    fired = _fired(seen, 50_000, 5_000)
    # (the walk is below the line after 31 steps, 13 times from above: 5 real crossings)
    assert len(fired) == 5
    notified = await api.data(NOTIFICATIONS, {"id": shop.center.id}, shop.token)
    kinds = [e["node"]["kind"] for e in notified["businessCenter"]["notifications"]["edges"]]
    assert kinds.count("BALANCE_LOW") == len(fired)
    events = await feed_events(api, shop.center.id, shop.token, ["balance.low"])
    assert [e["data"]["available"]["amount"] for e in events] == [_dollars(b) for b in fired]
    assert {e["data"]["wallet"]["id"] for e in events} == {shop.center.wallet_id}


RUNWAY_ALERTS = """query($id: ID!) { node(id: $id) { ... on Wallet {
  balanceAlerts { kind days armed lastTriggeredAt } runway { daysLeft } } } }"""


def _runway_days(available: int, spent_days_ago: dict[int, int]) -> Fraction:
    """The runway rule, restated: the 7 complete days before today, yesterday weighted 7,
    the day before 6, ... the seventh day back 1; days left = available / that rate."""
    burn = Fraction(sum((8 - ago) * spent for ago, spent in spent_days_ago.items() if 1 <= ago <= 7), 28)  # fmt: skip
    return Fraction(available) / burn


async def test_a_runway_alert_fires_once_the_recent_spend_leaves_under_its_days(
    api, users, webhooks, time_travel
) -> None:
    # given (at noon UTC, so that a day's steps stay within it) an automatic center whose
    # wallet holds 1000.00, a campaign drawing on it, and an alert under 5 days of runway
    now = time_travel.now()
    time_travel.to((now + timedelta(hours=12)).astimezone(UTC).replace(hour=12, minute=0, second=0))
    shop = await open_center(api, users, ["0.00"])
    await unlimited(api, shop)
    await users.fund(shop.center.wallet_id, "1000.00")
    [campaign_id] = await live_campaigns(api, shop)
    wallet = shop.center.wallet_id
    set_ = await _set(api, shop.token, wallet, [{"kind": "RUNWAY_BELOW_DAYS", "days": 5}])
    assert set_["__typename"] == "WalletSettingsSuccess", set_
    # when it spends 100.00 a day, day after day
    states = []
    for day in range(6):
        spent = await record_spend(api, [spend_event(f"r{day}", campaign_id, "100.00")], shop.adserver.token)  # fmt: skip
        assert spent["accepted"] == 1, spent
        states.append((await api.data(RUNWAY_ALERTS, {"id": wallet}, shop.token))["node"])
        if day < 5:
            time_travel.by(timedelta(days=1))
    # then the first day has no rate (no complete day yet), and the alert stays armed until
    # the rate of the days before leaves under 5 days: 400.00 at 89.29 a day, on day 5
    expected: list[Fraction | None] = [None]
    for day in range(1, 6):  # (day+1) x 100.00 spent by then, 100.00 on each day before
        left = 100_000 - 10_000 * (day + 1)
        expected.append(_runway_days(left, {ago: 10_000 for ago in range(1, day + 1)}))
    assert [round(float(e), 2) if e else None for e in expected] == [None, 32.0, 15.08, 9.33, 6.36, 4.48]  # fmt: skip
    assert [s["runway"]["daysLeft"] for s in states] == [e if e is None else float(e) for e in expected]  # fmt: skip
    assert [s["balanceAlerts"][0]["armed"] for s in states] == [True] * 5 + [False]
    triggered = datetime.fromisoformat(states[5]["balanceAlerts"][0]["lastTriggeredAt"])
    assert timedelta(0) <= time_travel.now() - triggered < timedelta(minutes=1)
    [told] = await feed_events(api, shop.center.id, shop.token, ["runway.low"])
    assert told["data"] == {
        "wallet": {"id": wallet},
        "alert": {"kind": "RUNWAY_BELOW_DAYS", "threshold": None, "days": 5.0},
        "available": usd("400.00"),
        "daysLeft": 4.48,
    }
    notified = await api.data(NOTIFICATIONS, {"id": shop.center.id}, shop.token)
    kinds = [e["node"]["kind"] for e in notified["businessCenter"]["notifications"]["edges"]]
    assert kinds == ["RUNWAY_LOW"]
    # and a paid top-up of 1000.00 re-arms it (15.68 days: above 5 + a margin of 1 day);
    # spending it again fires it again
    asked = await top_up(api, wallet, shop.token, amount="1000.00")
    await webhooks.pay(asked["topUp"]["invoice"]["paymentReference"])
    rearmed = (await api.data(RUNWAY_ALERTS, {"id": wallet}, shop.token))["node"]
    burned = _runway_days(140_000, {ago: 10_000 for ago in range(1, 6)})
    assert (rearmed["balanceAlerts"][0]["armed"], rearmed["runway"]["daysLeft"]) == (True, float(burned))  # fmt: skip
    await record_spend(api, [spend_event("r-big", campaign_id, "1000.00")], shop.adserver.token)
    told = await feed_events(api, shop.center.id, shop.token, ["runway.low"])
    assert [e["data"]["available"]["amount"] for e in told] == ["400.00", "400.00"]


async def test_a_rolled_back_transaction_fires_nothing(api, users, sessions) -> None:
    # given a center wallet of 600.00 with an alert below 500.00
    shop = await open_shop(api, users)
    await users.fund(shop.center.wallet_id, "600.00")
    await _set(api, shop.token, shop.center.wallet_id, [{"kind": "BALANCE_BELOW", "threshold": usd("500.00")}])  # fmt: skip
    async with sessions() as session:
        admin_id = await session.scalar(
            text("SELECT id FROM users WHERE email = :e"), {"e": shop.admin.email}
        )
    admin = Actor(user_id=admin_id, email=shop.admin.email, is_staff=False)
    # when a transaction moves 200.00 out, the guard settles, and it rolls back
    async with sessions() as session:
        await wallet_service.transfer_balance(
            session,
            admin,
            wallet_service.Transfer(
                from_wallet_id=db_id_of(shop.center.wallet_id, "Wallet"),
                to_wallet_id=db_id_of(shop.account.wallet_id, "Wallet"),
                amount=MoneyIn("200.00", Currency.USD),
                bucket=Bucket.CASH,
                idempotency_key=None,
            ),
            clock.now(),
        )
        await balance_guard.settle(session)
        await session.rollback()
    # then the alert is still armed, and nothing was notified or recorded
    listed = (await api.data(ALERTS, {"id": shop.center.wallet_id}, shop.token))["node"]
    assert listed["balanceAlerts"] == [{"kind": "BALANCE_BELOW", "armed": True, "lastTriggeredAt": None}]  # fmt: skip
    notified = await api.data(NOTIFICATIONS, {"id": shop.center.id}, shop.token)
    assert notified["businessCenter"]["notifications"]["edges"] == []
    assert await feed_events(api, shop.center.id, shop.token, ["balance.low"]) == []


# A transaction that numbers an invoice (INVOICE_COUNTER) and then moves a guarded wallet's
# money (the plan paid from the balance, subscribed or renewed) reaches
# `balance_guard.settle`, which locks the wallet's alerts: BALANCE_GUARD comes after
# INVOICE_COUNTER in store/locks.py, so this keeps the lock order (LOCK_ORDER_CHECK is on).


async def _center_with_alert(api, users, subscribed: bool):
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, "500.00")
    if subscribed:
        assert (await subscribe(api, center))["invoice"]["status"] == "PAID"
    alert = [{"kind": "BALANCE_BELOW", "threshold": usd("1000.00")}]
    set_ = await _set(api, center.admin.token, center.wallet_id, alert)
    assert set_["__typename"] == "WalletSettingsSuccess", set_
    return center


async def test_a_plan_paid_from_a_wallet_with_an_alert_fires_it(api, users) -> None:
    center = await _center_with_alert(api, users, subscribed=False)
    subscribed = await subscribe(api, center)
    assert subscribed["invoice"]["status"] == "PAID", subscribed
    assert len(await feed_events(api, center.id, center.admin.token, ["balance.low"])) == 1


async def test_a_plan_renewed_from_a_wallet_with_an_alert_fires_it(api, users, jobs) -> None:
    center = await _center_with_alert(api, users, subscribed=True)
    report = await renew_subscriptions_job(jobs, await period_end(api, center))
    assert (report.paid_from_balance, report.failed) == (1, 0), report
    assert len(await feed_events(api, center.id, center.admin.token, ["balance.low"])) == 1
