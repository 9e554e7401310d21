"""Issue 29's property: for random postings over random months, closed at random moments,
a wallet's balance at every instant is the sum of its postings up to it, and every
statement's opening plus its lines is its closing, before and after the months close."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.domain.ledger import AccountKind, Move, TransactionKind
from adledger.domain.money import Currency
from adledger.domain.months import month_of, month_start, next_month
from adledger.domain.statements import month_text
from adledger.services import statements, users
from adledger.services.actor import Actor
from adledger.services.business_centers import create_business_center
from adledger.services.closings import close_next_month
from adledger.services.ledger import post_entry
from adledger.services.verify import verify_ledger
from adledger.store import ledger as ledger_repo
from adledger.store import users as user_repo
from adledger.store import wallets as wallet_repo
from adledger.store.db import make_engine, make_sessionmaker

# A year's end, a leap February, and an ordinary spring.
STARTS = [
    datetime(2026, 12, 20, 10, tzinfo=UTC),
    datetime(2028, 2, 10, 10, tzinfo=UTC),
    datetime(2026, 3, 5, 10, tzinfo=UTC),
]
PLATFORM = {AccountKind.CASH: AccountKind.PAYMENTS_CLEARING}
PLATFORM[AccountKind.VOUCHERS] = AccountKind.VOUCHER_ISSUANCE


@dataclass(frozen=True)
class Step:
    after: timedelta
    action: str  # "in", "out" or "close"
    bucket: AccountKind
    cents: int


steps = st.builds(
    Step,
    after=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=45)),
    action=st.sampled_from(["in", "in", "out", "close"]),
    bucket=st.sampled_from([AccountKind.CASH, AccountKind.VOUCHERS]),
    cents=st.integers(min_value=1, max_value=100_000),
)


async def _wallet(sessions: async_sessionmaker[AsyncSession], n: int) -> int:
    async with sessions() as session:
        email = f"statements-{n}-{clock.now().timestamp()}@example.com"
        await users.create_user(session, email)
        user = await user_repo.user_by_email(session, email)
        assert user is not None
        admin = Actor(user.id, user.email, user.is_staff)
        center = await create_business_center(session, admin, "Books", Currency.USD)
        wallet = (await wallet_repo.wallets_of_centers(session, [center.business_center_id]))[0]
        await session.commit()
        return wallet.id


async def _post(session: AsyncSession, wallet_id: int, step: Step, held: int) -> int:
    """The step's money in or out of the bucket (never more out than it holds): what moved."""
    bucket = (await wallet_repo.wallet_account(session, wallet_id, step.bucket)).id
    platform = await ledger_repo.platform_account_id(session, PLATFORM[step.bucket], "USD")
    amount = step.cents if step.action == "in" else min(step.cents, held)
    if amount == 0:
        return 0
    source, target = (platform, bucket) if step.action == "in" else (bucket, platform)
    move = Move(source, target, amount, TransactionKind.ADJUSTMENT)
    await post_entry(
        session, operation="adjustment", moves=[move], description="story", actor_user_id=None
    )
    return amount if step.action == "in" else -amount


async def _close(sessions: async_sessionmaker[AsyncSession]) -> None:
    while True:
        async with sessions() as session:
            closed = await close_next_month(session, clock.now(), clock.now())
            await session.commit()
        if closed is None:
            return


async def _postings(session: AsyncSession, wallet_id: int) -> list[tuple[int, datetime, str, int]]:
    rows = await session.execute(
        text(
            "SELECT p.id, p.created_at, a.kind, p.amount FROM ledger_postings p "
            "JOIN ledger_accounts a ON a.id = p.account_id "
            "WHERE a.wallet_id = :w AND a.kind IN ('cash', 'vouchers', 'credit_line') "
            "ORDER BY p.id"
        ),
        {"w": wallet_id},
    )
    return [tuple(row) for row in rows.all()]  # type: ignore[misc]


def _sums(postings: list[tuple[int, datetime, str, int]], before: datetime) -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    for _, created_at, bucket, amount in postings:
        if created_at < before:
            sums[bucket] += amount
    return sums


