"""The ledger's invariants (DESIGN §3), checked against a checkpoint.

A clean run records how much every account and campaign had been posted up to a moment
(`ledger_verified_*`: per campaign, what its postings say of each money counter). The
next run reads only the postings written since then: each new entry sums to zero, each
currency's new postings sum to zero, every cached balance equals its recorded sum plus
what was posted since, and every campaign's money is conserved (domain/conservation.py),
by its counters and by its recorded sums plus what was posted since. Accounts, campaigns
and invoices are read whole (one row each, far fewer than postings): a cached balance or
a counter changed without a posting is found by the very next run. A full run is the
same with an empty checkpoint.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.domain.conservation import CampaignBooks, CampaignSums, breaches
from adledger.domain.errors import InvariantBroken
from adledger.domain.ledger import PLATFORM_KINDS, AccountKind, TransactionKind
from adledger.store.ledger import Violation

_PLATFORM_KINDS = [kind.value for kind in PLATFORM_KINDS]
_FLOORED_KINDS = [
    k.value for k in AccountKind if not k.is_platform and k is not AccountKind.RECEIVABLE
]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: int
    until: datetime


@dataclass
class Moved:
    """What the postings of a stretch of time moved, per account and per campaign."""

    postings: int = 0
    accounts: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    campaigns: dict[int, CampaignSums] = field(default_factory=lambda: defaultdict(CampaignSums))
    """What the postings say of each campaign's counters."""
    currencies: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: Moved) -> None:
        self.postings += other.postings
        for target, source in (
            (self.accounts, other.accounts),
            (self.currencies, other.currencies),
        ):
            for key, amount in source.items():
                target[key] += amount  # type: ignore[index]
        for campaign_id, sums in other.campaigns.items():
            self.campaigns[campaign_id] += sums


# -- when -----------------------------------------------------------------------------


# How far a posting may be dated before its transaction's start as the database saw it:
# postings are dated by the app's clock on the writer's host (adledger/clock.py), which
# may run behind the database's. Postings newer than the horizon are read again next run.
HORIZON_MARGIN = timedelta(minutes=5)


async def settled_horizon(session: AsyncSession) -> datetime:
    """A moment before which every posting is committed (or never will be).

    A posting is dated by the app's clock when it is written, inside its transaction, so
    a transaction still open may yet write rows dated back to (about) its start: the
    horizon is the start of the oldest open transaction, else now, as the database sees
    it, told in the app's clock (the same shift from real time: ADLEDGER_NOW), less
    HORIZON_MARGIN for the hosts' clocks. Read it BEFORE the snapshot the check runs in:
    a transaction that ends in between is then either seen here or visible there."""
    horizon = await session.scalar(_HORIZON)
    if horizon is None:
        raise InvariantBroken("horizon is not None")
    return horizon + clock.offset() - HORIZON_MARGIN  # type: ignore[no-any-return]


_HORIZON = text(
    "SELECT LEAST(clock_timestamp(), MIN(xact_start)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_type = 'client backend' "
    "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
)


async def posting_span(session: AsyncSession, since: datetime | None) -> tuple[Any, Any]:
    """The oldest and newest `created_at` of the postings since `since` (None: all)."""
    row = (await session.execute(_SPAN, {"lo": since})).one()
    return row[0], row[1]


_SPAN = text(
    "SELECT MIN(created_at), MAX(created_at) FROM ledger_postings "
    "WHERE created_at >= COALESCE(CAST(:lo AS timestamptz), '-infinity')"
)


# -- the checkpoint -------------------------------------------------------------------


async def latest_checkpoint(session: AsyncSession) -> Checkpoint | None:
    row = (
        await session.execute(
            text("SELECT id, until FROM ledger_verifications ORDER BY id DESC LIMIT 1")
        )
    ).first()
    return Checkpoint(row[0], row[1]) if row else None


async def record_checkpoint(
    session: AsyncSession,
    *,
    follows: Checkpoint | None,
    full: bool,
    until: datetime,
    window: Moved,
) -> None:
    """Add what [checkpoint, until) moved to the recorded sums (a full run replaces them).
    `follows` is UNIQUE: of two runs that started from the same checkpoint, the second to
    commit fails instead of adding its window twice."""
    if full:
        await session.execute(text("DELETE FROM ledger_verified_accounts"))
        await session.execute(text("DELETE FROM ledger_verified_campaigns"))
    await session.execute(_ADD_ACCOUNTS, _arrays(window.accounts))
    await session.execute(_ADD_CAMPAIGNS, _campaign_arrays(window.campaigns))
    await session.execute(
        _RECORD,
        {
            "follows": follows.id if follows else 0,
            "full": full,
            "since": None if full or follows is None else follows.until,
            "until": until,
            "read": window.postings,
        },
    )


