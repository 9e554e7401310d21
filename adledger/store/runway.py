"""Runway's reads and writes (issue 27): what each wallet's money paid for per UTC day,
kept as spend is applied (never summed from postings on a read), and what the campaigns
that draw on a wallet may still take."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Date, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store.locks import Level, register

# One statement per spend batch, whatever its wallets: their rows in ascending wallet id
# (the order of the rows is the order they are locked in).
_ADD_SPEND = text(
    "INSERT INTO wallet_spend_days (wallet_id, day, amount) "
    "SELECT w, :day, a FROM unnest(:wallets, :amounts) AS t(w, a) ORDER BY w "
    "ON CONFLICT (wallet_id, day) DO UPDATE "
    "SET amount = wallet_spend_days.amount + excluded.amount"
).bindparams(
    bindparam("day", type_=Date()),
    bindparam("wallets", type_=ARRAY(BigInteger())),
    bindparam("amounts", type_=ARRAY(BigInteger())),
)


async def add_spend(session: AsyncSession, day: date, amounts: Mapping[int, int]) -> None:
    """Add `amounts` (wallet id → minor units, positive) to the wallets' spend of `day`.
    The rows are a wallet's balance guard (store/locks.py): taken after its ledger
    accounts (and the invoice counter, if the transaction numbers one: the spend path does
    not), and nothing after them numbers an invoice."""
    wanted = sorted(w for w, amount in amounts.items() if amount > 0)
    if not wanted:
        return
    register(session, Level.BALANCE_GUARD)
    await session.execute(
        _ADD_SPEND, {"day": day, "wallets": wanted, "amounts": [amounts[w] for w in wanted]}
    )


_SPEND_SINCE = text(
    "SELECT wallet_id, day, amount FROM wallet_spend_days "
    "WHERE wallet_id = ANY(:wallets) AND day >= :since AND day <= :until"
).bindparams(
    bindparam("wallets", type_=ARRAY(BigInteger())),
    bindparam("since", type_=Date()),
    bindparam("until", type_=Date()),
)


async def spend_days(
    session: AsyncSession, wallet_ids: Sequence[int], since: date, until: date
) -> dict[int, dict[date, int]]:
    """Each wallet's spend per day from `since` to `until` (both included)."""
    rows = await session.execute(
        _SPEND_SINCE, {"wallets": list(wallet_ids), "since": since, "until": until}
    )
    found: dict[int, dict[date, int]] = defaultdict(dict)
    for wallet_id, day, amount in rows.all():
        found[wallet_id][day] = int(amount)
    return found


# The campaigns that may still take money from a wallet: live or scheduled, not ended.
# A reserve campaign (CREDIT_BALANCE) took its budget at launch: what it may still take is
# what it waits for (PENDING_FUNDS: budget less what its hold and reserve already have).
# A drawing campaign (BUSINESS_CENTER_BALANCE, CREDIT_LINE) takes as it spends: budget less
# taken, from its account's wallet then its center's (or the center's credit line only).
_COMMITTED = text(
    "SELECT c.id, c.wallet_id, c.business_center_id, c.payment_plan, c.status, c.budget, "
    "c.taken, c.spent, c.starts_at, c.ends_at, "
    "COALESCE((SELECT SUM(la.balance) FROM ledger_accounts la WHERE la.campaign_id = c.id "
    "AND la.kind IN ('hold', 'reserve', 'voucher_reserve')), 0)::bigint AS reserved "
    "FROM campaigns c WHERE (c.wallet_id = ANY(:wallets) OR c.business_center_id = ANY(:centers)) "
    "AND c.status IN ('PENDING_FUNDS', 'SCHEDULED', 'ACTIVE', 'PAUSED', 'BUDGET_EXHAUSTED') "
    "AND c.payment_plan IN ('CREDIT_BALANCE', 'BUSINESS_CENTER_BALANCE', 'CREDIT_LINE')"
).bindparams(
    bindparam("wallets", type_=ARRAY(BigInteger())),
    bindparam("centers", type_=ARRAY(BigInteger())),
)


async def committed_campaigns(
    session: AsyncSession, wallet_ids: Sequence[int], center_ids: Sequence[int]
) -> list[Any]:
    """Live and scheduled campaigns paid from these wallets (their own wallet) or drawing
    on these centers; one statement."""
    rows = await session.execute(
        _COMMITTED, {"wallets": list(wallet_ids), "centers": list(center_ids)}
    )
    return list(rows.all())
