"""Invoices, top-ups, plan subscriptions and provider webhook events."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.billing import InvoiceKind
from adledger.domain.errors import InvariantBroken
from adledger.store import raw
from adledger.store.locks import Level, register
from adledger.store.models import (
    Campaign,
    Invoice,
    InvoiceLine,
    PlanSubscription,
    TopUp,
    WebhookEvent,
)

_NEXT_INVOICE_SEQUENCE = """
INSERT INTO invoice_counters (year, last_number) VALUES ($1, 1)
ON CONFLICT (year) DO UPDATE SET last_number = invoice_counters.last_number + 1
RETURNING last_number"""


async def next_invoice_sequence(session: AsyncSession, year: int) -> int:
    """The year's next number; the row lock it takes is held until our commit, so numbers
    are handed out in commit order and a rollback returns its number."""
    register(session, Level.INVOICE_COUNTER)
    sequence: int = await raw.fetchval(session, _NEXT_INVOICE_SEQUENCE, year)
    return sequence


async def insert_invoice(
    session: AsyncSession, invoice: Invoice, lines: Sequence[tuple[str, int]]
) -> Invoice:
    session.add(invoice)
    await session.flush()
    session.add_all(
        InvoiceLine(invoice_id=invoice.id, description=text, amount=amount)
        for text, amount in lines
    )
    await session.flush()
    return invoice


async def invoices_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[Invoice]:
    stmt = select(Invoice).where(Invoice.id.in_(ids)).execution_options(populate_existing=True)
    return list(await session.scalars(stmt))


async def lock_invoice(session: AsyncSession, invoice_id: int) -> Invoice | None:
    stmt = select(Invoice).where(Invoice.id == invoice_id).with_for_update(key_share=True)
    return _registered(
        session, await session.scalar(stmt.execution_options(populate_existing=True))
    )


async def lock_invoice_by_reference(session: AsyncSession, reference: str) -> Invoice | None:
    stmt = (
        select(Invoice)
        .where(Invoice.payment_reference == reference)
        .with_for_update(key_share=True)
    )
    return _registered(
        session, await session.scalar(stmt.execution_options(populate_existing=True))
    )


def _registered(session: AsyncSession, invoice: Invoice | None) -> Invoice | None:
    """An installment (a campaign paid by card) is locked after its campaign; any other
    invoice is its writer's subject, locked first."""
    if invoice is not None:
        installment = invoice.kind == InvoiceKind.INSTALLMENT and invoice.campaign_id
        register(session, Level.CAMPAIGN_ROWS if installment else Level.SUBJECT)
    return invoice


_ISSUE_FACTS = """
SELECT i.id, i.number, i.kind, i.currency, i.subtotal - i.discount AS amount, i.issue_on,
       i.due_at, i.payment_reference, c.id AS center_id, c.name AS center_name,
       c.payment_customer_reference,
       (SELECT l.description FROM invoice_lines l WHERE l.invoice_id = i.id
        ORDER BY l.id LIMIT 1) AS first_line
FROM invoices i JOIN business_centers c ON c.id = i.business_center_id
WHERE i.id = $1"""


async def issue_facts(session: AsyncSession, invoice_id: int) -> raw.Row | None:
    """What issuing the invoice at the provider needs, its center's name and customer
    and its first line's text included, in one statement."""
    return await raw.fetchrow(session, _ISSUE_FACTS, invoice_id)


_RECORD_ISSUE = """
UPDATE invoices SET payment_reference = $2, hosted_url = $3 WHERE id = $1 RETURNING status"""


async def record_issue(
    session: AsyncSession, invoice_id: int, reference: str, hosted_url: str | None
) -> str | None:
    """The provider's reference saved; answers the invoice's status as of now (the row
    is locked by the update: a void committed meanwhile is seen)."""
    status: str | None = await raw.fetchval(
        session, _RECORD_ISSUE, invoice_id, reference, hosted_url
    )
    return status


async def unissued_invoices(
    session: AsyncSession, created_before: datetime, limit: int
) -> list[tuple[int, int | None]]:
    """Open invoices with no provider reference yet: (invoice id, its top-up's id or None)."""
    stmt = (
        select(Invoice.id, TopUp.id)
        .outerjoin(TopUp, TopUp.invoice_id == Invoice.id)
        .where(
            Invoice.status == "OPEN",
            Invoice.payment_reference.is_(None),
            Invoice.created_at < created_before,
        )
        .order_by(Invoice.id)
        .limit(limit)
    )
    return [
        (invoice_id, top_up_id) for invoice_id, top_up_id in (await session.execute(stmt)).all()
    ]


