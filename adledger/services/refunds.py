"""Refunds of unused credit balance to the original payment method (DESIGN §9).

Every payment that brought money in is a lot (`record_lot`, when its invoice is paid).
`requestRefund` takes the amount out of the wallet's cash at once, into the platform's
refunds clearing, so it cannot be spent twice, and waits for staff. Approved, it is split
across the center's lots, newest first, never more than a lot holds (domain/refunds.py),
and one provider refund per lot is made after the commit, keyed by our refund's id.
Declined, the money is back in cash. Each provider refund then follows the provider:
succeeded, the money leaves for good (clearing → payments); failed, it is back in cash,
as a transaction of its own. A refund sent cannot be canceled.

Lock order: the center's ledger accounts (cash), then the request, then its lots and
refunds. Nothing else locks lots or refunds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.domain.access import Permission
from adledger.domain.campaigns import CampaignStatus
from adledger.domain.errors import (
    CurrencyMismatch,
    InsufficientFunds,
    InvalidState,
    InvariantBroken,
    PaymentProviderFailed,
    not_found,
)
from adledger.domain.events import EventType
from adledger.domain.ledger import AccountKind, Move, TransactionKind
from adledger.domain.money import Currency, format_money, parse_positive_amount
from adledger.domain.refunds import (
    Lot,
    RefundReason,
    RefundStatus,
    approved_status,
    final_status,
    settled_status,
    split_refund,
)
from adledger.domain.refunds import RefundRequestStatus as RequestStatus
from adledger.domain.text import clean_text
from adledger.domain.wallets import MoneyIn
from adledger.payments.port import PaymentProvider, ProviderRefund, RefundRequest
from adledger.services import access, effect_kinds, events, outbox
from adledger.services import event_data_money as snapshots
from adledger.services.actor import Actor
from adledger.services.idempotency import run_idempotent
from adledger.services.ledger import post_entry
from adledger.services.transact import Transact
from adledger.store import audit
from adledger.store import campaigns as campaigns_repo
from adledger.store import ledger as ledger_repo
from adledger.store import refunds as repo
from adledger.store import wallets as wallet_repo
from adledger.store.models import Campaign, Invoice, PaymentLot, Refund
from adledger.store.models import RefundRequest as RequestRow

log = logging.getLogger(__name__)

WALLET_FIELD = ("input", "walletId")
CAMPAIGN_FIELD = ("input", "campaignId")
REQUEST_FIELD = ("input", "refundRequestId")
AMOUNT_FIELD = ("input", "amount", "amount")


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    request_id: int
    wallet_id: int


async def record_lot(
    session: AsyncSession, invoice: Invoice, payment_reference: str | None, paid_at: datetime
) -> None:
    """The payment of an invoice that brought money in (top-up, shortfall, installment,
    plan) is a lot refunds may go back to."""
    await repo.insert_lot(
        session,
        center_id=invoice.business_center_id,
        invoice_id=invoice.id,
        payment_reference=payment_reference,
        currency=invoice.currency,
        amount=invoice.subtotal - invoice.discount,
        paid_at=paid_at,
    )


async def request_refund(
    session: AsyncSession,
    actor: Actor,
    wallet_id: int,
    amount: MoneyIn,
    now: datetime,
    key: str | None = None,
) -> RefundOutcome:
    """ADMIN or FINANCE_MANAGER: unused credit balance back to the payments."""
    wallet = await wallet_repo.wallet(session, wallet_id)
    if wallet is None:
        raise not_found("wallet", WALLET_FIELD)
    center_id = wallet.business_center_id
    await access.require(
        session, actor, center_id, Permission.MOVE_MONEY, field=WALLET_FIELD, what="wallet"
    )
    if amount.currency.value != wallet.currency:
        raise CurrencyMismatch(expected=wallet.currency, field=("input", "amount", "currencyCode"))
    money = parse_positive_amount(amount.amount, Currency(wallet.currency), AMOUNT_FIELD)

    async def run() -> RefundOutcome:
        await _take_from_cash(
            session, wallet_id, wallet.currency, money.minor, actor.user_id, AMOUNT_FIELD
        )
        await _check_lots(session, center_id, wallet.currency, money.minor)
        request = await repo.insert_request(
            session,
            RequestRow(
                business_center_id=center_id,
                wallet_id=wallet_id,
                reason=RefundReason.CREDIT_BALANCE,
                currency=wallet.currency,
                amount=money.minor,
                status=RequestStatus.REQUESTED,
                requested_by_user_id=actor.user_id,
                requested_at=now,
            ),
        )
        await audit_request(session, request, "REFUND_REQUESTED", actor.user_id, now)
        await tell(session, request.id, [EventType.REFUND_REQUESTED], now)
        return RefundOutcome(request.id, wallet_id)

    body = {"wallet": wallet_id, "amount": money.minor}
    return await run_idempotent(session, actor, key, "requestRefund", body, RefundOutcome, run)


async def _take_from_cash(
    session: AsyncSession,
    wallet_id: int,
    currency: str,
    amount: int,
    actor: int,
    field: tuple[str, ...] = (),
) -> None:
    """Out of cash at once, so it cannot be spent while staff decide (InsufficientFunds
    when the unused balance is smaller)."""
    cash = await wallet_repo.wallet_account(session, wallet_id, AccountKind.CASH)
    clearing = await ledger_repo.platform_account_id(
        session, AccountKind.REFUNDS_CLEARING, currency
    )
    try:
        await post_entry(
            session,
            operation="refund_request",
            moves=[Move(cash.id, clearing, amount, TransactionKind.REFUND)],
            description="Refund requested to the original payment method",
            actor_user_id=actor,
        )
    except InsufficientFunds as short:
        message = f"a refund comes out of cash, which holds {short.available()}"
        raise short.at(field, message) from None


async def _check_lots(session: AsyncSession, center_id: int, currency: str, amount: int) -> None:
    """What the payments still hold, less what open requests will take from them."""
    lots = await repo.lots_of_center(session, center_id, currency, lock=True)
    claimed = await repo.requested_total(session, center_id, currency)
    held = max(sum(lot.amount - lot.refunded for lot in lots) - claimed, 0)
    if amount > held:
        raise InsufficientFunds(
            "a refund goes back to the payments that brought the money in, and they hold "
            f"{format_money(held, currency)} not yet refunded or requested",
            AMOUNT_FIELD,
            available_minor=held,
            currency=currency,
        )


async def approve_refund(
    session: AsyncSession, actor: Actor, request_id: int, now: datetime, key: str | None = None
) -> RefundOutcome:
    """Staff: split the request across the lots, newest first; the provider refunds are
    made after the commit (`send_refunds`)."""
    access.require_staff(actor)

    async def run() -> RefundOutcome:
        request = await _open_request(session, request_id)
        status = RequestStatus.SENT
        if request.reason == RefundReason.INACTIVITY:
            status = await _pay_out_inactivity(session, request, actor.user_id)
        else:
            lots = await repo.lots_of_center(
                session, request.business_center_id, request.currency, lock=True
            )
            await _split(session, request.id, (request.amount, request.currency), lots)
        await repo.update_request(
            session, request.id, status=status, decided_by_user_id=actor.user_id, decided_at=now
        )
        await audit_request(session, request, "REFUND_APPROVED", actor.user_id, now)
        told = [EventType.REFUND_APPROVED, *_settled_events(status)]
        await tell(session, request.id, told, now)
        return RefundOutcome(request.id, request.wallet_id)

    body = {"request": request_id}
    outcome = await run_idempotent(session, actor, key, "approveRefund", body, RefundOutcome, run)
    await declare_send(session, outcome.request_id)
    return outcome


async def declare_send(session: AsyncSession, request_id: int | None) -> None:
    """The request's refunds are made at the provider after the commit (one it does not
    take now is made by the send-refunds job). Declared on a replay too: what the first
    request left undone is sent now (its key makes it one effect)."""
    if request_id is not None:
        await outbox.declare(session, effect_kinds.send_refunds(request_id))


async def _split(
    session: AsyncSession, request_id: int, money: tuple[int, str], lots: Sequence[PaymentLot]
) -> None:
    """One refund per lot, newest first (InsufficientFunds when the lots hold less)."""
    amount, currency = money
    parts = split_refund(amount, [Lot(x.id, x.amount, x.refunded) for x in lots], currency)
    for part in parts:
        await repo.change_refunded(session, part.lot_id, part.amount)
        row = Refund(
            refund_request_id=request_id,
            lot_id=part.lot_id,
            amount=part.amount,
            status=RefundStatus.PENDING,
        )
        await repo.insert_refund(session, row)


async def _pay_out_inactivity(
    session: AsyncSession, request: RequestRow, actor: int
) -> RequestStatus:
    """Each plan period back where it came from: to the card payment that paid it (a
    refund, made after the commit), or to the balance it was paid from. Answers the
    request's status: SENT while refunds are under way, SUCCEEDED when none is."""
    revenue = await ledger_repo.platform_account_id(session, AccountKind.REVENUE, request.currency)
    sent = False
    for invoice_id, amount in await repo.periods_of_request(session, request.id):
        lot = await repo.lot_of_invoice(session, invoice_id)
        # What other refunds already took from that payment comes back to the balance.
        to_card = (
            0
            if lot is None or lot.payment_reference is None
            else min(amount, lot.amount - lot.refunded)
        )
        if to_card > 0 and lot is not None:
            await _to_refund(session, request, lot.id, to_card, revenue, actor)
            sent = True
        if amount - to_card > 0:
            await _to_balance(session, request, amount - to_card, revenue, actor)
    return approved_status(refunds_under_way=sent)


