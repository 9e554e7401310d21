"""The ledger as it grows: month partitions made ahead, event ids unique across months,
and a ledger check that reads only what was written since its last clean run."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.app.demo.seed import DemoSeed, seed_demo
from adledger.domain.money import Currency, Money
from adledger.jobs.ledger import create_partitions_job, verify_from_checkpoint
from adledger.services import wallets as wallet_service
from adledger.services.config import BillingConfig
from adledger.services.verify import settled_horizon, verify_since_checkpoint
from adledger.store.campaigns import insert_new_events
from adledger.store.ledger_checks import HORIZON_MARGIN
from adledger.store.partitions import ensure_months, partitions_of
from tests.helpers import TimeTravel

pytestmark = pytest.mark.usefixtures("db")

OLD_MONTH = date(2026, 6, 1)
MILLION = 1_000_000
# Postings this much older than the clock are behind the next check's horizon.
PAST_THE_MARGIN = HORIZON_MARGIN + timedelta(seconds=1)


async def _seeded(sessions: async_sessionmaker[AsyncSession]) -> DemoSeed:
    async with sessions() as session:
        seed = await seed_demo(session, BillingConfig(), clock.now())
        await session.commit()
    return seed


async def _execute(sessions: async_sessionmaker[AsyncSession], sql: str, **params: object) -> None:
    async with sessions() as session:
        await session.execute(text(sql), params)
        await session.commit()


# -- partitions -----------------------------------------------------------------------


async def test_the_job_makes_each_month_ahead_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given a clock in a month the migration did not reach
    now = datetime(2031, 2, 10, tzinfo=UTC)
    # when the job runs twice
    first = await create_partitions_job({"sessions": sessions}, now)
    second = await create_partitions_job({"sessions": sessions}, now)
    async with sessions() as session:
        postings = await partitions_of(session, "ledger_postings")
    # then that month and the three after it exist for every table, made once
    assert first.created == [
        f"{table}_y2031m{month:02d}"
        for table in ("ledger_postings", "spend_events", "events")
        for month in (2, 3, 4, 5)
    ]
    assert (second.created, second.present, second.blocked) == ([], 12, [])
    assert {"ledger_postings_y2031m05", "ledger_postings_default"} <= set(postings)


async def test_a_month_whose_rows_sit_in_the_default_partition_is_reported_not_made(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given a delivery report recorded by a clock in a month without a partition
    seed = await _seeded(sessions)
    recorded_at = datetime(2032, 7, 1, tzinfo=UTC)
    async with sessions() as session:
        rows = [_event("ev-far", seed.campaign_id)]
        assert set(await insert_new_events(session, rows, recorded_at)) == {"ev-far"}
        await session.commit()
    # when the job reaches that month
    async with sessions() as session:
        report = await ensure_months(session, [date(2032, 7, 1), date(2032, 8, 1)])
        await session.commit()
    # then the row stayed where it was written, and the month is reported
    assert report.blocked == ["spend_events_y2032m07"]
    assert "spend_events_y2032m07" not in report.created
    assert "ledger_postings_y2032m07" in report.created
    assert "rows of the month in the default partition: spend_events_y2032m07" in str(report)


def _event(event_id: str, campaign_id: int) -> dict[str, object]:
    return {
        "event_id": event_id,
        "campaign_id": campaign_id,
        "amount": 0,
        "impressions": 0,
        "occurred_at": datetime(2026, 11, 1, tzinfo=UTC),
    }


async def test_an_event_id_is_applied_once_across_months(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given an event recorded in one month
    seed = await _seeded(sessions)
    async with sessions() as session:
        await insert_new_events(
            session, [_event("ev-1", seed.campaign_id)], datetime(2026, 11, 30, tzinfo=UTC)
        )
        await session.commit()
    # when the same id comes again in another month's partition
    async with sessions() as session:
        again = await insert_new_events(
            session,
            [_event("ev-1", seed.campaign_id), _event("ev-2", seed.campaign_id)],
            datetime(2027, 1, 2, tzinfo=UTC),
        )
        await session.commit()
        stored = (
            await session.execute(text("SELECT event_id FROM spend_events ORDER BY event_id"))
        ).all()
    # then only the new id is taken
    assert set(again) == {"ev-2"}
    assert [row[0] for row in stored] == ["ev-1", "ev-2"]


# -- the incremental check ------------------------------------------------------------


async def _adjust(session: AsyncSession, wallet_id: int, minor: int) -> None:
    await wallet_service.credit_adjustment(
        session, wallet_id, Money(minor, Currency.USD), "finance", None
    )


async def _checked_seed(
    sessions: async_sessionmaker[AsyncSession], time_travel: TimeTravel
) -> DemoSeed:
    """The demo, checked once, its postings behind the horizon from then on."""
    seed = await _seeded(sessions)
    time_travel.by(PAST_THE_MARGIN)
    assert (await verify_from_checkpoint(sessions)).recorded
    return seed


async def _seed_old_postings(
    sessions: async_sessionmaker[AsyncSession], seed: DemoSeed, pairs: int
) -> None:
    """`pairs` entries of a month long gone, each moving 1 from the platform's clearing
    account to the center wallet's cash (its cached balance moved to match), through SQL."""
    async with sessions() as session:
        await ensure_months(session, [OLD_MONTH])
        # Test seeding only: skip the per-row foreign-key triggers of a million inserts.
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        await session.execute(_OLD_ENTRIES, {"n": pairs})
        await session.execute(_OLD_POSTINGS, {"wallet": seed.center_wallet_id})
        await session.execute(
            text(
                "UPDATE ledger_accounts SET balance = balance + :n "
                "WHERE wallet_id = :wallet AND kind = 'cash'"
            ),
            {"n": pairs, "wallet": seed.center_wallet_id},
        )
        await session.commit()