async def update_invoice(session: AsyncSession, invoice_id: int, **values: Any) -> None:
    await session.execute(update(Invoice).where(Invoice.id == invoice_id).values(**values))


async def mark_invoice_paid(session: AsyncSession, invoice_id: int, paid_at: datetime) -> None:
    await raw.execute(
        session,
        "UPDATE invoices SET status = 'PAID', paid_at = $2 WHERE id = $1",
        invoice_id,
        paid_at,
    )


async def lines_by_invoice(
    session: AsyncSession, invoice_ids: Sequence[int]
) -> dict[int, list[tuple[str, int]]]:
    stmt = (
        select(InvoiceLine.invoice_id, InvoiceLine.description, InvoiceLine.amount)
        .where(InvoiceLine.invoice_id.in_(invoice_ids))
        .order_by(InvoiceLine.id)
    )
    lines: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for invoice_id, description, amount in (await session.execute(stmt)).all():
        lines[invoice_id].append((description, amount))
    return lines


async def insert_top_up(session: AsyncSession, top_up: TopUp) -> TopUp:
    session.add(top_up)
    await session.flush()
    return top_up


_INSERT_TOP_UP = """
WITH invoice AS (
  INSERT INTO invoices (number, business_center_id, wallet_id, kind, status, currency,
                        subtotal, discount, issue_on, due_at, created_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10) RETURNING id),
line AS (
  INSERT INTO invoice_lines (invoice_id, description, amount) SELECT id, $11, $7 FROM invoice),
top_up AS (
  INSERT INTO top_ups (wallet_id, invoice_id, status, currency, amount, target_balance,
                       actor_user_id, created_at)
  SELECT $3, id, $12, $6, $7, $13, $14, $10 FROM invoice RETURNING id)
SELECT invoice.id AS invoice_id, top_up.id AS top_up_id FROM invoice, top_up"""


async def insert_top_up_invoice(
    session: AsyncSession, invoice: Invoice, line: str, top_up: TopUp, now: datetime
) -> tuple[int, int]:
    """A top-up with its one-line invoice, in one statement: (invoice id, top-up id)."""
    row = await raw.fetchrow(
        session,
        _INSERT_TOP_UP,
        invoice.number,
        invoice.business_center_id,
        invoice.wallet_id,
        invoice.kind,
        invoice.status,
        invoice.currency,
        invoice.subtotal,
        invoice.issue_on,
        invoice.due_at,
        now,
        line,
        top_up.status,
        top_up.target_balance,
        top_up.actor_user_id,
    )
    if row is None:  # an INSERT ... RETURNING of one row
        raise InvariantBroken("row is not None")
    return row["invoice_id"], row["top_up_id"]


_TOP_UP_CHECKS = """
SELECT (SELECT status FROM plan_subscriptions WHERE business_center_id = $1
        ORDER BY id LIMIT 1) AS subscription,
       (SELECT coalesce(sum(amount), 0) FROM top_ups
        WHERE wallet_id = $2 AND status = $3) AS pending"""


async def top_up_checks(
    session: AsyncSession, center_id: int, wallet_id: int, pending_status: str
) -> tuple[str | None, int]:
    """The center's plan subscription status (None: none) and the wallet's top-ups still
    awaiting payment, summed: what a top-up checks, in one statement."""
    row = await raw.fetchrow(session, _TOP_UP_CHECKS, center_id, wallet_id, pending_status)
    if row is None:  # a SELECT of scalars is one row
        raise InvariantBroken("row is not None")
    return row["subscription"], int(row["pending"])


async def lock_invoice_by_reference_unless_installment(
    session: AsyncSession, reference: str
) -> Invoice | None:
    """The invoice of this provider reference, locked, in one statement, unless it is an
    installment (locked after its campaign: `lock_invoice`) or unknown (None for both)."""
    stmt = (
        select(Invoice)
        .where(Invoice.payment_reference == reference, Invoice.kind != InvoiceKind.INSTALLMENT)
        .with_for_update(key_share=True)
    )
    found = await session.scalar(stmt.execution_options(populate_existing=True))
    if found is not None:
        register(session, Level.SUBJECT)  # its writer's subject, the first lock taken
    return found