async def _to_refund(
    session: AsyncSession, request: RequestRow, lot_id: int, amount: int, revenue: int, actor: int
) -> None:
    await repo.change_refunded(session, lot_id, amount)
    await repo.insert_refund(
        session,
        Refund(
            refund_request_id=request.id, lot_id=lot_id, amount=amount, status=RefundStatus.PENDING
        ),
    )
    clearing = await ledger_repo.platform_account_id(
        session, AccountKind.REFUNDS_CLEARING, request.currency
    )
    await post_entry(
        session,
        operation="inactivity_refund",
        moves=[Move(revenue, clearing, amount, TransactionKind.REFUND)],
        description="Inactive plan period refunded to its payment",
        actor_user_id=actor,
    )


async def _to_balance(
    session: AsyncSession, request: RequestRow, amount: int, revenue: int, actor: int
) -> None:
    cash = await wallet_repo.wallet_account(session, request.wallet_id, AccountKind.CASH)
    await post_entry(
        session,
        operation="inactivity_refund",
        moves=[Move(revenue, cash.id, amount, TransactionKind.SUBSCRIPTION_REFUND)],
        description="Inactive plan period refunded to the balance it was paid from",
        actor_user_id=actor,
    )


async def refund_campaign_money(
    session: AsyncSession, campaign: Campaign, amount: int, actor: int, now: datetime
) -> int:
    """Staff resolving a cancellation: the campaign's unspent money, already credited to its
    account's cash by the caller (campaign locked), back to the payments."""
    return await refund_to_payments(
        session, campaign, amount, RefundReason.CANCELLATION, actor, now
    )


