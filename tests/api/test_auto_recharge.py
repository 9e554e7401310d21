"""Automatic recharge (issue 27, docs/billing.md): a wallet falling below its rule's
threshold charges the center's saved card once per crossing, credited only when paid."""

from __future__ import annotations

import pytest

from adledger.jobs.billing import renew_subscriptions_job
from adledger.jobs.installments import issue_invoices_job
from adledger.services.verify import verify_ledger
from tests.api.allocation_fixtures import campaign_state, open_center
from tests.api.event_scenarios import feed_events, period_end
from tests.api.installment_fixtures import attach_card, days_from_now
from tests.api.recharge_fixtures import (
    DISABLE,
    center,
    recharge_center,
    set_rule,
    spend,
    wallet,
)
from tests.helpers import add_member


async def test_a_spend_crossing_the_threshold_recharges_the_wallet_once_paid(
    api, users, webhooks, sessions
) -> None:
    # given a center wallet holding 500.00, recharged by 300.00 below 200.00
    shop = await recharge_center(api, users, webhooks, "500.00")
    made = await set_rule(api, shop, "200.00", amount="300.00")
    assert made["__typename"] == "WalletSettingsSuccess", made
    assert made["wallet"]["autoRecharge"]["status"] == "ACTIVE"
    # when a spend takes it to 150.00
    spent = await spend(api, shop, "350.00", "s1")
    # then one AUTO_RECHARGE invoice was charged to the card and paid: 450.00
    assert (spent["accepted"], spent["refused"]) == (1, [])
    found = await center(api, shop)
    assert [(i["kind"], i["status"], i["amountDue"]["amount"]) for i in found["invoices"]] == [
        ("AUTO_RECHARGE", "PAID", "300.00")
    ]
    reference = found["invoices"][0]["paymentReference"]
    assert await webhooks.sandbox.charges_made(reference) == 1
    shown = await wallet(api, shop)
    assert shown["balance"]["available"]["amount"] == "450.00"
    assert shown["autoRecharge"]["rechargedThisMonth"]["amount"] == "300.00"
    actions = [a["action"] for a in found["audit"]]
    assert {"AUTO_RECHARGE_SET", "AUTO_RECHARGE_STARTED", "AUTO_RECHARGE_PAID"} <= set(actions)
    # and the center is told, once
    number = found["invoices"][0]["number"]
    told = [(n["kind"], n["message"]) for n in found["notifications"]]
    assert (
        told.count(
            (
                "AUTO_RECHARGE_PAID",
                f"Automatic recharge of 300.00 USD paid by the saved card ({number}).",
            )
        )
        == 1
    )
    async with sessions() as session:
        assert await verify_ledger(session) == []


async def test_a_target_rule_charges_what_brings_the_balance_back_to_it(
    api, users, webhooks
) -> None:
    shop = await recharge_center(api, users, webhooks, "500.00")
    await set_rule(api, shop, "200.00", amount=None, target="600.00")

    await spend(api, shop, "350.00", "t1")

    invoices = (await center(api, shop))["invoices"]
    assert [(i["status"], i["amountDue"]["amount"]) for i in invoices] == [("PAID", "450.00")]
    assert (await wallet(api, shop))["balance"]["available"]["amount"] == "600.00"


async def test_a_rule_set_below_the_threshold_recharges_at_once(api, users, webhooks) -> None:
    shop = await recharge_center(api, users, webhooks, "100.00")

    made = await set_rule(api, shop, "200.00", amount="300.00")

    assert made["__typename"] == "WalletSettingsSuccess", made
    invoices = (await center(api, shop))["invoices"]
    assert [(i["status"], i["amountDue"]["amount"]) for i in invoices] == [("PAID", "300.00")]
    assert (await wallet(api, shop))["balance"]["available"]["amount"] == "400.00"


