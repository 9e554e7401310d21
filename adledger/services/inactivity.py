"""The subscription inactivity refund (DESIGN §9, the ad:personam page): a center none of
whose members made an authenticated request during a paid plan period may ask for it
within 90 days after that period; at most three monthly periods a request, each period
once; staff approve. It goes back to the card that paid the plan, or to the balance it
was paid from (refunds.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.access import Permission
from adledger.domain.billing import add_months
from adledger.domain.errors import InvalidState, InvariantBroken
from adledger.domain.events import EventType
from adledger.domain.refunds import RefundReason, RefundRequestStatus
from adledger.services import access
from adledger.services.actor import Actor
from adledger.services.idempotency import run_idempotent
from adledger.services.refunds import RefundOutcome, audit_request, tell
from adledger.store import business_centers as centers
from adledger.store import refunds as repo
from adledger.store import users as user_repo
from adledger.store import wallets as wallet_repo
from adledger.store.models import Invoice
from adledger.store.models import RefundRequest as RequestRow

WINDOW = timedelta(days=90)
MAX_PERIODS = 3
CENTER_FIELD = ("input", "businessCenterId")


async def request_inactivity_refund(
    session: AsyncSession, actor: Actor, center_id: int, now: datetime, key: str | None = None
) -> RefundOutcome:
    """ADMIN or FINANCE_MANAGER: the newest inactive paid periods (at most three) that
    ended within 90 days, for staff to approve."""
    await access.require(
        session,
        actor,
        center_id,
        Permission.MOVE_MONEY,
        field=CENTER_FIELD,
        what="business center",
    )

    async def run() -> RefundOutcome:
        await centers.lock_business_center(session, center_id)  # one request at a time
        periods = await _inactive_periods(session, center_id, now)
        if not periods:
            raise InvalidState(
                "no paid plan period without any member's activity ended within the last "
                f"{WINDOW.days} days (or each was refunded already)"
            )
        wallet = (await wallet_repo.wallets_of_centers(session, [center_id]))[0]
        request = await repo.insert_request(
            session,
            RequestRow(
                business_center_id=center_id,
                wallet_id=wallet.id,
                reason=RefundReason.INACTIVITY,
                currency=periods[0].currency,
                amount=sum(i.subtotal - i.discount for i in periods),
                status=RefundRequestStatus.REQUESTED,
                requested_by_user_id=actor.user_id,
                requested_at=now,
            ),
        )
        await repo.insert_periods(session, request.id, [i.id for i in periods])
        await audit_request(session, request, "INACTIVITY_REFUND_REQUESTED", actor.user_id, now)
        await tell(session, request.id, [EventType.REFUND_REQUESTED], now)
        return RefundOutcome(request.id, wallet.id)

    body = {"center": center_id}
    return await run_idempotent(
        session, actor, key, "requestInactivityRefund", body, RefundOutcome, run
    )


async def _inactive_periods(session: AsyncSession, center_id: int, now: datetime) -> list[Invoice]:
    inactive: list[Invoice] = []
    # A period ending within the window began at most a month before it.
    since = add_months(now - WINDOW, -1)
    for invoice in await repo.refundable_periods(session, center_id, since, now):
        if invoice.cycle_start is None:
            raise InvariantBroken("invoice.cycle_start is not None (the query asks for it)")
        start, end = invoice.cycle_start, add_months(invoice.cycle_start, 1)
        if not end <= now <= end + WINDOW:
            continue
        # Whole UTC days, both ends counted: a request on either edge day is activity.
        if await user_repo.active_members(session, center_id, start.date(), end.date()):
            continue
        inactive.append(invoice)
        if len(inactive) == MAX_PERIODS:
            break
    return inactive
