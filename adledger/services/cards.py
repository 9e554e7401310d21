"""Cards on file (DESIGN §8): a business center saves a card at the provider for its
INSTALLMENTS and PREPAY campaigns.

`createCardSetup` records a setup here and commits, then makes the provider's SetupIntent
(keyed by our setup's id, so a retry reaches the same one) and answers its client secret
for Stripe.js. The card is recorded when the provider's event says the setup succeeded;
the event is only a hint: the setup and the card are fetched again from the provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.access import Permission
from adledger.domain.cards import SavedCard, card_of
from adledger.domain.errors import InvalidState, not_found
from adledger.domain.events import EventType
from adledger.payments.port import Card, CardSetup, CardSetupRequest, PaymentProvider
from adledger.services import access, effect_kinds, events, outbox
from adledger.services import event_data_money as snapshots
from adledger.services.actor import Actor
from adledger.services.invoices import provider_customer
from adledger.services.transact import Transact
from adledger.store import business_centers as centers
from adledger.store import cards as repo

CENTER_FIELD = ("input", "businessCenterId")
CARD_SETUP_ID = "adledger_card_setup_id"
MAX_SETUPS_A_DAY = 20


@dataclass(frozen=True, slots=True)
class SetupStarted:
    setup_id: int
    center_id: int


async def begin_card_setup(
    session: AsyncSession, actor: Actor, center_id: int, now: datetime
) -> SetupStarted:
    """ADMIN or FINANCE_MANAGER (or staff): a card pays the center's campaigns. Each setup
    costs a provider call: a center starts at most MAX_SETUPS_A_DAY a UTC day."""
    await access.require(
        session, actor, center_id, Permission.MOVE_MONEY, field=CENTER_FIELD, what="business center"
    )
    await centers.lock_business_center(session, center_id)  # the count below holds
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if await repo.setups_since(session, center_id, day) >= MAX_SETUPS_A_DAY:
        raise InvalidState(f"a business center starts at most {MAX_SETUPS_A_DAY} card setups a day")
    setup = await repo.insert_card_setup(session, center_id, actor.user_id)
    # The provider's SetupIntent is made after the commit (`open_card_setup`).
    await outbox.declare(session, effect_kinds.open_card_setup(setup.id, center_id))
    return SetupStarted(setup.id, center_id)


async def open_card_setup(
    transact: Transact, provider: PaymentProvider, started: SetupStarted
) -> CardSetup:
    """After the commit: the provider's customer and SetupIntent. Raises
    PaymentProviderFailed; calling it again for the same setup is safe."""
    customer = await provider_customer(transact, provider, started.center_id)
    metadata = {
        "adledger_business_center_id": str(started.center_id),
        CARD_SETUP_ID: str(started.setup_id),
    }
    request = CardSetupRequest(f"card-setup:{started.setup_id}", customer, metadata)
    setup = await provider.create_card_setup(request)
    await transact(lambda s: repo.set_card_setup_reference(s, started.setup_id, setup.reference))
    return setup


async def record_card(
    session: AsyncSession, setup: CardSetup, card: Card, now: datetime
) -> int | None:
    """The card of a setup that succeeded becomes its center's card; answers the center's
    id, or None when the setup is not one of ours (or not for this card)."""
    center_id = await _center_of(session, setup)
    if center_id is None or setup.status != "succeeded" or setup.payment_method != card.reference:
        return None
    center = await centers.lock_business_center(session, center_id)
    if center is None:
        raise not_found("business center")
    if card.customer_reference not in (None, center.payment_customer_reference):
        return None  # a card of another customer must never pay this center's invoices
    saved = SavedCard(card.reference, card.brand, card.last4, card.exp_month, card.exp_year)
    again = card_of(center) == saved  # the provider told it again: nothing to tell
    await repo.save_card(session, center_id, saved, now)
    if again:
        return center_id
    data = snapshots.card(center_id, saved.brand, saved.last4, saved.exp_month, saved.exp_year)
    saved_event = EventType.CARD_SAVED
    await events.record(session, center_id, saved_event, "BusinessCenter", center_id, data, now)
    return center_id


async def _center_of(session: AsyncSession, setup: CardSetup) -> int | None:
    found = await repo.card_setup_by_reference(session, setup.reference)
    if found is None:
        # The provider made it but our record of its reference was lost (a timeout).
        raw = setup.metadata.get(CARD_SETUP_ID, "")
        known = raw.isascii() and raw.isdigit() and len(raw) <= 18
        found = await repo.card_setup(session, int(raw)) if known else None
        if found is None or found.reference not in (None, setup.reference):
            return None
        await repo.set_card_setup_reference(session, found.id, setup.reference)
    return found.business_center_id
