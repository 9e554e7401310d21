"""A wallet's balance at any instant and its monthly statements (issue 29, DESIGN §10b).

A bucket's balance just before an instant is its closing at the end of the last closed
month before the instant's month (the `close-ledger-months` job keeps them), plus what its
postings dated since moved: a few statements, however old the wallet. A statement's
closing is its opening plus every movement of the month, summed from the same postings
its lines show, so opening + movements = closing holds by construction; `verify-ledger`
checks the closings the job kept against the postings, month by month.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.ledger import AccountKind
from adledger.domain.months import month_of, month_start, next_month, previous_month
from adledger.domain.statements import (
    Buckets,
    check_month,
    check_opened,
    instant_asked,
    parse_month,
    span,
)
from adledger.store import statements as repo

_TICK = timedelta(microseconds=1)
"""The resolution of `created_at`: at or before `t` is before `t + _TICK`."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: datetime
    buckets: Buckets
    credit_limit: int

    @property
    def available(self) -> int:
        return self.buckets.available(self.credit_limit)


@dataclass(frozen=True, slots=True)
class Total:
    bucket: AccountKind
    kind: str
    amount: int
    count: int


@dataclass(frozen=True, slots=True)
class Statement:
    month: date
    closed: bool
    opening: Snapshot
    closing: Snapshot
    totals: list[Total]
    accounts: list[int]
    """The wallet's bucket accounts: the lines are their postings of the month."""


async def balance_at(
    session: AsyncSession, wallet_id: int, at: datetime, now: datetime
) -> Snapshot:
    return (await snapshots_at(session, [wallet_id], at, now))[wallet_id]


async def snapshots_at(
    session: AsyncSession, wallet_ids: Sequence[int], at: datetime, now: datetime
) -> dict[int, Snapshot]:
    """The wallets' buckets and credit limits as they stood at `at` (its postings
    included): three statements for any number of wallets. INVALID_INPUT when `at` is in
    the future or before one of them was opened."""
    at = instant_asked(at, now, ("at",))
    opened, buckets = await _buckets_before(session, wallet_ids, at + _TICK)
    for wallet_id in wallet_ids:
        if wallet_id in opened:  # (a wallet without buckets has held nothing, ever)
            check_opened(at, opened[wallet_id], ("at",))
    limits = await repo.credit_limits_at(session, wallet_ids, at)
    return {w: Snapshot(at, buckets[w], limits.get(w, 0)) for w in wallet_ids}


async def _buckets_before(
    session: AsyncSession, wallet_ids: Sequence[int], before: datetime
) -> tuple[dict[int, datetime], dict[int, Buckets]]:
    closings = await repo.closings_before(session, wallet_ids, previous_month(month_of(before)))
    since = None if closings.through is None else month_start(next_month(closings.through))
    moved = await repo.moved_between(session, list(closings.accounts), since, before)
    by_wallet: dict[int, dict[AccountKind, int]] = defaultdict(dict)
    for account_id, (wallet_id, kind) in closings.accounts.items():
        balance = closings.balances.get(account_id, 0) + moved.get(account_id, 0)
        by_wallet[wallet_id][kind] = balance
    return closings.opened, {w: Buckets.of(by_wallet[w]) for w in wallet_ids}


async def statement(
    session: AsyncSession, wallet_id: int, month_text: str, now: datetime
) -> Statement:
    month = parse_month(month_text, ("month",))
    start, end = span(month)
    closings = await repo.closings_before(session, [wallet_id], previous_month(month))
    if wallet_id in closings.opened:
        check_month(month, closings.opened[wallet_id], now, ("month",))
    since = None if closings.through is None else month_start(next_month(closings.through))
    accounts = list(closings.accounts)
    moved = await repo.moved_between(session, accounts, since, start)
    opening = _buckets(closings, moved)
    totals = [
        Total(AccountKind(bucket), kind, amount, count)
        for bucket, kind, amount, count in await repo.totals(session, accounts, (start, end))
    ]
    # The opening is the balance at the last instant before the month (a posting dated at
    # its very first instant is one of its lines), the closing at its last instant so far.
    opening_at, closing_at = start - _TICK, min(end - _TICK, now)
    limits = await repo.credit_limits_at(session, [wallet_id], opening_at)
    closing_limits = await repo.credit_limits_at(session, [wallet_id], closing_at)
    closed = closings.closed_through is not None and closings.closed_through >= month
    return Statement(
        month,
        closed,
        Snapshot(opening_at, opening, limits.get(wallet_id, 0)),
        Snapshot(closing_at, opening.plus(_moved(totals)), closing_limits.get(wallet_id, 0)),
        totals,
        sorted(accounts),
    )


def _buckets(closings: repo.Closings, moved: dict[int, int]) -> Buckets:
    return Buckets.of(
        {
            kind: closings.balances.get(account_id, 0) + moved.get(account_id, 0)
            for account_id, (_, kind) in closings.accounts.items()
        }
    )


def _moved(totals: list[Total]) -> Buckets:
    by_kind: dict[AccountKind, int] = defaultdict(int)
    for total in totals:
        by_kind[total.bucket] += total.amount
    return Buckets.of(by_kind)


async def lines(
    session: AsyncSession, statement: Statement, after_id: int | None, limit: int
) -> list[repo.LineRow]:
    return await repo.lines(session, statement.accounts, span(statement.month), after_id, limit)


async def center_snapshots(
    session: AsyncSession, center_id: int, at: datetime, now: datetime
) -> tuple[Snapshot, Snapshot]:
    """The center's own wallet at `at`, and its ad accounts' wallets summed (those opened
    after `at` count as empty)."""
    wallets = await repo.center_wallets(session, center_id)
    own = next(w for w in wallets if w.own)
    at = instant_asked(at, now, ("at",))
    check_opened(at, own.opened_at, ("at",))
    opened = [w.id for w in wallets if w.own or w.opened_at <= at]
    snapshots = await snapshots_at(session, opened, at, now)
    accounts = [snapshots[w] for w in opened if w != own.id]
    summed = Buckets()
    for snapshot in accounts:
        summed = summed.plus(snapshot.buckets)
    return snapshots[own.id], Snapshot(at, summed, sum(s.credit_limit for s in accounts))
