"""CSV exports, the file itself: any number of rows streamed in order from one read-only
snapshot, and a client that leaves mid-file costs the API nothing it keeps (its database
connection is given back)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import text

from adledger import clock
from adledger.app import exports as export_routes
from adledger.domain.ledger import AccountKind
from adledger.schema.ids import db_id_of
from adledger.services import exports as export_service
from adledger.store import exports as export_store
from adledger.store.ledger import platform_account_id
from tests.api.test_exports import around_now, download, rows
from tests.helpers import Api, create_center


async def seed_postings(sessions, wallet_gid: str, count: int) -> None:
    """`count` entries of cash into the empty wallet from the platform's clearing account, a
    millisecond apart ending now, each summing to zero, the running balance and the cached
    one kept (bench/exports.py seeds a million the same way)."""
    wallet_id = db_id_of(wallet_gid, "Wallet")
    async with sessions() as session:
        clearing = await platform_account_id(session, AccountKind.PAYMENTS_CLEARING, "USD")
        cash = await session.scalar(
            text("SELECT id FROM ledger_accounts WHERE key = :key"),
            {"key": f"wallet:{wallet_id}:cash"},
        )
        start = clock.now() - timedelta(milliseconds=count + 1)
        values = {"n": count, "start": start, "cash": cash, "opening": 0, "clearing": clearing}
        await session.execute(text(SEED), values)
        await session.execute(
            text(
                "UPDATE ledger_accounts SET balance = balance + "
                "(SELECT SUM(g % 997 + 1) FROM generate_series(1, :n) g) WHERE id = :cash"
            ),
            {"n": count, "cash": cash},
        )
        await session.commit()


SEED = """
WITH seq AS MATERIALIZED (
  SELECT g, nextval(pg_get_serial_sequence('ledger_entries', 'id')) AS entry_id,
         CAST(:start AS timestamptz) + g * interval '1 millisecond' AS at,
         CAST(g % 997 + 1 AS bigint) AS amount
  FROM generate_series(1, CAST(:n AS integer)) AS g
), entries AS (
  INSERT INTO ledger_entries (id, operation, idempotency_key, description, created_at)
  SELECT entry_id, 'seed', 'seed:' || entry_id, 'seeded ' || g, at FROM seq
), cash_side AS (
  INSERT INTO ledger_postings (entry_id, account_id, amount, balance_after, kind, created_at)
  SELECT entry_id, :cash, amount, :opening + SUM(amount) OVER (ORDER BY g), 'ADJUSTMENT', at
  FROM seq
)
INSERT INTO ledger_postings (entry_id, account_id, amount, balance_after, kind, created_at)
SELECT entry_id, :clearing, -amount, NULL, 'ADJUSTMENT', at FROM seq
"""


async def test_a_file_of_many_chunks_streams_every_row_in_order(api, users, sessions) -> None:
    # given a wallet with 3,000 transactions more than a chunk of the stream holds
    admin = await users.create("admin")
    center = await create_center(api, admin)
    await seed_postings(sessions, center.wallet_id, 3000)
    # when it is exported
    response = await download(api, admin.token, walletId=center.wallet_id)
    # then every row is there once, by time, and each balance follows the one before
    assert len(response.content) > 3 * export_service.CHUNK_BYTES
    lines = rows(response)[1:]
    assert [line[4] for line in lines] == [f"seeded {g}" for g in range(1, 3001)]
    cents = [round(float(line[9]) * 100) for line in lines]
    amounts = [round(float(line[7]) * 100) for line in lines]
    assert all(cents[i] == cents[i - 1] + amounts[i] for i in range(1, len(lines)))


async def test_an_export_reads_one_read_only_snapshot(sessions) -> None:
    # given a session an export opens
    async with sessions() as session:
        await export_service.open_snapshot(session)
        # when its transaction is asked what it is
        found = (
            await session.execute(
                text(
                    "SELECT current_setting('transaction_isolation'), "
                    "current_setting('transaction_read_only')"
                )
            )
        ).one()
    # then it is REPEATABLE READ and READ ONLY
    assert tuple(found) == ("repeatable read", "on")
    assert export_store.PREFETCH <= 10_000


async def test_a_client_that_leaves_mid_file_gives_its_connection_back(
    serve, users, sessions, database_url, redis_url
) -> None:
    # given the API behind a real server, and a wallet whose file is far larger than what
    # the sockets between them buffer
    live = await serve()
    base = f"http://{live.url}"
    async with httpx.AsyncClient(base_url=base) as client:
        api = Api(client)
        admin = await users.create("admin")
        center = await create_center(api, admin)
        await seed_postings(sessions, center.wallet_id, 100_000)
        params = around_now(walletId=center.wallet_id)
        headers = {"Authorization": f"Bearer {admin.token}"}
        # when a client reads the first chunk of the file, then goes away
        async with client.stream(
            "GET", "/exports/transactions.csv", params=params, headers=headers
        ) as response:
            assert response.status_code == 200
            first = await anext(response.aiter_raw())
    # then the export's transaction ends and its connection is back in the pool
    pool = live.app.state.adledger.read_engine.pool
    for _ in range(100):
        if pool.checkedout() == 0 and not await _exports_running(sessions):
            break
        await asyncio.sleep(0.05)
    assert first.startswith(b"time,wallet_id,")
    assert pool.checkedout() == 0
    assert await _exports_running(sessions) == 0
    assert export_routes._streaming == [0]  # its slot given back too


async def test_a_server_streaming_all_it_may_refuses_one_more_until_a_slot_is_free(
    api, users, monkeypatch
) -> None:
    # given a center, and a server whose every export slot is taken
    admin = await users.create("admin")
    center = await create_center(api, admin)
    headers = {"Authorization": f"Bearer {admin.token}"}
    params = around_now(walletId=center.wallet_id)
    monkeypatch.setattr(export_routes, "STREAMS_PER_PROCESS", 0)

    # when one more is asked for, then again once a slot is free
    refused = await api.client.get("/exports/transactions.csv", params=params, headers=headers)
    monkeypatch.setattr(export_routes, "STREAMS_PER_PROCESS", 4)
    served = await api.client.get("/exports/transactions.csv", params=params, headers=headers)

    # then the first waits a few seconds (nothing opened), the second is the file
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "5")
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert served.status_code == 200
    assert export_routes._streaming == [0]


async def _exports_running(sessions) -> int:
    """Backends still in an export's statement or transaction."""
    async with sessions() as session:
        found = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND query LIKE '%ORDER BY p.created_at, p.id%' "
                "AND state <> 'idle'"
            )
        )
    return int(found or 0)


async def test_a_head_request_runs_no_export(api, users) -> None:
    admin = await users.create("admin")
    center = await create_center(api, admin)
    headers = {"Authorization": f"Bearer {admin.token}"}
    params = around_now(walletId=center.wallet_id)
    answer = await api.client.head("/exports/transactions.csv", params=params, headers=headers)
    assert (answer.status_code, answer.headers["allow"]) == (405, "GET")
