"""The switch to automatic balance allocation (DESIGN §7): once and for ever, every ad
account's cash moves to the business center's wallet, and Budget Sync caps the accounts
that had no budget. One transaction; lock order: center, its ad accounts, ledger accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.access import Permission
from adledger.domain.allocation import AccountFacts, AllocationMode, check_switch
from adledger.domain.errors import not_found
from adledger.domain.events import EventType
from adledger.domain.ledger import AccountKind, Move, TransactionKind
from adledger.services import access, events
from adledger.services import event_data_money as snapshots
from adledger.services.actor import Actor
from adledger.services.budgets import budget_sync
from adledger.services.ledger import post_entry
from adledger.store import budgets as budget_repo
from adledger.store import business_centers as centers
from adledger.store import campaigns as campaign_repo
from adledger.store import ledger as ledger_repo
from adledger.store import wallets as wallet_repo
from adledger.store.models import AdAccount

CENTER_FIELD = ("input", "businessCenterId")


@dataclass(frozen=True, slots=True)
class BudgetSyncOutcome:
    ad_account_id: int
    moved: int
    new_budget: int | None


@dataclass(frozen=True, slots=True)
class AllocationOutcome:
    business_center_id: int
    currency: str
    syncs: tuple[BudgetSyncOutcome, ...]
    wallet_ids: tuple[int, ...]


async def enable_automatic_allocation(
    session: AsyncSession, actor: Actor, center_id: int, now: datetime
) -> AllocationOutcome:
    await access.require(
        session, actor, center_id, Permission.MOVE_MONEY, field=CENTER_FIELD, what="business center"
    )
    center = await centers.lock_business_center(session, center_id)
    if center is None:
        raise not_found("business center", CENTER_FIELD)
    accounts = await budget_repo.lock_accounts_of_center(session, center_id)
    funded = await campaign_repo.balance_funded_counts(session, [a.id for a in accounts])
    check_switch(
        AllocationMode(center.allocation_mode),
        [_facts(account, funded.get(account.id, 0)) for account in accounts],
    )
    wallets = await _wallets(session, center.id, accounts)
    syncs = await _move_cash(session, wallets, accounts, actor.user_id, now)
    await centers.set_allocation_mode(session, center.id, AllocationMode.AUTOMATIC.value, now)
    synced = [snapshots.Synced(s.ad_account_id, s.moved, s.new_budget) for s in syncs]
    data = snapshots.automatic_allocation(center.id, center.currency, now, synced)
    await events.record(
        session,
        center.id,
        EventType.AUTOMATIC_ALLOCATION_ENABLED,
        "BusinessCenter",
        center.id,
        data,
        now,
    )
    return AllocationOutcome(center.id, center.currency, tuple(syncs), tuple(wallets.values()))


def _facts(account: AdAccount, funded_campaigns: int) -> AccountFacts:
    return AccountFacts(
        name=f"{account.name} (ad account {account.id})",
        billing_option=account.billing_option,
        account_type=account.account_type,
        funded_campaigns=funded_campaigns,
    )


async def _wallets(
    session: AsyncSession, center_id: int, accounts: list[AdAccount]
) -> dict[int | None, int]:
    """Wallet ids by ad account id, the center's own under None."""
    own = await wallet_repo.wallets_of_centers(session, [center_id])
    of_accounts = await wallet_repo.wallets_of_ad_accounts(session, [a.id for a in accounts])
    return {w.ad_account_id: w.id for w in [*own, *of_accounts]}


async def _move_cash(
    session: AsyncSession,
    wallets: dict[int | None, int],
    accounts: list[AdAccount],
    actor_user_id: int,
    now: datetime,
) -> list[BudgetSyncOutcome]:
    """Each account's cash to the center (its vouchers stay), then Budget Sync."""
    buckets = await wallet_repo.bucket_accounts(session, list(wallets.values()))
    cash = {owner: buckets[wallet][AccountKind.CASH] for owner, wallet in wallets.items()}
    states = await ledger_repo.lock_accounts(session, list(cash.values()))
    syncs = []
    for account in accounts:
        moved = states[cash[account.id]].balance
        if moved:
            await _allocate(session, cash[account.id], cash[None], moved, account, actor_user_id)
        new_budget = await budget_sync(session, account, moved, actor_user_id, now)
        await budget_repo.save(session, account)
        syncs.append(BudgetSyncOutcome(account.id, moved, new_budget))
    return syncs


async def _allocate(
    session: AsyncSession,
    source: int,
    target: int,
    amount: int,
    account: AdAccount,
    actor_user_id: int,
) -> None:
    await post_entry(
        session,
        operation="automatic_allocation",
        moves=[
            Move(
                source,
                target,
                amount,
                TransactionKind.ALLOCATION_OUT,
                TransactionKind.ALLOCATION_IN,
            )
        ],
        description=f"Automatic allocation: cash of {account.name} moved to the business center",
        actor_user_id=actor_user_id,
        idempotency_key=f"ad_account:{account.id}:automatic_allocation",
    )
