"""recordSpend batches that mix the campaigns of many business centers, as an ad server
sends them: they lock and write per batch in a few set-based statements, not per center
(issue 28)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from tests.api.campaign_fixtures import open_shop
from tests.helpers import campaign, launch, new_campaign, record_spend, spend_event


async def _campaigns_of_centers(api, users, n: int) -> tuple[list[str], list[str], str]:
    """`n` business centers with one launched campaign each: their ids, their admins'
    tokens, and the ad server's token."""
    ids, tokens, adserver = [], [], ""
    for _ in range(n):
        shop = await open_shop(api, users, cash="100.00")
        campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
        await launch(api, campaign_id, shop.token)
        ids.append(campaign_id)
        tokens.append(shop.token)
        adserver = shop.adserver.token
    return ids, tokens, adserver


async def _mixed_batch(api, tag: str, ids: list[str], token: str, size: int) -> dict:
    events = [spend_event(f"{tag}-{i}", ids[i % len(ids)], "0.01") for i in range(size)]
    return await record_spend(api, events, token)


async def test_a_batch_over_twenty_centers_costs_the_statements_of_one_over_two(
    api, users, statements
) -> None:
    # given 2 centers and 20 centers, one campaign each, each having spent once already
    two, _, token = await _campaigns_of_centers(api, users, 2)
    twenty, _, _ = await _campaigns_of_centers(api, users, 20)
    await _mixed_batch(api, "warm-2", two, token, 40)
    await _mixed_batch(api, "warm-20", twenty, token, 40)

    # when a batch of 200 events cycles over the 2 campaigns, then one over the 20
    statements.statements.clear()
    over_two = await _mixed_batch(api, "two", two, token, 200)
    cost_two = len(statements.statements)
    statements.statements.clear()
    over_twenty = await _mixed_batch(api, "twenty", twenty, token, 200)
    cost_twenty = len(statements.statements)

    # then both are applied whole, the second costs no more statements than the first, and
    # the campaigns' and accounts' totals go with the ledger entries (no UPDATE of their own)
    assert (over_two["accepted"], over_two["refused"]) == (200, [])
    assert (over_twenty["accepted"], over_twenty["refused"]) == (200, [])
    assert cost_twenty <= cost_two, statements.statements
    assert cost_two <= 15, statements.statements
    own_updates = ("UPDATE campaigns", "UPDATE ad_accounts", "UPDATE ledger_accounts")
    assert [s for s in statements.statements if s.startswith(own_updates)] == []


async def test_a_mixed_batch_spends_each_campaign_its_events_and_numbers_each_centers_event(
    api, users, sessions
) -> None:
    # given 5 centers with one campaign each
    ids, tokens, adserver = await _campaigns_of_centers(api, users, 5)

    # when one batch of 23 events of 0.01 cycles over their campaigns, and is sent again
    first = await _mixed_batch(api, "mix", ids, adserver, 23)
    replay = await _mixed_batch(api, "mix", ids, adserver, 23)

    # then each campaign spent 0.01 per event it got, once, and each center's one
    # spend.applied is numbered (its feed shows it)
    assert (first["accepted"], first["duplicates"], first["refused"]) == (23, 0, [])
    assert (replay["accepted"], replay["duplicates"]) == (0, 23)
    spent = [
        (await campaign(api, c, t))["spent"]["amount"] for c, t in zip(ids, tokens, strict=True)
    ]
    assert spent == ["0.05", "0.05", "0.05", "0.04", "0.04"]
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT count(*), count(sequence), count(DISTINCT business_center_id) "
                "FROM events WHERE type = 'spend.applied'"
            )
        )
        assert rows.one() == (5, 5, 5)


async def test_concurrent_mixed_batches_and_launches_number_each_centers_events_gaplessly(
    api, users, sessions
) -> None:
    # given 4 centers with one delivering campaign each, and a draft in each one
    shops = [await open_shop(api, users, cash="200.00") for _ in range(4)]
    ids = [await new_campaign(api, shop.account, shop.token, "50.00") for shop in shops]
    for campaign_id, shop in zip(ids, shops, strict=True):
        await launch(api, campaign_id, shop.token)
    drafts = [await new_campaign(api, shop.account, shop.token, "50.00") for shop in shops]
    adserver = shops[0].adserver.token

    # when 12 batches, each cycling over the 4 campaigns from another one first, run at
    # once beside the drafts' launches (the counters are the last locks of each
    # transaction, taken in center order whatever the order of the events)
    batches = [
        _mixed_batch(api, f"c{n}", ids[n % 4 :] + ids[: n % 4], adserver, 8) for n in range(12)
    ]
    launches = [launch(api, d, shop.token) for d, shop in zip(drafts, shops, strict=True)]
    answers = await asyncio.gather(*batches, *launches)

    # then every batch was applied whole, and each center's events are numbered 1..n
    assert [(a["accepted"], a["refused"]) for a in answers[:12]] == [(8, [])] * 12
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT business_center_id, array_agg(sequence ORDER BY sequence) "
                "FROM events GROUP BY business_center_id"
            )
        )
        numbered = {center: list(sequences) for center, sequences in rows}
    assert len(numbered) >= 4
    for sequences in numbered.values():
        assert sequences == list(range(1, len(sequences) + 1))


async def test_concurrent_batches_sharing_event_ids_apply_each_once(api, users, sessions) -> None:
    # given 4 centers with one delivering campaign each
    ids, _, adserver = await _campaigns_of_centers(api, users, 4)
    events = [spend_event(f"shared-{i}", ids[i % 4], "0.01") for i in range(20)]

    # when 6 batches holding the same 20 events, each in another order, run at once (their
    # ids are claimed before any campaign is locked: a batch waiting for another's id
    # holds no lock that one needs)
    orders = [events[n:] + events[:n] for n in range(0, 18, 3)]
    answers = await asyncio.gather(*(record_spend(api, order, adserver) for order in orders))

    # then each event was applied once, by one batch or another
    assert sum(a["accepted"] for a in answers) == 20
    assert sum(a["duplicates"] for a in answers) == 100
    async with sessions() as session:
        spent = await session.execute(
            text("SELECT sum(spent) FROM campaigns WHERE status = 'ACTIVE'")
        )
        assert spent.scalar_one() == 20


async def test_a_replayed_batch_locks_nothing(api, users, statements) -> None:
    # given a mixed batch applied once
    ids, _, adserver = await _campaigns_of_centers(api, users, 3)
    first = await _mixed_batch(api, "again", ids, adserver, 9)

    # when it is sent again
    statements.statements.clear()
    replay = await _mixed_batch(api, "again", ids, adserver, 9)

    # then every event is a duplicate, and no row was locked for it
    assert (first["accepted"], replay["accepted"], replay["duplicates"]) == (9, 0, 9)
    assert [s for s in statements.statements if "FOR NO KEY UPDATE" in s] == []
