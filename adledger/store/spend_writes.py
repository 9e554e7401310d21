"""What a spend batch writes, in one statement whatever the number of its campaigns and
centers (issue 28): its ledger entries (one per campaign) with their postings, the cached
balances they leave, the campaigns' totals, the ad accounts' spend against their caps,
and the wallets' spend of the day (the balance guard's `wallet_spend_days`). A batch
mixing fifty campaigns of fifty centers cost fifty round trips of each before, every one
of them taken while the batch holds its locks (store/ledger.py's `write_entry` is the
one-entry form, for every other writer)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from adledger import clock
from adledger.domain.ledger import Posting
from adledger.store import raw
from adledger.store.locks import Level, register
from adledger.store.models import AdAccount, Campaign


@dataclass(frozen=True, slots=True)
class NewEntry:
    idempotency_key: str
    description: str
    campaign_id: int
    postings: Sequence[Posting]
    balances_after: Sequence[int | None]
    """Each posting's running balance; None for an untracked (platform) account."""


@dataclass(frozen=True, slots=True)
class SpendWrites:
    entries: Sequence[NewEntry]
    balances: Mapping[int, int]
    """Each customer account the entries move → its balance after the last of them."""
    campaigns: Sequence[Campaign]
    """Locked rows whose `spent`, `taken` and `impressions` the batch moved on."""
    accounts: Sequence[AdAccount]
    """Locked rows whose `budget_spent` the batch moved on."""
    day: date
    paid_by: Mapping[int, int]
    """Wallet id → what its money paid for in the batch, added to its spend of `day`."""


async def write_spend(session: AsyncSession, writes: SpendWrites) -> None:
    """The batch's writes in one statement. Every row it updates is locked already, but
    the wallets' spend of the day: those rows are their balance guard, taken last (after
    the ledger accounts), in ascending wallet id. Each entry is found again by its
    idempotency key (unique) to hang its postings on: an INSERT's RETURNING promises no
    order. The rows hold the columns written as written: a flush sends only what else
    changed (a stop, a budget period rolled over)."""
    wallets = sorted(w for w, amount in writes.paid_by.items() if amount > 0)
    if wallets:
        register(session, Level.BALANCE_GUARD)
    entries, campaigns, accounts = writes.entries, writes.campaigns, writes.accounts
    # Held as written before the statement: these columns are this statement's to write,
    # and the flush that follows (a stop, a budget period) must not send them again row
    # by row (if the statement fails, the transaction and its session go).
    for campaign in campaigns:
        for name in ("spent", "taken", "impressions"):
            set_committed_value(campaign, name, getattr(campaign, name))
    for account in accounts:
        set_committed_value(account, "budget_spent", account.budget_spent)
    await raw.execute(
        session,
        _WRITE_SPEND,
        "spend",
        clock.now(),  # dated as written, inside the transaction (write_entry's rule)
        [e.idempotency_key for e in entries],
        [e.description for e in entries],
        [e.campaign_id for e in entries],
        *_postings(entries),
        list(writes.balances),
        list(writes.balances.values()),
        [c.id for c in campaigns],
        [c.spent for c in campaigns],
        [c.taken for c in campaigns],
        [c.impressions for c in campaigns],
        [a.id for a in accounts],
        [a.budget_spent for a in accounts],
        writes.day,
        wallets,
        [writes.paid_by[w] for w in wallets],
    )


def _postings(entries: Sequence[NewEntry]) -> tuple[list[object], ...]:
    """The postings as columns: their entry's number (from 1), account, amount, running
    balance and kind."""
    columns: tuple[list[object], ...] = ([], [], [], [], [])
    for n, entry in enumerate(entries, start=1):
        for posting, after in zip(entry.postings, entry.balances_after, strict=True):
            for column, value in zip(
                columns,
                (n, posting.account_id, posting.amount, after, posting.kind.value),
                strict=True,
            ):
                column.append(value)
    return columns


_WRITE_SPEND = (
    "WITH given AS (SELECT * FROM unnest($3::varchar[], $4::varchar[], $5::bigint[]) "
    "WITH ORDINALITY AS g(idempotency_key, description, campaign_id, n)), "
    "entry AS (INSERT INTO ledger_entries "
    "(operation, idempotency_key, description, actor_user_id, invoice_id, campaign_id, "
    "created_at) SELECT $1, idempotency_key, description, NULL, NULL, campaign_id, $2 "
    "FROM given ORDER BY n RETURNING id, idempotency_key, created_at), "
    "posted AS (INSERT INTO ledger_postings "
    "(entry_id, account_id, amount, balance_after, kind, created_at) "
    "SELECT entry.id, p.account_id, p.amount, p.balance_after, p.kind, entry.created_at "
    "FROM unnest($6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::varchar[]) "
    "WITH ORDINALITY AS p(entry_n, account_id, amount, balance_after, kind, n) "
    "JOIN given ON given.n = p.entry_n "
    "JOIN entry ON entry.idempotency_key = given.idempotency_key ORDER BY p.n), "
    "cached AS (UPDATE ledger_accounts a SET balance = c.balance "
    "FROM unnest($11::bigint[], $12::bigint[]) AS c(id, balance) WHERE a.id = c.id), "
    "totals AS (UPDATE campaigns c "
    "SET spent = v.spent, taken = v.taken, impressions = v.impressions "
    "FROM unnest($13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[]) "
    "AS v(id, spent, taken, impressions) WHERE c.id = v.id), "
    "caps AS (UPDATE ad_accounts a SET budget_spent = v.spent "
    "FROM unnest($17::bigint[], $18::bigint[]) AS v(id, spent) WHERE a.id = v.id) "
    # store/runway.py's add_spend, here so as not to cost one more round trip
    "INSERT INTO wallet_spend_days (wallet_id, day, amount) "
    "SELECT w, $19::date, a FROM unnest($20::bigint[], $21::bigint[]) AS t(w, a) ORDER BY w "
    "ON CONFLICT (wallet_id, day) DO UPDATE "
    "SET amount = wallet_spend_days.amount + excluded.amount"
)