async def refund_to_payments(
    session: AsyncSession,
    campaign: Campaign,
    amount: int,
    reason: RefundReason,
    actor: int,
    now: datetime,
) -> int:
    """Money of a campaign, already in its account's cash (the caller credited it there,
    visibly), on to the payments, decided at once: the campaign's own payments (its
    installments) when they hold enough, else the center's, newest first. Answers the
    refund request's id; its refunds are made after the commit."""
    lots = await repo.lots_of_campaign(session, campaign.id, campaign.currency)
    if sum(lot.amount - lot.refunded for lot in lots) < amount:
        lots = await repo.lots_of_center(
            session, campaign.business_center_id, campaign.currency, lock=True
        )
    request = await _campaign_request(session, campaign, reason, amount, actor, now)
    await _split(session, request.id, (amount, campaign.currency), lots)
    await audit_request(session, request, f"{reason}_REFUNDED", actor, now)
    await _take_from_cash(session, campaign.wallet_id, campaign.currency, amount, actor)
    await tell(session, request.id, DECIDED_AT_ONCE, now)
    return request.id


async def refund_rejected_campaign(
    session: AsyncSession, actor: Actor, campaign_id: int, now: datetime, key: str | None = None
) -> RefundOutcome:
    """ADMIN or FINANCE_MANAGER: the money a campaign rejected in review got back as
    credit goes on to the payments, at once, without waiting for staff (DESIGN §9)."""
    found = await campaigns_repo.campaign(session, campaign_id)
    if found is None:
        raise not_found("campaign", CAMPAIGN_FIELD)
    await access.require(
        session,
        actor,
        found.business_center_id,
        Permission.MOVE_MONEY,
        field=CAMPAIGN_FIELD,
        what="campaign",
    )

    async def run() -> RefundOutcome:
        campaign = await campaigns_repo.lock_campaign(session, campaign_id)
        if campaign is None:
            raise InvariantBroken("campaign is not None (campaigns are never deleted)")
        _check_rejected(campaign)
        if await repo.refunded_campaign(session, campaign.id):
            raise InvalidState("this campaign's money was already refunded")
        await _take_from_cash(
            session, campaign.wallet_id, campaign.currency, campaign.credited, actor.user_id
        )
        lots = await repo.lots_of_center(
            session, campaign.business_center_id, campaign.currency, lock=True
        )
        request = await _campaign_request(
            session, campaign, RefundReason.REJECTED_CAMPAIGN, campaign.credited, actor.user_id, now
        )
        await _split(session, request.id, (campaign.credited, campaign.currency), lots)
        await audit_request(session, request, "REJECTED_CAMPAIGN_REFUNDED", actor.user_id, now)
        await tell(session, request.id, DECIDED_AT_ONCE, now)
        return RefundOutcome(request.id, campaign.wallet_id)

    body = {"campaign": campaign_id}
    outcome = await run_idempotent(
        session, actor, key, "refundRejectedCampaign", body, RefundOutcome, run
    )
    await declare_send(session, outcome.request_id)
    return outcome


