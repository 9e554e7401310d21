"""Automatic recharge (issue 27, docs/billing.md): a wallet falling below its rule's
threshold charges the center's saved card once per crossing, credited only when paid."""

from __future__ import annotations

from adledger.services.verify import verify_ledger
from tests.api.recharge_fixtures import center, recharge_center, set_rule, spend, wallet


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
    async with sessions() as session:
        assert await verify_ledger(session) == []
