"""What happens to campaigns on the clock (DESIGN §6, §10): start at startsAt, complete at
endsAt, settle after the settlement window. One campaign per transaction; each step
locks the campaign and checks again that it is still due, so a second worker, a rerun or
a run after a crash finds nothing left to do."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.campaigns import (
    ENDED,
    Action,
    CampaignStatus,
    CreditKind,
    settle,
    transition,
)
from adledger.domain.ledger import AccountKind, Move, TransactionKind
from adledger.domain.money import Currency
from adledger.services import installments
from adledger.services.campaigns import end_early
from adledger.services.config import BillingConfig
from adledger.services.delivery import set_status
from adledger.services.funding import (
    Return,
    campaign_money,
    flight_of,
    fund_waiting,
    lock_waiting,
    return_to_wallet,
)
from adledger.services.ledger import post_entry
from adledger.store import campaigns as repo
from adledger.store import ledger as ledger_repo
from adledger.store.models import Campaign


class Step(enum.StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CREDITED = "credited"
    FORFEITED = "forfeited"
    SETTLED_EMPTY = "settled with nothing left"
    NOT_DUE = "not due"


async def due_to_start(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    return await repo.due_to_start(session, now, limit)


async def due_to_complete(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    return await repo.due_to_complete(session, now, limit)


async def due_to_settle(
    session: AsyncSession, now: datetime, config: BillingConfig, limit: int
) -> list[int]:
    return await repo.due_to_settle(session, now - config.settlement_window, limit)


async def start_one(session: AsyncSession, campaign_id: int, now: datetime) -> Step:
    campaign = await repo.lock_campaign(session, campaign_id)
    if campaign is None or campaign.status != CampaignStatus.SCHEDULED:
        return Step.NOT_DUE
    if not campaign.starts_at <= now < campaign.ends_at:
        return Step.NOT_DUE
    status = transition(CampaignStatus.SCHEDULED, Action.START, flight_of(campaign), now)
    set_status(session, campaign, status, now)
    await repo.save(session, campaign)
    return Step.STARTED


async def complete_one(session: AsyncSession, campaign_id: int, now: datetime) -> Step:
    """A delivering campaign completes at endsAt; one still waiting for funds then has
    nothing left to wait for: its hold returns and its shortfall invoice is voided."""
    found = await repo.campaign(session, campaign_id)
    if found is None or found.ends_at > now:
        return Step.NOT_DUE
    if found.status == CampaignStatus.PENDING_FUNDS:
        await end_early(session, found, Action.EXPIRE, now, None)
        return Step.EXPIRED
    campaign = await repo.lock_campaign(session, campaign_id)
    if campaign is None or not _complete(session, campaign, now):
        return Step.NOT_DUE
    await repo.save(session, campaign)
    return Step.COMPLETED


def _complete(session: AsyncSession, campaign: Campaign, now: datetime) -> bool:
    status = CampaignStatus(campaign.status)
    if status not in (CampaignStatus.SCHEDULED, CampaignStatus.ACTIVE, CampaignStatus.PAUSED):
        return False
    campaign.paused_at_end = status is CampaignStatus.PAUSED
    set_status(
        session, campaign, transition(status, Action.COMPLETE, flight_of(campaign), now), now
    )
    campaign.completed_at = now
    return True


async def settle_one(
    session: AsyncSession, campaign_id: int, config: BillingConfig, now: datetime
) -> Step:
    """After endsAt + the settlement window, once per campaign (the settlement's ledger
    key is unique per campaign): the unspent rest returns as credit, or is forfeited when
    it is the minimum credit or less."""
    found = await repo.campaign(session, campaign_id)
    if found is None or not _settle_due(found, config, now):
        return Step.NOT_DUE
    if found.status == CampaignStatus.PENDING_FUNDS:
        await end_early(session, found, Action.EXPIRE, now, None)
        return Step.EXPIRED
    locked = await lock_waiting(session, found.wallet_id, also=[found.id])
    campaign = locked.get(found.id)
    if campaign is None or not _settle_due(campaign, config, now):
        return Step.NOT_DUE
    _complete(session, campaign, now)
    step = await _settle(session, campaign, config, now)
    campaign.settled_at = now
    await repo.save(session, campaign)
    await fund_waiting(session, campaign.wallet_id, locked, now)
    return step


def _settle_due(campaign: Campaign, config: BillingConfig, now: datetime) -> bool:
    status = CampaignStatus(campaign.status)
    if campaign.settled_at is not None or status in ENDED - {CampaignStatus.COMPLETED}:
        return False
    if status is CampaignStatus.DRAFT:
        return False
    return campaign.ends_at + config.settlement_window <= now


async def _settle(
    session: AsyncSession, campaign: Campaign, config: BillingConfig, now: datetime
) -> Step:
    if installments.paid_by_card(campaign):
        return await _settle_card_plan(session, campaign, now)
    money = await campaign_money(session, campaign.id)
    minimum = config.minimum_credit(Currency(campaign.currency)).minor
    outcome = settle(money.reserve.total, minimum)
    if outcome.credit:
        kind = CreditKind.PAUSED_CAMPAIGN if campaign.paused_at_end else CreditKind.UNDERDELIVERY
        what = "paused at its end" if campaign.paused_at_end else "under-delivered"
        back = Return(
            money.reserve,
            0,
            TransactionKind(kind.value),
            f"Campaign {campaign.name} {what}: unspent budget returned",
            f"campaign:{campaign.id}:settle",
        )
        await return_to_wallet(session, campaign, back, now)
        return Step.CREDITED
    if outcome.forfeit:
        await _forfeit(
            session, campaign, money.accounts, money.reserve.cash, money.reserve.vouchers
        )
        return Step.FORFEITED
    return Step.SETTLED_EMPTY


async def _settle_card_plan(session: AsyncSession, campaign: Campaign, now: datetime) -> Step:
    """The invoices bill what was delivered; what was paid and not spent is credit."""
    kind = CreditKind.PAUSED_CAMPAIGN if campaign.paused_at_end else CreditKind.UNDERDELIVERY
    what = "paused at its end" if campaign.paused_at_end else "ended"
    credited = await installments.end_plan(
        session, campaign, TransactionKind(kind.value), what, now
    )
    return Step.CREDITED if credited else Step.SETTLED_EMPTY


async def _forfeit(
    session: AsyncSession,
    campaign: Campaign,
    accounts: dict[AccountKind, int],
    cash: int,
    vouchers: int,
) -> None:
    forfeited = await ledger_repo.platform_account_id(
        session, AccountKind.FORFEITED, campaign.currency
    )
    kind = TransactionKind.ADJUSTMENT
    moves = [
        Move(accounts[AccountKind.RESERVE], forfeited, cash, kind) if cash else None,
        Move(accounts[AccountKind.VOUCHER_RESERVE], forfeited, vouchers, kind)
        if vouchers
        else None,
    ]
    await post_entry(
        session,
        operation="campaign_forfeit",
        moves=[m for m in moves if m is not None],
        description=f"Campaign {campaign.name}: unspent rest at or below the minimum credit",
        actor_user_id=None,
        idempotency_key=f"campaign:{campaign.id}:settle",
        campaign_id=campaign.id,
    )
    campaign.forfeited += cash + vouchers