async def _campaign_request(
    session: AsyncSession,
    campaign: Campaign,
    reason: RefundReason,
    amount: int,
    actor: int,
    now: datetime,
) -> RequestRow:
    """A refund of a campaign's money, decided at once (SENT)."""
    return await repo.insert_request(
        session,
        RequestRow(
            business_center_id=campaign.business_center_id,
            wallet_id=campaign.wallet_id,
            campaign_id=campaign.id,
            reason=reason,
            currency=campaign.currency,
            amount=amount,
            status=RequestStatus.SENT,
            requested_by_user_id=actor,
            requested_at=now,
            decided_by_user_id=actor,
            decided_at=now,
        ),
    )


def _check_rejected(campaign: Campaign) -> None:
    if campaign.status != CampaignStatus.REJECTED:
        raise InvalidState(
            f"only a campaign rejected in review is refunded this way; this one is "
            f"{campaign.status}"
        )
    if campaign.credited <= 0:
        raise InvalidState("the rejected campaign had no money to give back")


async def decline_refund(
    session: AsyncSession,
    actor: Actor,
    request_id: int,
    note: str,
    now: datetime,
    key: str | None = None,
) -> RefundOutcome:
    """Staff: the money goes back to the wallet's cash."""
    access.require_staff(actor)
    text = clean_text(note, ("input", "reason"))

    async def run() -> RefundOutcome:
        request = await _open_request(session, request_id)
        if request.reason != RefundReason.INACTIVITY:  # nothing left the balance for those
            await _back_to_cash(session, request, request.amount, "declined", actor.user_id)
        await repo.update_request(
            session,
            request.id,
            status=RequestStatus.DECLINED,
            decided_by_user_id=actor.user_id,
            decided_at=now,
            note=text,
        )
        await audit_request(session, request, "REFUND_DECLINED", actor.user_id, now, text)
        await tell(session, request.id, [EventType.REFUND_DECLINED], now)
        return RefundOutcome(request.id, request.wallet_id)

    body = {"request": request_id, "reason": text}
    return await run_idempotent(session, actor, key, "declineRefund", body, RefundOutcome, run)


