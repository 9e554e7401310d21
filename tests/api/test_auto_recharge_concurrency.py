"""A burst of spend crossing a wallet's recharge threshold starts one recharge: the
transactions that move the wallet's money decide in turn, under its rule's lock."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from adledger.services.verify import verify_ledger
from tests.api.allocation_fixtures import live_campaigns, open_center, unlimited
from tests.api.installment_fixtures import attach_card
from tests.api.recharge_fixtures import center, set_rule, wallet
from tests.helpers import record_spend, spend_event


async def test_fifty_concurrent_spend_batches_crossing_the_threshold_start_one_recharge(
    api, users, webhooks, sessions
) -> None:
    # given five accounts drawing on a center of 500.00 recharged by 300.00 below 200.00
    shop = await open_center(api, users, ["0.00"] * 5)
    await unlimited(api, shop)
    await users.fund(shop.center.wallet_id, "500.00")
    campaigns = await live_campaigns(api, shop)
    await attach_card(api, shop, webhooks)
    made = await set_rule(api, shop, "200.00", amount="300.00")
    assert made["__typename"] == "WalletSettingsSuccess", made

    # when each account reports 10 batches of 10.00 at once (500.00 in all)
    async def report(n: int, campaign_id: str) -> dict:
        events = [spend_event(f"burst-{n}-{campaign_id}", campaign_id, "10.00")]
        return await record_spend(api, events, shop.adserver.token)

    results = await asyncio.gather(*(report(n, c) for n in range(10) for c in campaigns))

    # then every batch is accepted, and exactly one recharge was invoiced and charged
    assert [(r["accepted"], r["refused"]) for r in results] == [(1, [])] * 50
    invoices = (await center(api, shop))["invoices"]
    assert [(i["status"], i["amountDue"]["amount"]) for i in invoices] == [("PAID", "300.00")]
    assert await webhooks.sandbox.charges_made(invoices[0]["paymentReference"]) == 1
    assert (await wallet(api, shop))["balance"]["available"]["amount"] == "300.00"
    async with sessions() as session:
        kinds = await session.scalars(
            text("SELECT kind FROM outbox WHERE payload->>'invoice_id' = :id"),
            {"id": str(await _invoice_db_id(session, invoices[0]["number"]))},
        )
        assert list(kinds) == ["invoice.collect"]
        assert await verify_ledger(session) == []


async def _invoice_db_id(session, number: str) -> int:
    found = await session.scalar(text("SELECT id FROM invoices WHERE number = :n"), {"n": number})
    return int(found)