def _arrays(sums: dict[int, int]) -> dict[str, list[int]]:
    return {"ids": list(sums), "sums": list(sums.values())}


_SUM_COLUMNS = (
    "taken",
    "spent",
    "credited",
    "forfeited",
    "made_good_reserve",
    "made_good_revenue",
    "other",
)


def _campaign_arrays(sums: dict[int, CampaignSums]) -> dict[str, list[int]]:
    columns = zip(*(s.as_tuple() for s in sums.values()), strict=True) if sums else ()
    by_column = dict(zip(_SUM_COLUMNS, (list(c) for c in columns), strict=False))
    return {"ids": list(sums), **{c: by_column.get(c, []) for c in _SUM_COLUMNS}}


_ADD_ACCOUNTS = text(
    "INSERT INTO ledger_verified_accounts (account_id, posted) "
    "SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:sums AS bigint[])) "
    "ON CONFLICT (account_id) DO UPDATE "
    "SET posted = ledger_verified_accounts.posted + EXCLUDED.posted"
)
_ADD_CAMPAIGNS = text(
    f"INSERT INTO ledger_verified_campaigns (campaign_id, {', '.join(_SUM_COLUMNS)}) "
    "SELECT * FROM unnest(CAST(:ids AS bigint[]), "
    + ", ".join(f"CAST(:{c} AS bigint[])" for c in _SUM_COLUMNS)
    + ") ON CONFLICT (campaign_id) DO UPDATE SET "
    + ", ".join(f"{c} = ledger_verified_campaigns.{c} + EXCLUDED.{c}" for c in _SUM_COLUMNS)
)
_RECORD = text(
    'INSERT INTO ledger_verifications (follows, "full", since, until, postings_read) '
    "VALUES (:follows, :full, :since, :until, :read)"
)


# -- what a stretch of postings moved --------------------------------------------------


async def moved_between(
    session: AsyncSession, lo: datetime | None, hi: datetime | None
) -> tuple[Moved, list[Violation]]:
    """The postings with `created_at` in [lo, hi) (None: unbounded): what they moved, and
    the entries among them that do not sum to zero (an entry's postings share its
    `created_at`, so no entry straddles two stretches)."""
    bounds = {"lo": lo, "hi": hi}
    moved = Moved()
    for account_id, currency, amount, count in await session.execute(_BY_ACCOUNT, bounds):
        moved.accounts[account_id] += amount
        moved.currencies[currency] += amount
        moved.postings += count
    by_campaign = await session.execute(_BY_CAMPAIGN, {**bounds, **_CAMPAIGN_KINDS})
    for campaign_id, *sums in by_campaign:  # SUM answers numeric: back to int
        moved.campaigns[campaign_id] += CampaignSums(*(int(amount) for amount in sums))
    unbalanced = [
        Violation("entry sums to zero", f"entry {entry_id} sums to {total}")
        for entry_id, total in await session.execute(_UNBALANCED, bounds)
    ]
    return moved, unbalanced


