"""Makegoods for GUARANTEED campaigns (DESIGN §9, the ad:personam page).

A GUARANTEED campaign books impressions; those it delivered are counted from its spend
events. Staff flag one likely to under-deliver (its business center is notified), then
offer a makegood flight (a linked campaign, price 0, for the missing impressions), or a
MAKEGOOD_CREDIT or a refund for the under-delivered share. Nothing moves until the
customer accepts; an offer is decided once.

A credit or refund compensates only what the sweep or a cancellation does not already
return (makegood_draws.py, domain/conservation.py): the share less earlier makegoods, from
the campaign's reserve first, from revenue only for spend billed above the delivered
value. Accepted later, it is worked out again and pays what the rule allows then, at
most the offer (refused when nothing is left). Missing impressions are made good once:
with money or with a flight, not both.

Lock order: the campaign (with the wallet's waiting campaigns: a credit is money
arriving), then its offer, then ledger accounts, then refund lots.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.access import Permission
from adledger.domain.campaigns import (
    MAX_NAME_LENGTH,
    CampaignStatus,
    DeliveryType,
    Flight,
    PaymentPlan,
    check_new_flight,
    launched,
)
from adledger.domain.conservation import at_most
from adledger.domain.errors import InvalidInput, InvalidState, InvariantBroken, not_found
from adledger.domain.events import EventType
from adledger.domain.money import format_money
from adledger.domain.refunds import RefundReason
from adledger.domain.text import clean_text
from adledger.services import access, events, makegood_draws, notifications, refunds
from adledger.services import event_data_money as snapshots
from adledger.services.actor import Actor
from adledger.services.delivery import set_status
from adledger.services.funding import fund_waiting, lock_waiting
from adledger.services.idempotency import run_idempotent
from adledger.store import audit
from adledger.store import campaigns as campaign_repo
from adledger.store import makegoods as repo
from adledger.store.models import Campaign, MakegoodOffer

CAMPAIGN_FIELD = ("input", "campaignId")
OFFER_FIELD = ("input", "offerId")


class MakegoodKind(enum.StrEnum):
    CREDIT = "CREDIT"
    REFUND = "REFUND"
    FLIGHT = "FLIGHT"
    """A linked campaign, price 0, for the missing impressions."""


@dataclass(frozen=True, slots=True)
class MakegoodOutcome:
    campaign_id: int
    offer_id: int | None
    wallet_id: int
    refund_request_id: int | None = None


async def flag_underdelivery(
    session: AsyncSession, actor: Actor, campaign_id: int, message: str, now: datetime
) -> MakegoodOutcome:
    """Staff: the campaign's business center is told it may under-deliver."""
    access.require_staff(actor)
    text = clean_text(message, ("input", "message"), "message")
    campaign = await _guaranteed(session, campaign_id)
    await _notify(session, campaign, "UNDERDELIVERY_LIKELY", text, actor.user_id, now)
    await _audit(session, campaign, actor.user_id, "UNDERDELIVERY_FLAGGED", now, None, text)
    return MakegoodOutcome(campaign.id, None, campaign.wallet_id)


async def offer_makegood(
    session: AsyncSession,
    actor: Actor,
    campaign_id: int,
    kind: MakegoodKind,
    note: str | None,
    now: datetime,
    flight: Flight | None = None,
) -> MakegoodOutcome:
    """Staff: offer a credit or a refund for the under-delivered share, or a flight (its
    dates given) for the missing impressions; one open offer per campaign at a time."""
    access.require_staff(actor)
    text = None if note is None else clean_text(note, ("input", "note"), "note")
    if kind is MakegoodKind.FLIGHT:
        if flight is None:
            raise InvalidInput("a makegood flight has its dates", ("input", "startsAt"))
        check_new_flight(flight, now)
    await _guaranteed(session, campaign_id)
    campaign = await _lock(session, campaign_id)
    if await repo.open_offer_id(session, campaign.id) is not None:
        raise InvalidState("the campaign has an offer its customer has not decided yet")
    if kind is MakegoodKind.FLIGHT:
        missing, amount = _flight_for(campaign), 0
    else:
        missing, amount = _missing(campaign), await _allowed(session, campaign)
    offer = await repo.insert_offer(
        session,
        MakegoodOffer(
            campaign_id=campaign.id,
            business_center_id=campaign.business_center_id,
            kind=kind.value,
            missing_impressions=missing,
            amount=amount,
            currency=campaign.currency,
            status="OFFERED",
            note=text,
            offered_by_user_id=actor.user_id,
            offered_at=now,
            starts_at=None if flight is None else flight.starts_at,
            ends_at=None if flight is None else flight.ends_at,
        ),
    )
    what = _WHAT[kind]
    message = f"Makegood offered for {missing} impressions not delivered: {what}"
    await _notify(session, campaign, "MAKEGOOD_OFFERED", message, actor.user_id, now)
    await _audit(session, campaign, actor.user_id, f"MAKEGOOD_OFFERED_{kind}", now, amount, text)
    await _tell(session, offer.id, EventType.MAKEGOOD_OFFERED, now)
    return MakegoodOutcome(campaign.id, offer.id, campaign.wallet_id)