_MARK_TOP_UP_PAID = """
UPDATE top_ups SET status = 'PAID', paid_at = $2
WHERE invoice_id = $1 AND status NOT IN ('PAID', 'CANCELED')
RETURNING id, wallet_id, currency, amount, actor_user_id"""


async def mark_top_up_paid(
    session: AsyncSession, invoice_id: int, paid_at: datetime
) -> raw.Row | None:
    """The invoice's top-up locked and marked paid in one statement, unless it is paid or
    canceled already (or there is none): None."""
    register(session, Level.SUBJECT)
    return await raw.fetchrow(session, _MARK_TOP_UP_PAID, invoice_id, paid_at)


async def top_ups_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[TopUp]:
    stmt = select(TopUp).where(TopUp.id.in_(ids)).execution_options(populate_existing=True)
    return list(await session.scalars(stmt))


async def lock_top_up_of_invoice(session: AsyncSession, invoice_id: int) -> TopUp | None:
    register(session, Level.SUBJECT)
    stmt = select(TopUp).where(TopUp.invoice_id == invoice_id).with_for_update(key_share=True)
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def update_top_up(session: AsyncSession, top_up_id: int, **values: Any) -> None:
    await session.execute(update(TopUp).where(TopUp.id == top_up_id).values(**values))


async def pending_top_up_total(session: AsyncSession, wallet_id: int, status: str) -> int:
    stmt = select(func.coalesce(func.sum(TopUp.amount), 0)).where(
        TopUp.wallet_id == wallet_id, TopUp.status == status
    )
    return int((await session.scalars(stmt)).one())


async def top_ups_by_wallet(
    session: AsyncSession, wallet_ids: Sequence[int], status: str
) -> dict[int, list[TopUp]]:
    stmt = (
        select(TopUp)
        .where(TopUp.wallet_id.in_(wallet_ids), TopUp.status == status)
        .order_by(TopUp.id)
        .execution_options(populate_existing=True)
    )
    found: dict[int, list[TopUp]] = defaultdict(list)
    for top_up in await session.scalars(stmt):
        found[top_up.wallet_id].append(top_up)
    return found


