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

from adledger.domain.errors import InvalidInput
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
    wallet_id: int
    month: date
    closed: bool
    opening: Snapshot
    closing: Snapshot
    totals: list[Total]


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


async def statements(
    session: AsyncSession, wallet_ids: Sequence[int], month_text: str, now: datetime
) -> dict[int, Statement | InvalidInput]:
    """The wallets' statements of one month, in five statements however many wallets; a
    wallet that did not exist in the month gets its INVALID_INPUT instead."""
    month = parse_month(month_text, ("month",))
    start, end = span(month)
    closings = await repo.closings_before(session, wallet_ids, previous_month(month))
    since = None if closings.through is None else month_start(next_month(closings.through))
    accounts = list(closings.accounts)
    moved = await repo.moved_between(session, accounts, since, start)
    totals = await repo.totals(session, accounts, (start, end))
    # The opening is the balance at the last instant before the month (a posting dated at
    # its very first instant is one of its lines), the closing at its last instant so far.
    opening_at, closing_at = start - _TICK, min(end - _TICK, now)
    limits = await repo.credit_limits_at(session, wallet_ids, opening_at)
    closing_limits = await repo.credit_limits_at(session, wallet_ids, closing_at)
    closed = closings.closed_through is not None and closings.closed_through >= month
    by_wallet = _per_wallet(closings, moved, totals)
    answers: dict[int, Statement | InvalidInput] = {}
    for wallet_id in wallet_ids:
        try:
            if wallet_id in closings.opened:
                check_month(month, closings.opened[wallet_id], now, ("month",))
        except InvalidInput as refused:
            answers[wallet_id] = refused
            continue
        opening, wallet_totals = by_wallet.get(wallet_id, (Buckets(), []))
        answers[wallet_id] = Statement(
            wallet_id,
            month,
            closed,
            Snapshot(opening_at, opening, limits.get(wallet_id, 0)),
            Snapshot(
                closing_at, opening.plus(_moved(wallet_totals)), closing_limits.get(wallet_id, 0)
            ),
            wallet_totals,
        )
    return answers


def _per_wallet(
    closings: repo.Closings, moved: dict[int, int], totals: list[tuple[int, str, int, int]]
) -> dict[int, tuple[Buckets, list[Total]]]:
    """Each wallet's opening buckets and the month's totals, by bucket then kind."""
    openings: dict[int, dict[AccountKind, int]] = defaultdict(dict)
    for account_id, (wallet_id, bucket) in closings.accounts.items():
        balance = closings.balances.get(account_id, 0) + moved.get(account_id, 0)
        openings[wallet_id][bucket] = balance
    found: dict[int, list[Total]] = defaultdict(list)
    for account_id, kind, amount, count in totals:
        wallet_id, bucket = closings.accounts[account_id]
        found[wallet_id].append(Total(bucket, kind, amount, count))
    return {
        wallet_id: (
            Buckets.of(openings[wallet_id]),
            sorted(found[wallet_id], key=lambda t: (t.bucket.value, t.kind)),
        )
        for wallet_id in openings
    }


def _moved(totals: list[Total]) -> Buckets:
    by_kind: dict[AccountKind, int] = defaultdict(int)
    for total in totals:
        by_kind[total.bucket] += total.amount
    return Buckets.of(by_kind)


async def lines(
    session: AsyncSession,
    wallet_ids: Sequence[int],
    month: date,
    after_id: int | None,
    limit: int,
) -> dict[int, list[repo.LineRow]]:
    return await repo.lines(session, wallet_ids, span(month), after_id, limit)


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