def _as_sums(snapshot: statements.Snapshot) -> dict[str, int]:
    b = snapshot.buckets
    return {"cash": b.cash, "vouchers": b.vouchers, "credit_line": b.credit_line}


def _expected(sums: dict[str, int]) -> dict[str, int]:
    return {kind: sums.get(kind, 0) for kind in ("cash", "vouchers", "credit_line")}


async def _check(sessions: async_sessionmaker[AsyncSession], wallet_id: int) -> None:
    """Every balance and statement of the wallet against its postings."""
    now, tick = clock.now(), timedelta(microseconds=1)
    async with sessions() as session:
        postings = await _postings(session, wallet_id)
        opened = postings[0][1] if postings else now
        instants = {now}
        for _, created_at, _, _ in postings:
            instants |= {created_at, created_at - tick}
        month = month_of(opened)
        while month_start(month) <= now:
            instants |= {month_start(month), month_start(month) - tick}
            month = next_month(month)
        wallet = await wallet_repo.wallet(session, wallet_id)
        assert wallet is not None
        for at in sorted(i for i in instants if wallet.created_at <= i <= now):
            snapshot = (await statements.snapshots_at(session, [wallet_id], at, now))[wallet_id]
            assert _as_sums(snapshot) == _expected(_sums(postings, at + tick)), at
        month = month_of(wallet.created_at)
        while month_start(month) <= now:
            await _check_statement(session, wallet_id, month_text(month), postings, now)
            month = next_month(month)


async def _check_statement(
    session: AsyncSession,
    wallet_id: int,
    month: str,
    postings: list[tuple[int, datetime, str, int]],
    now: datetime,
) -> None:
    found = (await statements.statements(session, [wallet_id], month, now))[wallet_id]
    assert isinstance(found, statements.Statement), found
    start, end = month_start(found.month), month_start(next_month(found.month))
    assert _as_sums(found.opening) == _expected(_sums(postings, start)), month
    assert _as_sums(found.closing) == _expected(_sums(postings, end)), month
    lines = (await statements.lines(session, [wallet_id], found.month, None, 10_000))[wallet_id]
    mine = [p for p in postings if start <= p[1] < end]
    assert [line.id for line in lines] == [p[0] for p in mine], month
    moved: dict[str, int] = defaultdict(int)
    for line in lines:
        moved[line.bucket] += line.amount
    for kind, opening in _as_sums(found.opening).items():
        assert opening + moved[kind] == _as_sums(found.closing)[kind], (month, kind)


async def _play(
    sessions: async_sessionmaker[AsyncSession], n: int, start: datetime, story: list[Step]
) -> None:
    async with sessions() as session:  # each story closes its own months
        await session.execute(text("DELETE FROM ledger_account_months"))
        await session.execute(text("DELETE FROM ledger_months"))
        await session.commit()
    clock.travel_to(start)
    wallet_id = await _wallet(sessions, n)
    held: dict[AccountKind, int] = defaultdict(int)
    for step in story:
        clock.travel_by(step.after)
        if step.action == "close":
            await _close(sessions)
            continue
        async with sessions() as session:
            held[step.bucket] += await _post(session, wallet_id, step, held[step.bucket])
            await session.commit()
    await _check(sessions, wallet_id)
    clock.travel_by(timedelta(days=40))
    await _close(sessions)
    await _check(sessions, wallet_id)
    async with sessions() as session:
        assert await verify_ledger(session) == []


def _run(database_url: str) -> None:
    with asyncio.Runner() as runner:
        engine = make_engine(database_url)
        sessions = make_sessionmaker(engine)
        setting = clock.setting()
        counter = iter(range(10**6))

        @settings(
            max_examples=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(start=st.sampled_from(STARTS), story=st.lists(steps, min_size=1, max_size=10))
        def story_holds(start: datetime, story: list[Step]) -> None:
            runner.run(_play(sessions, next(counter), start, story))

        try:
            story_holds()
        finally:
            clock.restore(setting)
            runner.run(engine.dispose())


async def test_balances_and_statements_are_their_postings(db, database_url) -> None:
    await asyncio.to_thread(_run, database_url)