_WINDOW = (
    "p.created_at >= COALESCE(CAST(:lo AS timestamptz), '-infinity') "
    "AND p.created_at < COALESCE(CAST(:hi AS timestamptz), 'infinity')"
)
_BY_ACCOUNT = text(
    "SELECT p.account_id, a.currency, SUM(p.amount), COUNT(*) FROM ledger_postings p "
    f"JOIN ledger_accounts a ON a.id = p.account_id WHERE {_WINDOW} "
    "GROUP BY p.account_id, a.currency"
)
# What a posting says of a campaign's counters (domain/conservation.py). On the campaign's
# own accounts: money paid in, spent, credited back, forfeited, made good from the
# reserve, or moved under no rule these know (`other`; moves between its own accounts,
# as a card plan's adjustments, sum to zero). Off them, in an entry of the campaign:
# spend drawn from a wallet bucket (paid and spent at once), and makegoods from revenue.
_PAID = [
    TransactionKind.CAMPAIGN_LAUNCH,
    TransactionKind.BUDGET_INCREASE,
    TransactionKind.INSTALLMENT_PAYMENT,
]
_CREDITED = [
    TransactionKind.BUDGET_REDUCTION_CREDIT,
    TransactionKind.CANCELLATION_CREDIT,
    TransactionKind.UNDERDELIVERY_CREDIT,
    TransactionKind.PAUSED_CAMPAIGN_CREDIT,
]
_FORFEITED = TransactionKind.ADJUSTMENT
_MADE_GOOD = TransactionKind.MAKEGOOD_CREDIT
_CAMPAIGN_KINDS = {
    "paid": [k.value for k in _PAID],
    "credited": [k.value for k in _CREDITED],
    "known": [k.value for k in (*_PAID, *_CREDITED, _FORFEITED, _MADE_GOOD)] + ["SPEND"],
}
_OWN = "a.campaign_id IS NOT NULL"
_DRAWN = "p.kind = 'SPEND' AND p.amount < 0"
_BY_CAMPAIGN = text(
    "SELECT COALESCE(a.campaign_id, e.campaign_id), "
    f"COALESCE(SUM(p.amount) FILTER (WHERE {_OWN} AND p.kind = ANY(:paid)), 0) "
    f"+ COALESCE(-SUM(p.amount) FILTER (WHERE a.campaign_id IS NULL AND {_DRAWN}), 0), "
    f"COALESCE(-SUM(p.amount) FILTER (WHERE {_DRAWN}), 0), "
    f"COALESCE(-SUM(p.amount) FILTER (WHERE {_OWN} AND p.kind = ANY(:credited)), 0), "
    f"COALESCE(-SUM(p.amount) FILTER (WHERE {_OWN} AND p.kind = '{_FORFEITED.value}'), 0), "
    f"COALESCE(-SUM(p.amount) FILTER (WHERE {_OWN} AND p.kind = '{_MADE_GOOD.value}'), 0), "
    "COALESCE(-SUM(p.amount) FILTER (WHERE a.kind = 'revenue' "
    f"AND p.kind = '{_MADE_GOOD.value}'), 0), "
    f"COALESCE(SUM(p.amount) FILTER (WHERE {_OWN} AND p.kind <> ALL(:known)), 0) "
    "FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
    f"JOIN ledger_accounts a ON a.id = p.account_id WHERE {_WINDOW} "
    f"AND ({_OWN} OR (e.campaign_id IS NOT NULL AND p.kind IN ('SPEND', '{_MADE_GOOD.value}'))) "
    "GROUP BY 1"
)
_UNBALANCED = text(
    f"SELECT p.entry_id, SUM(p.amount) FROM ledger_postings p WHERE {_WINDOW} "
    "GROUP BY p.entry_id HAVING SUM(p.amount) <> 0"
)


# -- the state held against it ---------------------------------------------------------


async def stale_cached_balances(
    session: AsyncSession, since_checkpoint: Moved, recorded: bool
) -> list[Violation]:
    """Customer accounts whose cached balance is not their recorded sum (if `recorded`)
    plus what moved since the checkpoint."""
    rows = await session.execute(
        text(
            "WITH moved AS (SELECT * FROM unnest(CAST(:ids AS bigint[]), "
            "CAST(:sums AS bigint[])) AS m(id, amount)), "
            "expected AS (SELECT a.id, a.key, a.balance, COALESCE(m.amount, 0) + CASE WHEN "
            ":recorded THEN COALESCE(v.posted, 0) ELSE 0 END AS posted FROM ledger_accounts a "
            "LEFT JOIN moved m ON m.id = a.id "
            "LEFT JOIN ledger_verified_accounts v ON v.account_id = a.id "
            "WHERE a.kind <> ALL(:platform_kinds)) "
            "SELECT key, balance, posted FROM expected WHERE balance <> posted ORDER BY id"
        ),
        {**_arrays(since_checkpoint.accounts), "recorded": recorded,
         "platform_kinds": _PLATFORM_KINDS},
    )  # fmt: skip
    return [
        Violation("cached balance equals its postings", f"{key}: cached {cached}, posted {posted}")
        for key, cached, posted in rows.all()
    ]