async def latest_top_up_reference(
    session: AsyncSession, actor_user_id: int, status: str
) -> str | None:
    stmt = (
        select(Invoice.payment_reference)
        .join(TopUp, TopUp.invoice_id == Invoice.id)
        .where(
            TopUp.actor_user_id == actor_user_id,
            TopUp.status == status,
            Invoice.payment_reference.is_not(None),
        )
        .order_by(TopUp.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def subscriptions_by_center(
    session: AsyncSession, center_ids: Sequence[int]
) -> list[PlanSubscription]:
    stmt = select(PlanSubscription).where(PlanSubscription.business_center_id.in_(center_ids))
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def lock_subscription(session: AsyncSession, center_id: int) -> PlanSubscription | None:
    register(session, Level.BUSINESS_CENTERS)  # a per-center row
    stmt = (
        select(PlanSubscription)
        .where(PlanSubscription.business_center_id == center_id)
        .with_for_update(key_share=True)
    )
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def lock_subscription_of_invoice(
    session: AsyncSession, invoice_id: int
) -> PlanSubscription | None:
    register(session, Level.BUSINESS_CENTERS)  # a per-center row
    stmt = (
        select(PlanSubscription)
        .where(PlanSubscription.open_invoice_id == invoice_id)
        .with_for_update(key_share=True)
    )
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def due_subscription_ids(
    session: AsyncSession, now: datetime, statuses: Sequence[str], limit: int
) -> list[int]:
    """Subscriptions whose period has ended, without locking: each is renewed in a
    transaction of its own (`lock_due_subscription`)."""
    stmt = (
        select(PlanSubscription.id)
        .where(
            PlanSubscription.current_period_end <= now,
            PlanSubscription.status.in_(statuses),
        )
        .order_by(PlanSubscription.id)
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def lock_due_subscription(
    session: AsyncSession, subscription_id: int, now: datetime, statuses: Sequence[str]
) -> PlanSubscription | None:
    """The subscription, locked, if it is still due; SKIP LOCKED: another worker renewing
    it right now has it, and its period will no longer be due when that one commits."""
    register(session, Level.BUSINESS_CENTERS)  # a per-center row
    stmt = (
        select(PlanSubscription)
        .where(
            PlanSubscription.id == subscription_id,
            PlanSubscription.current_period_end <= now,
            PlanSubscription.status.in_(statuses),
        )
        .with_for_update(skip_locked=True, key_share=True)
    )
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def save(session: AsyncSession, row: Any) -> None:
    session.add(row)
    await session.flush()


_CLAIM_EVENT = """
INSERT INTO webhook_events (event_id, type, payload, status, attempts, processed_at,
                            received_at)
VALUES ($1, $2, $3::jsonb, 'PROCESSED', 1, $4, $4)
ON CONFLICT (event_id) DO UPDATE
SET status = 'PROCESSED', processed_at = $4, last_error = NULL,
    attempts = webhook_events.attempts + 1
WHERE webhook_events.status = 'FAILED'
RETURNING id"""


async def claim_event(
    session: AsyncSession,
    event_id: str,
    event_type: str,
    payload: dict[str, Any],
    now: datetime,
) -> int | None:
    """Insert the event, or take back one whose processing failed. None: another delivery
    already handled it (a concurrent one waits here for that delivery's commit). It is
    stored PROCESSED, what nearly every event ends as: only another outcome is written
    again (`finish_event`); a failure rolls it back with the rest."""
    body = json.dumps(payload)
    row_id: int | None = await raw.fetchval(session, _CLAIM_EVENT, event_id, event_type, body, now)
    return row_id


async def finish_event(session: AsyncSession, row_id: int, status: str, now: datetime) -> None:
    stmt = update(WebhookEvent).where(WebhookEvent.id == row_id)
    await session.execute(stmt.values(status=status, processed_at=now, last_error=None))


async def record_failed_event(
    session: AsyncSession, event_id: str, event_type: str, payload: dict[str, Any], error: str
) -> None:
    stmt = (
        pg_insert(WebhookEvent)
        .values(
            event_id=event_id,
            type=event_type,
            payload=payload,
            status="FAILED",
            attempts=1,
            last_error=error,
        )
        .on_conflict_do_update(
            index_elements=["event_id"],
            set_={"last_error": error, "attempts": WebhookEvent.attempts + 1},
            where=WebhookEvent.status == "FAILED",
        )
    )
    await session.execute(stmt)


async def failed_events(session: AsyncSession, max_attempts: int, limit: int) -> list[WebhookEvent]:
    stmt = (
        select(WebhookEvent)
        .where(WebhookEvent.status == "FAILED", WebhookEvent.attempts < max_attempts)
        .order_by(WebhookEvent.id)
        .limit(limit)
    )
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def invoice_by_reference(session: AsyncSession, reference: str) -> Invoice | None:
    stmt = select(Invoice).where(Invoice.payment_reference == reference)
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def due_to_open(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Scheduled installments whose date has come, but not of a campaign paused because
    its card kept declining (they follow once it pays again)."""
    stmt = (
        select(Invoice.id)
        .join(Campaign, Campaign.id == Invoice.campaign_id)
        .where(Invoice.status == "SCHEDULED", Invoice.issue_on <= now)
        .where(Campaign.pause_reason.is_(None))
        .order_by(Invoice.issue_on, Invoice.id)
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def due_to_charge(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Open invoices paid by card whose (next) charge is due."""
    stmt = (
        select(Invoice.id)
        .where(Invoice.status == "OPEN", Invoice.next_charge_at <= now)
        .order_by(Invoice.next_charge_at, Invoice.id)
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def invoices_of_campaign(
    session: AsyncSession, campaign_id: int, statuses: Sequence[str]
) -> list[Invoice]:
    """Its installment invoices in these statuses, locked, in plan order."""
    register(session, Level.CAMPAIGN_ROWS)
    stmt = (
        select(Invoice)
        .where(Invoice.campaign_id == campaign_id, Invoice.status.in_(statuses))
        .where(Invoice.installment_number.is_not(None))
        .order_by(Invoice.installment_number)
        .with_for_update(key_share=True)
    )
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def superseded_references(session: AsyncSession, limit: int) -> list[tuple[int, str]]:
    """Provider invoices for amounts since reduced here, still to void there."""
    stmt = (
        select(Invoice.id, Invoice.superseded_reference)
        .where(Invoice.superseded_reference.is_not(None))
        .order_by(Invoice.id)
        .limit(limit)
    )
    return [(i, ref) for i, ref in (await session.execute(stmt)).all() if ref is not None]