_WHAT = {
    MakegoodKind.CREDIT: "a credit",
    MakegoodKind.REFUND: "a refund to the payments",
    MakegoodKind.FLIGHT: "a makegood flight",
}


def _missing(campaign: Campaign) -> int:
    booked = campaign.booked_impressions or 0
    missing = booked - min(campaign.impressions, booked)
    if missing <= 0:
        raise InvalidState("the campaign delivered every impression it booked")
    return missing


def _flight_for(campaign: Campaign) -> int:
    if campaign.made_good_reserve or campaign.made_good_revenue:
        raise InvalidState("the campaign's missing impressions were made good with money")
    return _missing(campaign)


async def _allowed(session: AsyncSession, campaign: Campaign) -> int:
    """What a credit or refund may give back now (the campaign locked)."""
    allowed = await makegood_draws.allowed_now(session, campaign)
    if allowed.total <= 0:
        raise InvalidState(
            "nothing is left to make good: the under-delivered share was already given back "
            "(by a makegood, a budget reduction, the cancellation or the credit sweep)"
        )
    return allowed.total


async def accept_makegood(
    session: AsyncSession, actor: Actor, offer_id: int, now: datetime, key: str | None = None
) -> MakegoodOutcome:
    """ADMIN or FINANCE_MANAGER: the credit goes to the account's cash, or the refund to
    the payments (made after the commit)."""
    found = await _offer_for(session, actor, offer_id)

    async def run() -> MakegoodOutcome:
        wallet_id = (await _guaranteed(session, found.campaign_id)).wallet_id
        locked = await lock_waiting(session, wallet_id, also=[found.campaign_id])
        campaign = locked[found.campaign_id]
        offer = await _open(session, offer_id)
        refund_id, flight_id, paid = None, None, offer.amount
        if offer.kind == MakegoodKind.FLIGHT:
            flight_id = await _flight(session, campaign, offer, actor.user_id, now)
        else:
            paid, refund_id = await _pay(session, campaign, offer, actor.user_id, now)
        await repo.update_offer(
            session,
            offer.id,
            status="ACCEPTED",
            decided_by_user_id=actor.user_id,
            decided_at=now,
            makegood_campaign_id=flight_id,
            amount=paid,
        )
        await campaign_repo.save(session, campaign)
        await fund_waiting(session, campaign.wallet_id, locked, now)
        action = f"MAKEGOOD_ACCEPTED_{offer.kind}"
        detail = None if paid == offer.amount else _offered_and_paid(offer.amount, paid, campaign)
        await _audit(session, campaign, actor.user_id, action, now, paid, detail)
        await _tell(session, offer.id, EventType.MAKEGOOD_ACCEPTED, now)
        return MakegoodOutcome(campaign.id, offer.id, campaign.wallet_id, refund_id)

    body = {"offer": offer_id}
    outcome = await run_idempotent(
        session, actor, key, "acceptMakegood", body, MakegoodOutcome, run
    )
    await refunds.declare_send(session, outcome.refund_request_id)
    return outcome


async def decline_makegood(
    session: AsyncSession, actor: Actor, offer_id: int, now: datetime
) -> MakegoodOutcome:
    found = await _offer_for(session, actor, offer_id)
    campaign = await _lock(session, found.campaign_id)
    offer = await _open(session, offer_id)
    await repo.update_offer(
        session, offer.id, status="DECLINED", decided_by_user_id=actor.user_id, decided_at=now
    )
    await _audit(session, campaign, actor.user_id, "MAKEGOOD_DECLINED", now, offer.amount, None)
    await _tell(session, offer.id, EventType.MAKEGOOD_DECLINED, now)
    return MakegoodOutcome(campaign.id, offer.id, campaign.wallet_id)


async def _pay(
    session: AsyncSession, campaign: Campaign, offer: MakegoodOffer, actor: int, now: datetime
) -> tuple[int, int | None]:
    """A credit or refund as the rule allows it now, at most the offer: the campaign's
    money may have moved since (spend, a budget change, a cancellation, the sweep). A
    refund sends on what reached the account's cash; voucher money stays vouchers.
    Answers what was paid, and the refund request."""
    allowed = await makegood_draws.allowed_now(session, campaign)
    makegood = at_most(allowed, offer.amount)
    if makegood.total <= 0:
        raise InvalidState(
            "nothing is left to make good: since the offer, the under-delivered share was "
            "given back otherwise (a budget reduction, the cancellation or the credit sweep)"
        )
    paid = await makegood_draws.pay(session, campaign, makegood, offer.id, actor, now)
    refund_id = None
    if offer.kind == MakegoodKind.REFUND and paid.to_cash:
        refund_id = await refunds.refund_to_payments(
            session, campaign, paid.to_cash, RefundReason.MAKEGOOD, actor, now
        )
    return makegood.total, refund_id