async def test_a_balance_staying_below_the_threshold_recharges_once_per_crossing(
    api, users, webhooks
) -> None:
    # given a recharge of 20.00 below 200.00: too little to climb back above it
    shop = await recharge_center(api, users, webhooks, "500.00")
    await set_rule(api, shop, "200.00", amount="20.00")
    # when it spends on below the threshold, then climbs back above it and falls again
    await spend(api, shop, "350.00", "c1")  # 150.00, recharged: 170.00
    await spend(api, shop, "20.00", "c2")  # 150.00: the same crossing
    await users.fund(shop.center.wallet_id, "100.00")  # 250.00 (no guard: a test's credit)
    await spend(api, shop, "10.00", "c3")  # 240.00: above, armed again
    await spend(api, shop, "100.00", "c4")  # 140.00: a second crossing, recharged: 160.00
    # then one recharge per crossing
    invoices = (await center(api, shop))["invoices"]
    assert [(i["status"], i["amountDue"]["amount"]) for i in invoices] == [
        ("PAID", "20.00"),
        ("PAID", "20.00"),
    ]
    assert (await wallet(api, shop))["balance"]["available"]["amount"] == "160.00"


# -- declines ----------------------------------------------------------------------------


async def test_a_declined_recharge_is_retried_by_issue_invoices_and_charged_once(
    api, users, webhooks, jobs, sessions
) -> None:
    # given a card that declines, and a spend crossing the threshold
    shop = await recharge_center(api, users, webhooks, "500.00", declining=True)
    await set_rule(api, shop, "200.00", amount="300.00")
    await spend(api, shop, "350.00", "d1")
    invoice = (await center(api, shop))["invoices"][0]
    assert (invoice["status"], invoice["paidAt"]) == ("OPEN", None)
    assert (await wallet(api, shop))["balance"]["available"]["amount"] == "150.00"
    # when a card that pays is saved and the retry falls due a day later
    await attach_card(api, shop, webhooks)
    early = await issue_invoices_job(jobs, days_from_now(0.9))
    retried = await issue_invoices_job(jobs, days_from_now(1.01))
    again = await issue_invoices_job(jobs, days_from_now(5))
    # then it is charged once, and credited
    assert str(early) == "no invoices due"
    assert retried.outcomes.get("paid") == 1
    assert str(again) == "no invoices due"
    paid = (await center(api, shop))["invoices"]
    assert [(i["status"], i["amountDue"]["amount"]) for i in paid] == [("PAID", "300.00")]
    assert await webhooks.sandbox.charges_made(paid[0]["paymentReference"]) == 1
    shown = await wallet(api, shop)
    assert shown["balance"]["available"]["amount"] == "450.00"
    assert (shown["autoRecharge"]["status"], shown["autoRecharge"]["rechargedThisMonth"]) == (
        "ACTIVE",
        {"amount": "300.00"},
    )
    async with sessions() as session:
        assert await verify_ledger(session) == []


async def test_three_declines_void_the_recharge_and_suspend_the_rule_until_set_again(
    api, users, webhooks, jobs
) -> None:
    # given a card that declines every charge
    shop = await recharge_center(api, users, webhooks, "500.00", declining=True)
    await set_rule(api, shop, "200.00", amount="300.00")
    # when the crossing's charge and its retries (1 day, then 3 days later) decline
    await spend(api, shop, "350.00", "x1")
    second = await issue_invoices_job(jobs, days_from_now(1.01))
    third = await issue_invoices_job(jobs, days_from_now(4.02))
    after = await issue_invoices_job(jobs, days_from_now(10))
    # then the third voids the invoice and suspends the rule, told once
    assert second.outcomes.get("declined") == 1
    assert third.outcomes.get("suspended") == 1
    assert str(after) == "no invoices due"
    found = await center(api, shop)
    assert [i["status"] for i in found["invoices"]] == ["VOID"]
    assert [n["kind"] for n in found["notifications"]].count("AUTO_RECHARGE_SUSPENDED") == 1
    assert "AUTO_RECHARGE_SUSPENDED" in [a["action"] for a in found["audit"]]
    shown = await wallet(api, shop)
    assert shown["autoRecharge"]["status"] == "SUSPENDED"
    assert shown["balance"]["available"]["amount"] == "150.00"
    suspended = await feed_events(api, shop.center.id, shop.token, ["auto_recharge.suspended"])
    assert [e["data"]["status"] for e in suspended] == ["SUSPENDED"]
    assert suspended[0]["data"]["wallet"] == {"id": shop.center.wallet_id}
    assert suspended[0]["data"]["invoice"] == {"id": found["invoices"][0]["id"]}
    # and a suspended rule starts nothing, until a member sets it again
    await spend(api, shop, "10.00", "x2")
    assert len((await center(api, shop))["invoices"]) == 1
    await attach_card(api, shop, webhooks)
    again = await set_rule(api, shop, "200.00", amount="300.00")
    assert again["wallet"]["autoRecharge"]["status"] == "ACTIVE"
    statuses = [i["status"] for i in (await center(api, shop))["invoices"]]
    assert statuses == ["PAID", "VOID"]  # newest first: recharged at once, 140.00 < 200.00
    assert (await wallet(api, shop))["balance"]["available"]["amount"] == "440.00"


