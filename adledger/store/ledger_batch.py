"""Many ledger entries in one statement: a spend batch posts one entry per campaign, and a
batch mixing fifty campaigns of fifty centers would otherwise cost fifty round trips, each
taken while the batch holds every lock it took (store/ledger.py's `write_entry` is the
one-entry form, for every other writer)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.domain.ledger import Posting
from adledger.store import raw


@dataclass(frozen=True, slots=True)
class NewEntry:
    idempotency_key: str
    description: str
    campaign_id: int | None
    postings: Sequence[Posting]
    balances_after: Sequence[int | None]
    """Each posting's running balance; None for an untracked (platform) account."""


async def write_entries(
    session: AsyncSession,
    operation: str,
    entries: Sequence[NewEntry],
    balances: dict[int, int],
) -> None:
    """Append the entries (no actor, no invoice) with their postings in order, and set the
    cached balances of `balances` (each customer account's balance after the last of them),
    in one statement. Each entry is found again by its idempotency key (unique) to hang
    its postings on: an INSERT's RETURNING promises no order."""
    if not entries:
        return
    index, accounts, amounts, afters, kinds = [], [], [], [], []
    for n, entry in enumerate(entries, start=1):
        for posting, after in zip(entry.postings, entry.balances_after, strict=True):
            index.append(n)
            accounts.append(posting.account_id)
            amounts.append(posting.amount)
            afters.append(after)
            kinds.append(posting.kind.value)
    await raw.execute(
        session,
        _WRITE_ENTRIES,
        operation,
        clock.now(),  # dated as written, inside the transaction (write_entry's rule)
        [e.idempotency_key for e in entries],
        [e.description for e in entries],
        [e.campaign_id for e in entries],
        index,
        accounts,
        amounts,
        afters,
        kinds,
        list(balances),
        list(balances.values()),
    )


_WRITE_ENTRIES = (
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
    "JOIN entry ON entry.idempotency_key = given.idempotency_key ORDER BY p.n) "
    "UPDATE ledger_accounts a SET balance = c.balance "
    "FROM unnest($11::bigint[], $12::bigint[]) AS c(id, balance) WHERE a.id = c.id"
)