async def _open_request(session: AsyncSession, request_id: int) -> RequestRow:
    found = await repo.requests_by_ids(session, [request_id])
    if not found:
        raise not_found("refund request", REQUEST_FIELD)
    cash = await wallet_repo.wallet_account(session, found[0].wallet_id, AccountKind.CASH)
    await ledger_repo.lock_accounts(session, [cash.id])  # the lock order: ledger first
    request = await repo.lock_request(session, request_id)
    if request is None:
        raise not_found("refund request", REQUEST_FIELD)
    if request.status != RequestStatus.REQUESTED:
        raise InvalidState(f"the refund request is {request.status}, not awaiting a decision")
    return request


async def _back_to_cash(
    session: AsyncSession, request: RequestRow, amount: int, what: str, actor: int | None
) -> None:
    cash = await wallet_repo.wallet_account(session, request.wallet_id, AccountKind.CASH)
    clearing = await ledger_repo.platform_account_id(
        session, AccountKind.REFUNDS_CLEARING, request.currency
    )
    await post_entry(
        session,
        operation="refund_returned",
        moves=[Move(clearing, cash.id, amount, TransactionKind.REFUND_RETURNED)],
        description=f"Refund {what}: the money is back in the balance",
        actor_user_id=actor,
    )


# -- the provider ---------------------------------------------------------------------


async def send_refunds(transact: Transact, provider: PaymentProvider, request_id: int) -> int:
    """Make at the provider each refund of the request not made yet; answers how many
    it made. A provider that does not answer leaves the rest to the send-refunds job."""
    refund_ids = await transact(lambda s: _unsent_of(s, request_id))
    made = 0
    for refund_id in refund_ids:
        try:
            await send_one(transact, provider, refund_id)
        except PaymentProviderFailed as err:
            log.warning("refund %s not made yet (%s); the job retries", refund_id, err)
            continue
        made += 1
    return made


async def _unsent_of(session: AsyncSession, request_id: int) -> list[int]:
    refunds = await repo.refunds_of_requests(session, [request_id])
    return [
        r.id for r in refunds if r.status == RefundStatus.PENDING and r.provider_reference is None
    ]


async def send_one(transact: Transact, provider: PaymentProvider, refund_id: int) -> None:
    """Raises PaymentProviderFailed; the key makes a retry reach the same refund."""
    ask = await transact(lambda s: _refund_request(s, refund_id))
    if ask is None:
        return
    made = await provider.refund(ask)
    await transact(lambda s: settle(s, refund_id, made, None))


async def _refund_request(session: AsyncSession, refund_id: int) -> RefundRequest | None:
    refund = await repo.lock_refund(session, refund_id)
    pending = refund is not None and refund.status == RefundStatus.PENDING
    if refund is None or refund.provider_reference is not None or not pending:
        return None
    lot = (await repo.lots_by_ids(session, [refund.lot_id]))[refund.lot_id]
    if lot.payment_reference is None:
        raise InvariantBroken("lot.payment_reference is not None (only such lots are split into)")
    return RefundRequest(
        key=f"refund:{refund.id}",
        payment_reference=lot.payment_reference,
        amount_minor=refund.amount,
        currency=lot.currency,
        metadata={"adledger_refund_id": str(refund.id)},
    )


async def settle(
    session: AsyncSession, refund_id: int, fetched: ProviderRefund, now: datetime | None
) -> bool:
    """Follow the provider's refund: its reference, then its outcome once final.
    Answers whether this changed the refund's status. The wallet's cash is locked before
    the refund (a failed refund's money goes back to it): the order approve takes too."""
    found = await repo.refund(session, refund_id)
    if found is None:
        return False
    owner = (await repo.requests_by_ids(session, [found.refund_request_id]))[0]
    cash = await wallet_repo.wallet_account(session, owner.wallet_id, AccountKind.CASH)
    await ledger_repo.lock_accounts(session, [cash.id])
    refund = await repo.lock_refund(session, refund_id)
    if refund is None:
        return False
    if refund.provider_reference is None:
        await repo.update_refund(session, refund.id, provider_reference=fetched.reference)
    outcome = settled_status(fetched.status)
    if refund.status != RefundStatus.PENDING or outcome is None:
        return False
    request = (await repo.requests_by_ids(session, [refund.refund_request_id]))[0]
    if outcome is RefundStatus.SUCCEEDED:
        await _gone(session, request, refund)
    else:
        await _failed(session, request, refund, fetched.status)
    now = now or clock.now()  # an answer to our own call: settled as it came
    await repo.update_refund(session, refund.id, status=outcome, settled_at=now)
    await audit.record(
        session,
        audit.Audited(
            request.business_center_id,
            None,
            f"REFUND_{outcome}",
            f"Refund {fetched.reference}",
            now,
            refund.amount,
            request.currency,
            f"part of refund request {request.id}",
        ),
    )
    final = await _close_request(session, request.id)
    if final is not None:
        await tell(session, request.id, _settled_events(final), now)
    return True