async def test_a_landing_recharge_restarts_the_campaigns_stopped_for_money(
    api, users, webhooks, jobs
) -> None:
    # given a center whose spend empties it while its recharge is declined
    shop = await recharge_center(api, users, webhooks, "100.00", declining=True)
    await set_rule(api, shop, "50.00", amount="300.00")
    await spend(api, shop, "100.00", "r1")
    state = await campaign_state(api, shop.campaigns[0], shop.token)
    assert (state["status"], state["stopReasonCode"]) == ("BUDGET_EXHAUSTED", "BUSINESS_CENTER_BALANCE_EXHAUSTED")  # fmt: skip
    # when the retry is paid by a new card
    await attach_card(api, shop, webhooks)
    retried = await issue_invoices_job(jobs, days_from_now(1.01))
    # then the campaign delivers again (from the job's instant), on the recharged money
    assert retried.outcomes.get("paid") == 1
    state = await campaign_state(api, shop.campaigns[0], shop.token)
    assert (state["status"], state["stopReason"]) == ("ACTIVE", None)
    assert (await wallet(api, shop))["balance"]["available"]["amount"] == "300.00"


# -- the monthly cap ---------------------------------------------------------------------


async def test_the_monthly_cap_cuts_the_last_recharge_then_stops_them_and_tells_once(
    api, users, webhooks
) -> None:
    # given recharges of 300.00 below 200.00, at most 400.00 a month
    shop = await recharge_center(api, users, webhooks, "500.00")
    await set_rule(api, shop, "200.00", amount="300.00", cap="400.00")
    # when three crossings follow each other
    await spend(api, shop, "350.00", "m1")  # 150.00 + 300.00 = 450.00
    await spend(api, shop, "300.00", "m2")  # 150.00 + 100.00 (what the cap leaves) = 250.00
    await spend(api, shop, "100.00", "m3")  # 150.00: the cap is reached
    await users.fund(shop.center.wallet_id, "100.00")
    await spend(api, shop, "10.00", "m4")  # 240.00: armed again
    await spend(api, shop, "100.00", "m5")  # 140.00: still capped
    # then 400.00 was recharged, and the cap told once
    found = await center(api, shop)
    assert [(i["status"], i["amountDue"]["amount"]) for i in found["invoices"]] == [
        ("PAID", "100.00"),
        ("PAID", "300.00"),
    ]
    assert [n["kind"] for n in found["notifications"]].count("AUTO_RECHARGE_CAP_REACHED") == 1
    shown = await wallet(api, shop)
    assert shown["autoRecharge"]["rechargedThisMonth"]["amount"] == "400.00"
    assert shown["balance"]["available"]["amount"] == "140.00"


# -- bad settings, roles, keys -----------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "code", "field"),
    [
        ({"threshold": "0.00"}, "INVALID_INPUT", ["input", "threshold", "amount"]),
        ({"amount": "-5.00"}, "INVALID_INPUT", ["input", "amount", "amount"]),
        ({"amount": "5.00"}, "INVALID_INPUT", ["input", "amount", "amount"]),
        ({"target": "600.00"}, "INVALID_INPUT", ["input", "amount"]),
        ({"amount": None}, "INVALID_INPUT", ["input", "amount"]),
        (
            {"amount": None, "target": "200.00"},
            "INVALID_INPUT",
            ["input", "targetBalance", "amount"],
        ),
        (
            {"amount": None, "target": "205.00"},
            "INVALID_INPUT",
            ["input", "targetBalance", "amount"],
        ),
        ({"cap": "299.99"}, "INVALID_INPUT", ["input", "monthlyCap", "amount"]),
        ({"currency": "EUR"}, "CURRENCY_MISMATCH", ["input", "threshold", "currencyCode"]),
    ],
)
async def test_bad_settings_are_refused_naming_the_field_and_change_nothing(
    api, users, webhooks, given, code, field
) -> None:
    shop = await recharge_center(api, users, webhooks, "100.00")

    refused = await set_rule(api, shop, **given)

    assert (refused["code"], refused["field"]) == (code, field), refused
    await _nothing_set(api, shop)


