"""The one way money moves: lock the accounts, apply the domain rules, append the entry."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.ledger import Move, apply_postings, postings_for
from adledger.store import ledger as repo


async def post_entry(
    session: AsyncSession,
    *,
    operation: str,
    moves: Sequence[Move],
    description: str,
    actor_user_id: int | None,
    idempotency_key: str | None = None,
    invoice_id: int | None = None,
) -> int:
    postings = postings_for(moves)
    accounts = await repo.lock_accounts(session, [p.account_id for p in postings])
    applied = apply_postings(accounts, postings)
    return await repo.write_entry(
        session,
        operation=operation,
        idempotency_key=idempotency_key or f"{operation}:{uuid.uuid4()}",
        description=description,
        actor_user_id=actor_user_id,
        invoice_id=invoice_id,
        postings=postings,
        balances_after=applied.balances_after,
        balances=applied.balances,
    )