async def refund_id_of(session: AsyncSession, fetched: ProviderRefund) -> int | None:
    """Our refund behind the provider's: by its reference, or (an answer we never got)
    by the id in its metadata, when that refund has no other reference."""
    found = await repo.refund_id_by_reference(session, fetched.reference)
    if found is not None:
        return found
    raw = fetched.metadata.get("adledger_refund_id", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        return None
    refund = await repo.refund(session, int(raw))
    if refund is None or refund.provider_reference not in (None, fetched.reference):
        return None
    return refund.id


async def wallet_of_refund(session: AsyncSession, refund_id: int | None) -> int | None:
    if refund_id is None:
        return None
    refund = await repo.refund(session, refund_id)
    if refund is None:
        return None
    return (await repo.requests_by_ids(session, [refund.refund_request_id]))[0].wallet_id


async def _gone(session: AsyncSession, request: RequestRow, refund: Refund) -> None:
    clearing = await ledger_repo.platform_account_id(
        session, AccountKind.REFUNDS_CLEARING, request.currency
    )
    payments = await ledger_repo.platform_account_id(
        session, AccountKind.PAYMENTS_CLEARING, request.currency
    )
    await post_entry(
        session,
        operation="refund_paid",
        moves=[Move(clearing, payments, refund.amount, TransactionKind.REFUND)],
        description="Refund to the original payment method made",
        actor_user_id=None,
        idempotency_key=f"refund:{refund.id}:settled",
    )


async def _failed(session: AsyncSession, request: RequestRow, refund: Refund, status: str) -> None:
    await repo.change_refunded(session, refund.lot_id, -refund.amount)
    await repo.update_refund(session, refund.id, failure=f"the provider's refund {status}")
    await _back_to_cash(session, request, refund.amount, "failed", None)


async def audit_request(
    session: AsyncSession,
    request: RequestRow,
    action: str,
    actor: int | None,
    at: datetime,
    detail: str | None = None,
) -> None:
    await audit.record(
        session,
        audit.Audited(
            request.business_center_id,
            actor,
            action,
            f"RefundRequest {request.id}",
            at,
            request.amount,
            request.currency,
            detail,
        ),
    )


async def _close_request(session: AsyncSession, request_id: int) -> RequestStatus | None:
    """The request's final status once its last refund settled (None while one is
    pending)."""
    refunds = await repo.refunds_of_requests(session, [request_id])
    final = final_status(r.status for r in refunds)
    if final is not None:
        await repo.update_request(session, request_id, status=final)
    return final


# -- partner events ---------------------------------------------------------------------

DECIDED_AT_ONCE = (EventType.REFUND_REQUESTED, EventType.REFUND_APPROVED)
"""A refund of a campaign's money is requested and approved in one step."""


def _settled_events(status: RequestStatus) -> list[EventType]:
    """The event a request's status is once it settled (none while refunds are pending):
    a refund that failed, even in part, is `refund.failed` (its money is back in cash)."""
    if status is RequestStatus.SUCCEEDED:
        return [EventType.REFUND_SUCCEEDED]
    if status in (RequestStatus.FAILED, RequestStatus.PARTLY_FAILED):
        return [EventType.REFUND_FAILED]
    return []


async def tell(
    session: AsyncSession, request_id: int, types: Sequence[EventType], now: datetime
) -> None:
    """The request's events, its snapshot (with its refunds) as this change leaves it."""
    request = (await repo.requests_by_ids(session, [request_id]))[0]
    data = snapshots.refund_request(request, await repo.refunds_of_requests(session, [request_id]))
    for type_ in types:
        await events.record(
            session, request.business_center_id, type_, "RefundRequest", request.id, data, now
        )
