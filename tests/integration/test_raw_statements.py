"""store/raw.py: hot-path statements run inside the session's transaction, never beside it."""

from __future__ import annotations

from sqlalchemy import text

from adledger.store import raw


async def test_a_raw_statement_first_in_a_session_runs_inside_its_transaction(sessions, db) -> None:
    # given a session that has sent nothing yet
    async with sessions() as session:
        # when its first statement goes through raw and the session rolls back
        await raw.execute(session, "CREATE TEMP TABLE raw_probe (n int)")
        await raw.execute(session, "INSERT INTO raw_probe VALUES (1)")
        assert await raw.fetchval(session, "SELECT count(*) FROM raw_probe") == 1
        await session.rollback()
        # then the table went with the transaction: BEGIN was sent before the statement
        gone = await session.scalar(text("SELECT to_regclass('pg_temp.raw_probe') IS NULL"))
        assert gone is True


async def test_raw_and_orm_statements_share_one_transaction(sessions, db) -> None:
    # given a transaction begun by the ORM
    async with sessions() as session:
        backend = await session.scalar(text("SELECT pg_backend_pid()"))
        xid = await session.scalar(text("SELECT txid_current()"))
        # when raw statements follow
        # then they run on the same connection, in the same transaction
        assert await raw.fetchval(session, "SELECT pg_backend_pid()") == backend
        assert await raw.fetchval(session, "SELECT txid_current()") == xid
        row = await raw.fetchrow(session, "SELECT $1::int AS n, $2::text AS t", 7, "x")
        assert row is not None and (row["n"], row.t) == (7, "x")
        assert [r["n"] for r in await raw.fetch(session, "SELECT generate_series(1, 3) AS n")] == [
            1,
            2,
            3,
        ]
        await session.rollback()


async def test_statement_counts_see_raw_statements(sessions, db, statements) -> None:
    async with sessions() as session:
        statements.count = 0
        await raw.fetchval(session, "SELECT 1")
        await session.scalar(text("SELECT 2"))
        assert statements.count == 2
        assert statements.statements == ["SELECT 1", "SELECT 2"]
        await session.rollback()