async def negative_customer_buckets(session: AsyncSession) -> list[Violation]:
    rows = await session.execute(
        text(
            "SELECT a.key, a.kind, a.balance, COALESCE(w.credit_limit, 0) "
            "FROM ledger_accounts a LEFT JOIN wallets w ON w.id = a.wallet_id "
            "WHERE a.kind = ANY(:customer_kinds) AND a.balance < 0 "
            "AND NOT (a.kind = 'credit_line' AND a.balance >= -COALESCE(w.credit_limit, 0))"
        ),
        {"customer_kinds": _FLOORED_KINDS},
    )
    return [
        Violation("no customer bucket below zero", f"{key} ({kind}) is {balance}, limit {limit}")
        for key, kind, balance, limit in rows.all()
    ]


async def unconserved_campaigns(
    session: AsyncSession, since_checkpoint: Moved, recorded: bool
) -> list[Violation]:
    """Campaigns whose money is not conserved (domain/conservation.py `breaches`): by
    their counters against what their ledger accounts hold, by what their postings say
    (the recorded sums, if `recorded`, plus what moved since the checkpoint), a counter
    its postings do not back, more given back than paid and not billed, or billing
    reversed beyond what was billed above the delivered value."""
    rows = await session.execute(_CAMPAIGNS, {"recorded": recorded})
    found: list[Violation] = []
    for row in rows.all():
        campaign_id, held = row[0], int(row[1])
        counters, recorded_sums = CampaignSums(*row[2:8]), CampaignSums(*row[8:15])
        books = CampaignBooks(
            price=row[18],
            budget=row[15],
            spent=counters.spent,
            impressions=row[16],
            booked=row[17],
            made_good_reserve=counters.made_good_reserve,
            made_good_revenue=counters.made_good_revenue,
        )
        posted = recorded_sums + since_checkpoint.campaigns.get(campaign_id, CampaignSums())
        found += [
            Violation(b.rule, b.detail)
            for b in breaches(campaign_id, counters, posted, held, books)
        ]
    return found


_CAMPAIGNS = text(
    "WITH held AS (SELECT campaign_id, SUM(balance) AS held FROM ledger_accounts "
    "WHERE campaign_id IS NOT NULL GROUP BY campaign_id) "
    "SELECT c.id, COALESCE(h.held, 0), c.taken, c.spent, c.credited, c.forfeited, "
    "c.made_good_reserve, c.made_good_revenue, "
    + ", ".join(f"CASE WHEN :recorded THEN COALESCE(v.{c}, 0) ELSE 0 END" for c in _SUM_COLUMNS)
    + ", c.budget, c.impressions, c.booked_impressions, c.price "
    "FROM campaigns c LEFT JOIN held h ON h.campaign_id = c.id "
    "LEFT JOIN ledger_verified_campaigns v ON v.campaign_id = c.id ORDER BY c.id"
)


async def receivables_owed(session: AsyncSession) -> list[Violation]:
    """A campaign's receivable is minus what its installment invoices still owe."""
    rows = await session.execute(
        text(
            "SELECT a.key, a.balance, -COALESCE(SUM(i.subtotal - i.discount) FILTER "
            "(WHERE i.status IN ('SCHEDULED', 'OPEN')), 0) FROM ledger_accounts a "
            "LEFT JOIN invoices i ON i.campaign_id = a.campaign_id AND i.kind = 'INSTALLMENT' "
            "WHERE a.kind = 'receivable' GROUP BY a.id "
            "HAVING a.balance <> -COALESCE(SUM(i.subtotal - i.discount) FILTER "
            "(WHERE i.status IN ('SCHEDULED', 'OPEN')), 0)"
        )
    )
    return [
        Violation("a receivable is what its invoices owe", f"{key}: {balance}, owed {owed}")
        for key, balance, owed in rows.all()
    ]


async def cached_platform_balances(session: AsyncSession) -> list[Violation]:
    rows = await session.execute(
        text("SELECT key, balance FROM ledger_accounts WHERE kind = ANY(:k) AND balance <> 0"),
        {"k": _PLATFORM_KINDS},
    )
    return [
        Violation("platform balances are never cached", f"{key}: cached {balance}")
        for key, balance in rows.all()
    ]


def unbalanced_currencies(window: Moved) -> list[Violation]:
    """Every entry balances, so each currency's postings sum to zero: a window's do too."""
    return [
        Violation("all postings of a currency sum to zero", f"{currency}: {total}")
        for currency, total in sorted(window.currencies.items())
        if total != 0
    ]