async def _flight(
    session: AsyncSession, campaign: Campaign, offer: MakegoodOffer, actor: int, now: datetime
) -> int:
    """The linked campaign, price 0, booking the missing impressions, on the offer's dates:
    launched at once (there is nothing to pay)."""
    if not (offer.starts_at is not None and offer.ends_at is not None):
        raise InvariantBroken(
            "offer.starts_at is not None and offer.ends_at is not None (offered with dates)"
        )
    flight = Flight(offer.starts_at, offer.ends_at)
    if flight.ends_at <= now:
        raise InvalidState("the makegood flight's dates have passed; ask for a new offer")
    row = Campaign(
        ad_account_id=campaign.ad_account_id,
        business_center_id=campaign.business_center_id,
        wallet_id=campaign.wallet_id,
        name=f"Makegood: {campaign.name}"[:MAX_NAME_LENGTH],
        status=CampaignStatus.DRAFT.value,
        delivery_type=DeliveryType.GUARANTEED.value,
        payment_plan=PaymentPlan.CREDIT_BALANCE.value,
        currency=campaign.currency,
        budget=0,  # its counters start at 0 (the model's defaults)
        starts_at=flight.starts_at,
        ends_at=flight.ends_at,
        launched_at=now,
        created_by_user_id=actor,
        booked_impressions=offer.missing_impressions,
        makegood_for_campaign_id=campaign.id,
    )
    set_status(session, row, launched(True, flight, now), now)
    await campaign_repo.insert_campaign(session, row)
    return row.id


async def _guaranteed(session: AsyncSession, campaign_id: int) -> Campaign:
    campaign = await campaign_repo.campaign(session, campaign_id)
    if campaign is None:
        raise not_found("campaign", CAMPAIGN_FIELD)
    if campaign.delivery_type != DeliveryType.GUARANTEED or not campaign.booked_impressions:
        raise InvalidState("makegoods are for GUARANTEED campaigns that booked impressions")
    return campaign


async def _lock(session: AsyncSession, campaign_id: int) -> Campaign:
    campaign = await campaign_repo.lock_campaign(session, campaign_id)
    if campaign is None:
        raise not_found("campaign", CAMPAIGN_FIELD)
    return campaign


async def _offer_for(session: AsyncSession, actor: Actor, offer_id: int) -> MakegoodOffer:
    found = await repo.offer(session, offer_id)
    if found is None:
        raise not_found("makegood offer", OFFER_FIELD)
    await access.require(
        session,
        actor,
        found.business_center_id,
        Permission.MOVE_MONEY,
        field=OFFER_FIELD,
        what="makegood offer",
    )
    return found


async def _open(session: AsyncSession, offer_id: int) -> MakegoodOffer:
    offer = await repo.lock_offer(session, offer_id)
    if offer is None:
        raise not_found("makegood offer", OFFER_FIELD)
    if offer.status != "OFFERED":
        raise InvalidState(f"the makegood offer was already {offer.status.lower()}")
    return offer


async def _notify(
    session: AsyncSession, campaign: Campaign, kind: str, message: str, actor: int, at: datetime
) -> None:
    await notifications.notify(
        session,
        campaign.business_center_id,
        kind,
        message,
        at,
        campaign_id=campaign.id,
        by_user_id=actor,
    )


async def _audit(
    session: AsyncSession,
    campaign: Campaign,
    actor: int | None,
    action: str,
    at: datetime,
    amount: int | None = None,
    detail: str | None = None,
) -> None:
    await audit.record(session, audit.of_campaign(campaign, actor, action, at, amount, detail))


def _offered_and_paid(offered: int, paid: int, campaign: Campaign) -> str:
    return (
        f"offered {format_money(offered, campaign.currency)}, "
        f"paid {format_money(paid, campaign.currency)}"
    )


async def _tell(session: AsyncSession, offer_id: int, type_: EventType, now: datetime) -> None:
    """The offer's event, its snapshot as this decision leaves it."""
    offer = await repo.offer(session, offer_id)
    if offer is None:
        raise InvariantBroken("offer is not None (locked or made in this transaction)")
    data = snapshots.makegood_offer(offer)
    await events.record(
        session, offer.business_center_id, type_, "MakegoodOffer", offer.id, data, now
    )
