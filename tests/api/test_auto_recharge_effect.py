"""Automatic recharge through its outbox effect (issue 27, docs/billing.md): the transaction
that crosses the threshold numbers no recharge invoice (its guard rows come after the
invoice counter, which it may hold: a renewal, a launch opening a shortfall invoice); it
declares `auto_recharge.open`, which opens the invoice after the commit and charges it,
once however often it runs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from adledger import clock
from adledger.jobs.billing import renew_subscriptions_job, tools_of
from adledger.jobs.outbox import OutboxReport, run_outbox_job
from adledger.schema.ids import db_id_of
from adledger.services import auto_recharge, effects
from adledger.services.effect_kinds import OPEN_RECHARGE, open_recharge_key
from adledger.services.verify import verify_ledger
from adledger.store.guard_models import AutoRechargeRule
from adledger.store.models import OutboxEffect
from adledger.store.outbox import effect as outbox_effect
from tests.api.allocation_fixtures import AutoCenter
from tests.api.campaign_fixtures import open_shop
from tests.api.event_scenarios import period_end
from tests.api.installment_fixtures import attach_card
from tests.api.recharge_fixtures import (
    DISABLE,
    SET,
    center,
    recharge_center,
    set_rule,
    wallet,
)
from tests.helpers import balance, launch, new_campaign

USD = "USD"


async def _renewed_below_the_threshold(api, users, webhooks, jobs) -> AutoCenter:
    """A center wallet of 300.00, recharged by 300.00 below 200.00, whose PRO plan renews
    from it (199.00: 101.00 left) in the renewal job: the recharge is declared, not run
    (a job's commit leaves its effects to run-outbox)."""
    shop = await recharge_center(api, users, webhooks, "300.00")
    await set_rule(api, shop, "200.00", amount="300.00")
    report = await renew_subscriptions_job(jobs, await period_end(api, shop.center))
    assert "1 paid from balance" in str(report), str(report)
    return shop


def _wallet_id(shop: AutoCenter) -> int:
    found = db_id_of(shop.center.wallet_id, "Wallet")
    assert found is not None
    return found


async def _declared(sessions, shop: AutoCenter) -> OutboxEffect:
    """The one recharge declared for the shop's center wallet."""
    async with sessions() as session:
        found = await session.scalars(
            select(OutboxEffect).where(OutboxEffect.kind == OPEN_RECHARGE)
        )
        declared = [e for e in found if e.payload["wallet_id"] == _wallet_id(shop)]
    assert len(declared) == 1, declared
    return declared[0]


async def _rule(sessions, shop: AutoCenter) -> AutoRechargeRule:
    async with sessions() as session:
        found = await session.get(AutoRechargeRule, _wallet_id(shop))
    assert found is not None
    return found


async def test_a_renewal_crossing_the_threshold_is_recharged_by_run_outbox(
    api, users, webhooks, jobs, sessions
) -> None:
    # given a renewal that took the wallet to 101.00, below its rule's 200.00
    shop = await _renewed_below_the_threshold(api, users, webhooks, jobs)
    # then nothing is opened yet: the rule is marked, and the effect declared
    assert (await center(api, shop))["invoices"] == []
    rule = await _rule(sessions, shop)
    assert (rule.armed, rule.crossings, rule.in_flight_invoice_id) == (False, 1, None)
    assert rule.pending_since is not None
    effect = await _declared(sessions, shop)
    assert effect.idempotency_key == open_recharge_key(rule.wallet_id, 1)
    assert effect.payload["amount"] == 30000
    # when run-outbox runs once the effect is due
    ran = await run_outbox_job(jobs, clock.now() + timedelta(minutes=1))
    # then one recharge is opened, charged to the card once, and credited
    assert ran == OutboxReport(done=1)
    found = await center(api, shop)
    assert [(i["status"], i["amountDue"]["amount"]) for i in found["invoices"]] == [
        ("PAID", "300.00")
    ]
    assert await webhooks.sandbox.charges_made(found["invoices"][0]["paymentReference"]) == 1
    assert (await wallet(api, shop))["balance"]["available"]["amount"] == "401.00"
    assert [a["action"] for a in found["audit"]].count("AUTO_RECHARGE_STARTED") == 1
    rule = await _rule(sessions, shop)
    assert (rule.pending_since, rule.in_flight_invoice_id) == (None, None)
    async with sessions() as session:
        assert await verify_ledger(session) == []


async def test_the_open_effect_run_twice_opens_one_invoice_and_charges_it_once(
    api, users, webhooks, jobs, sessions
) -> None:
    # given a recharge declared by a renewal, not run yet
    shop = await _renewed_below_the_threshold(api, users, webhooks, jobs)
    effect = await _declared(sessions, shop)
    payload, tools = effect.payload, tools_of(jobs)
    # when its first run dies right after the commit that opened the invoice (before the
    # charge), then it runs again twice (killed before marking it done), then run-outbox
    opened = await tools.transact(
        lambda s: auto_recharge.open_recharge(
            s, payload["wallet_id"], payload["crossing"], payload["amount"], clock.now()
        )
    )
    again = await effects.KINDS[OPEN_RECHARGE].run(tools, payload)
    once_more = await effects.KINDS[OPEN_RECHARGE].run(tools, payload)
    ran = await run_outbox_job(jobs, clock.now() + timedelta(minutes=1))
    # then the second run charged what the first opened, and the others did nothing
    assert opened is not None and again == opened
    assert once_more is None  # paid meanwhile: nothing in flight
    assert ran == OutboxReport(done=1)
    # and one invoice was opened, charged once, credited once
    found = await center(api, shop)
    assert [(i["status"], i["amountDue"]["amount"]) for i in found["invoices"]] == [
        ("PAID", "300.00")
    ]
    assert await webhooks.sandbox.charges_made(found["invoices"][0]["paymentReference"]) == 1
    assert (await wallet(api, shop))["balance"]["available"]["amount"] == "401.00"
    async with sessions() as session:
        done = await outbox_effect(session, effect.idempotency_key)
        assert done is not None and done.done_at is not None
        assert await verify_ledger(session) == []


async def test_a_rule_disabled_before_its_effect_runs_opens_nothing_and_drops_the_mark(
    api, users, webhooks, jobs, sessions
) -> None:
    # given a recharge declared by a renewal, not run yet
    shop = await _renewed_below_the_threshold(api, users, webhooks, jobs)
    # when a member disables the rule, then run-outbox runs the effect
    variables = {"input": {"walletId": shop.center.wallet_id}}
    disabled = (await api.data(DISABLE, variables, shop.token))["disableAutoRecharge"]
    assert disabled["__typename"] == "WalletSettingsSuccess", disabled
    ran = await run_outbox_job(jobs, clock.now() + timedelta(minutes=1))
    # then nothing is opened nor charged, and the mark is cleared
    assert ran == OutboxReport(done=1)
    assert (await center(api, shop))["invoices"] == []
    rule = await _rule(sessions, shop)
    assert (rule.status, rule.pending_since, rule.in_flight_invoice_id) == ("DISABLED", None, None)
    # and set again, the rule recharges the wallet still below it at once
    again = await set_rule(api, shop, "200.00", amount="300.00")
    assert again["wallet"]["autoRecharge"]["status"] == "ACTIVE"
    invoices = (await center(api, shop))["invoices"]
    assert [(i["status"], i["amountDue"]["amount"]) for i in invoices] == [("PAID", "300.00")]
    assert (await wallet(api, shop))["balance"]["available"]["amount"] == "401.00"


async def test_a_rule_set_again_before_its_effect_runs_replaces_the_pending_recharge(
    api, users, webhooks, jobs
) -> None:
    # given a recharge of 300.00 declared by a renewal, not run yet
    shop = await _renewed_below_the_threshold(api, users, webhooks, jobs)
    # when the rule is set again to 250.00 (decided at once), then run-outbox runs
    await set_rule(api, shop, "200.00", amount="250.00")
    ran = await run_outbox_job(jobs, clock.now() + timedelta(minutes=1))
    # then only the new setting's recharge is opened (the old effect opens nothing)
    assert ran == OutboxReport(done=1)
    invoices = (await center(api, shop))["invoices"]
    assert [(i["status"], i["amountDue"]["amount"]) for i in invoices] == [("PAID", "250.00")]
    assert (await wallet(api, shop))["balance"]["available"]["amount"] == "351.00"


async def test_a_launch_opening_a_shortfall_invoice_on_a_guarded_wallet_recharges_it(
    api, users, webhooks, sessions
) -> None:
    # given an account wallet of 250.00, recharged by 300.00 below 200.00
    shop = await open_shop(api, users, cash="250.00")
    await attach_card(api, shop, webhooks)
    money = {"currencyCode": USD}
    rule = {
        "walletId": shop.account.wallet_id,
        "threshold": {"amount": "200.00", **money},
        "amount": {"amount": "300.00", **money},
    }
    made = (await api.data(SET, {"input": rule}, shop.token))["setAutoRecharge"]
    assert made["__typename"] == "WalletSettingsSuccess", made
    campaign_id = await new_campaign(api, shop.account, shop.token, "1000.00")
    # when a 1000.00 campaign launches: 250.00 held, a shortfall invoice numbered for 750.00
    launched = await launch(api, campaign_id, shop.token)
    # then the launch succeeds, and the crossing (0.00 available) is recharged after it
    assert launched["campaign"]["status"] == "PENDING_FUNDS", launched
    shortfall = launched["shortfallInvoice"]
    assert (shortfall["kind"], shortfall["amountDue"]["amount"]) == ("CAMPAIGN_SHORTFALL", "750.00")
    found = await center(api, shop)
    recharges = [(i["kind"], i["status"], i["amountDue"]["amount"]) for i in found["invoices"]]
    assert recharges == [("AUTO_RECHARGE", "PAID", "300.00")]
    assert await webhooks.sandbox.charges_made(found["invoices"][0]["paymentReference"]) == 1
    held = await balance(api, shop.account.wallet_id, shop.token)
    assert held["available"]["amount"] == "300.00", held
    async with sessions() as session:
        assert await verify_ledger(session) == []


async def test_a_rule_disabled_while_its_invoice_is_opened_rolls_the_invoice_back(
    api, users, webhooks, jobs, sessions, monkeypatch
) -> None:
    # given a recharge declared by a renewal, whose effect reads the rule still active,
    # and a member disabling the rule right after that read (before the effect locks it)
    shop = await _renewed_below_the_threshold(api, users, webhooks, jobs)
    effect = await _declared(sessions, shop)
    read = auto_recharge.repo.rule_of
    reads = 0

    async def disabled_after_the_first_read(session, wallet_id):
        nonlocal reads
        reads += 1
        seen = await read(session, wallet_id)
        if reads == 1:
            async with sessions() as other:
                rule = await other.get(AutoRechargeRule, wallet_id)
                assert rule is not None
                rule.status = "DISABLED"
                await other.commit()
        return seen

    monkeypatch.setattr(auto_recharge.repo, "rule_of", disabled_after_the_first_read)
    # when the effect runs
    opened = await effects.KINDS[OPEN_RECHARGE].run(tools_of(jobs), effect.payload)
    # then the invoice it opened was rolled back with its transaction, and run again it
    # found the rule disabled: nothing opened, the mark cleared
    assert (opened, reads) == (None, 2)
    assert (await center(api, shop))["invoices"] == []
    rule = await _rule(sessions, shop)
    assert (rule.status, rule.pending_since, rule.in_flight_invoice_id) == ("DISABLED", None, None)