async def test_without_a_saved_card_the_rule_is_refused(api, users) -> None:
    shop = await open_center(api, users, ["0.00"])

    refused = await set_rule(api, shop)

    assert refused["__typename"] == "InvalidStateError"
    assert "createCardSetup" in refused["message"]
    await _nothing_set(api, shop)


@pytest.mark.parametrize("role", ["FINANCE_ANALYST", "STANDARD"])
async def test_only_admins_and_finance_managers_set_or_disable_it(
    api, users, webhooks, role
) -> None:
    shop = await recharge_center(api, users, webhooks, "500.00")
    member = await users.create(role.lower())
    await add_member(api, shop.center, member, role)
    manager = await users.create("finance")
    await add_member(api, shop.center, manager, "FINANCE_MANAGER")

    asked = {
        "walletId": shop.center.wallet_id,
        "threshold": {"amount": "200.00", "currencyCode": "USD"},
        "amount": {"amount": "300.00", "currencyCode": "USD"},
    }
    refused = await api.data(BARE_SET, {"input": asked}, member.token)
    allowed = await set_rule(api, shop, token=manager.token)
    not_disabled = await api.data(BARE_DISABLE, {"input": {"walletId": asked["walletId"]}}, member.token)  # fmt: skip

    assert refused["setAutoRecharge"] == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}
    assert allowed["__typename"] == "WalletSettingsSuccess"
    assert not_disabled["disableAutoRecharge"]["code"] == "FORBIDDEN"
    assert (await wallet(api, shop))["autoRecharge"]["status"] == "ACTIVE"


async def test_disabling_stops_recharges_and_a_keyed_set_replays_without_a_change(
    api, users, webhooks
) -> None:
    # given a rule set with a key
    shop = await recharge_center(api, users, webhooks, "500.00")
    first = await set_rule(api, shop, key="rule-1")
    # when the same request is sent again, then another input with the same key
    replayed = await set_rule(api, shop, key="rule-1")
    reused = await set_rule(api, shop, amount="400.00", key="rule-1")
    # then the replay answers the same and records nothing more; the reuse is refused
    assert replayed == first
    assert (reused["code"], reused["field"]) == ("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])  # fmt: skip
    actions = [a["action"] for a in (await center(api, shop))["audit"]]
    assert actions.count("AUTO_RECHARGE_SET") == 1
    # when it is disabled, a crossing charges nothing
    disabled = await _disable(api, shop, shop.token)
    assert disabled == {"__typename": "WalletSettingsSuccess", "wallet": {"autoRecharge": None}}
    await spend(api, shop, "350.00", "k1")
    found = await center(api, shop)
    assert found["invoices"] == []
    assert "AUTO_RECHARGE_DISABLED" in [a["action"] for a in found["audit"]]
    # and a replay of the old key sets nothing again
    assert (await set_rule(api, shop, key="rule-1")) == {
        "__typename": "WalletSettingsSuccess",
        "wallet": {"id": shop.center.wallet_id, "autoRecharge": None},
    }
    assert (await wallet(api, shop))["autoRecharge"] is None


BARE_SET = """mutation($input: SetAutoRechargeInput!) { setAutoRecharge(input: $input) {
  __typename ... on UserError { code } } }"""
BARE_DISABLE = """mutation($input: WalletSettingsInput!) { disableAutoRecharge(input: $input) {
  __typename ... on UserError { code } } }"""


async def _nothing_set(api, shop) -> None:
    assert (await wallet(api, shop))["autoRecharge"] is None
    found = await center(api, shop)
    assert found["invoices"] == []
    assert not [a for a in found["audit"] if a["action"].startswith("AUTO_RECHARGE")]


async def _disable(api, shop, token: str) -> dict:
    variables = {"input": {"walletId": shop.center.wallet_id}}
    return (await api.data(DISABLE, variables, token))["disableAutoRecharge"]


async def test_a_plan_renewal_paid_from_a_wallet_with_a_rule_renews(
    api, users, webhooks, jobs
) -> None:
    shop = await recharge_center(api, users, webhooks, "300.00")
    await set_rule(api, shop, "200.00", amount="300.00")

    report = await renew_subscriptions_job(jobs, await period_end(api, shop.center))

    assert "1 paid from balance" in str(report), str(report)