_OLD_ENTRIES = text(
    "INSERT INTO ledger_entries (operation, idempotency_key, description, created_at) "
    "SELECT 'SEED', 'seed:' || g, '', '2026-06-15 12:00+00' FROM generate_series(1, :n) g"
)
_OLD_POSTINGS = text(
    "INSERT INTO ledger_postings (entry_id, account_id, amount, balance_after, kind, created_at) "
    "SELECT e.id, x.account_id, x.amount, NULL, 'SEED', e.created_at "
    "FROM ledger_entries e CROSS JOIN LATERAL (VALUES "
    "((SELECT id FROM ledger_accounts WHERE wallet_id = :wallet AND kind = 'cash'), 1), "
    "((SELECT id FROM ledger_accounts WHERE kind = 'payments_clearing' AND currency = 'USD'), -1)"
    ") AS x(account_id, amount) WHERE e.operation = 'SEED'"
)


async def _tuples_read(session: AsyncSession, table: str) -> int:
    """Rows this transaction has read from `table` so far (its own statistics)."""
    read = await session.scalar(
        text(
            "SELECT COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0) "
            "FROM pg_stat_xact_user_tables WHERE relname = :t"
        ),
        {"t": table},
    )
    return int(read or 0)


async def test_after_a_million_postings_the_next_check_reads_only_the_new_ones(
    sessions: async_sessionmaker[AsyncSession], time_travel: TimeTravel
) -> None:
    # given a million postings of June, checked once in full (past the horizon's margin)
    seed = await _seeded(sessions)
    await _seed_old_postings(sessions, seed, MILLION // 2)
    time_travel.by(PAST_THE_MARGIN)
    first = await verify_from_checkpoint(sessions)
    assert (first.violations, first.full, first.recorded) == ([], True, True)
    assert first.postings_read >= MILLION
    # when money moves again, and the ledger is checked from the checkpoint
    async with sessions() as session:
        await wallet_service.credit_adjustment(
            session, seed.center_wallet_id, Money(250, Currency.USD), "finance", None
        )
        await session.commit()
    async with sessions() as session:
        horizon = await settled_horizon(session)
        await session.rollback()
        second = await verify_since_checkpoint(session, horizon)
        june_read = await _tuples_read(session, "ledger_postings_y2026m06")
        written = clock.now()
        this_month_read = await _tuples_read(
            session, f"ledger_postings_y{written.year:04d}m{written.month:02d}"
        )
    # then it read the two new postings, and not one row of June's partition
    assert (second.violations, second.full) == ([], False)
    assert second.postings_read == 2
    assert june_read == 0
    assert this_month_read > 0


async def test_the_incremental_check_finds_an_unbalanced_entry_and_keeps_its_checkpoint(
    sessions: async_sessionmaker[AsyncSession], time_travel: TimeTravel
) -> None:
    # given a checked ledger
    await _checked_seed(sessions, time_travel)
    # when an entry that does not sum to zero is written behind the service's back (dated
    # by the app's clock), and checked once it is behind the horizon
    await _execute(
        sessions,
        "WITH e AS (INSERT INTO ledger_entries (operation, idempotency_key, description, "
        "created_at) VALUES ('BAD', 'bad:1', '', :at) RETURNING id) "
        "INSERT INTO ledger_postings (entry_id, account_id, amount, kind, created_at) "
        "SELECT e.id, a.id, 7, 'BAD', :at FROM e, ledger_accounts a "
        "WHERE a.kind = 'revenue' AND a.currency = 'USD'",
        at=clock.now(),
    )
    time_travel.by(PAST_THE_MARGIN)
    found = await verify_from_checkpoint(sessions)
    again = await verify_from_checkpoint(sessions)
    # then both runs report it: a run with violations records no checkpoint
    assert not found.recorded
    rules = sorted(v.rule for v in found.violations)
    assert rules == ["all postings of a currency sum to zero", "entry sums to zero"]
    assert again.violations == found.violations
    assert again.since == found.since
    # (the entry is balanced again for the suite's own check at the end of the test)
    await _execute(sessions, _BALANCE_BAD_ENTRY)


# Dated as its entry is: an entry's postings share one created_at.
_BALANCE_BAD_ENTRY = (
    "INSERT INTO ledger_postings (entry_id, account_id, amount, kind, created_at) "
    "SELECT e.id, a.id, -7, 'BAD', e.created_at FROM ledger_entries e, ledger_accounts a "
    "WHERE e.idempotency_key = 'bad:1' AND a.kind = 'revenue' AND a.currency = 'USD'"
)


async def test_two_runs_from_one_checkpoint_record_it_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given a checked ledger, and then more postings
    seed = await _seeded(sessions)
    assert (await verify_from_checkpoint(sessions)).recorded
    async with sessions() as session:
        await wallet_service.credit_adjustment(
            session, seed.center_wallet_id, Money(100, Currency.USD), "finance", None
        )
        await session.commit()
    # when two runs start from that checkpoint at once
    runs = await asyncio.gather(verify_from_checkpoint(sessions), verify_from_checkpoint(sessions))
    # then both find the ledger sound, and the window is added to the sums once
    assert [run.violations for run in runs] == [[], []]
    assert sorted(run.recorded for run in runs) in ([False, True], [True, True])
    full = await verify_from_checkpoint(sessions, full=True)
    assert (full.violations, full.recorded) == ([], True)
    after = await verify_from_checkpoint(sessions)
    assert after.violations == []


# -- the horizon, on the app's clock ---------------------------------------------------


async def test_a_writer_whose_clock_runs_behind_the_databases_is_not_skipped(
    sessions: async_sessionmaker[AsyncSession], time_travel: TimeTravel
) -> None:
    # given a writer's transaction open while a check records its checkpoint
    seed = await _checked_seed(sessions, time_travel)
    async with sessions() as writer:
        await writer.execute(text("SELECT 1"))  # its transaction starts here
        during = await verify_from_checkpoint(sessions)
        # when its host's clock runs a minute behind the database's as it posts
        time_travel.by(-timedelta(minutes=1))
        await _adjust(writer, seed.center_wallet_id, 100)
        await writer.commit()
    after = await verify_from_checkpoint(sessions)
    # then its postings, dated before its transaction began, are in the next check
    assert (during.violations, during.recorded) == ([], True)
    assert (after.violations, after.postings_read) == ([], 2)


async def test_postings_dated_ahead_of_the_check_are_read_again_until_it_catches_up(
    sessions: async_sessionmaker[AsyncSession], time_travel: TimeTravel
) -> None:
    # given a checked ledger
    seed = await _checked_seed(sessions, time_travel)
    checker = clock.setting()
    # when a writer whose clock runs a day ahead posts, and the checks run on time
    time_travel.by(timedelta(days=1))
    async with sessions() as writer:
        await _adjust(writer, seed.center_wallet_id, 100)
        await writer.commit()
    clock.restore(checker)
    runs = [await verify_from_checkpoint(sessions) for _ in range(2)]
    # then each check reads them again, and none counts them into its checkpoint twice
    assert [(run.violations, run.recorded, run.postings_read) for run in runs] == [
        ([], True, 2),
        ([], True, 2),
    ]
    # and once the checks' clock has passed them, the checkpoint holds them
    time_travel.by(timedelta(days=1) + PAST_THE_MARGIN)
    caught_up = [await verify_from_checkpoint(sessions) for _ in range(2)]
    assert [(run.violations, run.postings_read) for run in caught_up] == [([], 2), ([], 0)]


async def test_checks_on_a_clock_set_a_year_back_skip_nothing(
    sessions: async_sessionmaker[AsyncSession], time_travel: TimeTravel
) -> None:
    # given every process on a clock a year behind real time (a rehearsal of a past date)
    time_travel.by(-timedelta(days=366))
    seed = await _checked_seed(sessions, time_travel)
    # when money moves, and the ledger is checked past the margin
    async with sessions() as writer:
        await _adjust(writer, seed.center_wallet_id, 100)
        await writer.commit()
    time_travel.by(PAST_THE_MARGIN)
    runs = [await verify_from_checkpoint(sessions) for _ in range(2)]
    # then the horizon is told in the app's clock: the new postings are read once
    assert [(run.violations, run.postings_read) for run in runs] == [([], 2), ([], 0)]
