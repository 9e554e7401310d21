"""Refunds to the original payment method (DESIGN §9, the ad:personam page), as pure rules.

Every payment that brought money in is a lot: what the provider charged and how much of
it has gone back. A refund goes back lot by lot, newest first, never more than what is
left of a lot, one provider refund per lot.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from adledger.domain.errors import InsufficientFunds, InvalidInput
from adledger.domain.money import format_money


class RefundRequestStatus(enum.StrEnum):
    """REQUESTED: out of cash, waiting for staff. SENT: approved, refunds under way.
    SUCCEEDED / PARTLY_FAILED / FAILED: every refund settled. DECLINED: back in cash."""

    REQUESTED = "REQUESTED"
    SENT = "SENT"
    SUCCEEDED = "SUCCEEDED"
    PARTLY_FAILED = "PARTLY_FAILED"
    FAILED = "FAILED"
    DECLINED = "DECLINED"


OPEN_REQUEST = (RefundRequestStatus.REQUESTED, RefundRequestStatus.SENT)
"""A request whose money has not settled yet: it still holds its amount."""


class RefundStatus(enum.StrEnum):
    """One provider refund: PENDING until the provider says it succeeded or failed."""

    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class RefundReason(enum.StrEnum):
    CREDIT_BALANCE = "CREDIT_BALANCE"
    REJECTED_CAMPAIGN = "REJECTED_CAMPAIGN"
    CANCELLATION = "CANCELLATION"
    INACTIVITY = "INACTIVITY"
    MAKEGOOD = "MAKEGOOD"


def approved_status(refunds_under_way: bool) -> RefundRequestStatus:
    """An approved request waits for its refunds (SENT); with none to make, it is done."""
    return RefundRequestStatus.SENT if refunds_under_way else RefundRequestStatus.SUCCEEDED


def settled_status(provider_status: str) -> RefundStatus | None:
    """Our refund's status once the provider's (pending, succeeded, failed, canceled) is
    final; None while it is pending."""
    if provider_status == "pending":
        return None
    return RefundStatus.SUCCEEDED if provider_status == "succeeded" else RefundStatus.FAILED


def final_status(refund_statuses: Iterable[str]) -> RefundRequestStatus | None:
    """The request's status once none of its refunds is pending (None while one is):
    SUCCEEDED when all succeeded, PARTLY_FAILED when some did, else FAILED."""
    statuses = set(refund_statuses)
    if RefundStatus.PENDING in statuses:
        return None
    if statuses == {RefundStatus.SUCCEEDED}:
        return RefundRequestStatus.SUCCEEDED
    if statuses == {RefundStatus.SUCCEEDED, RefundStatus.FAILED}:
        return RefundRequestStatus.PARTLY_FAILED
    return RefundRequestStatus.FAILED


@dataclass(frozen=True, slots=True)
class Lot:
    id: int
    amount: int
    refunded: int
    """Refunds made or under way (a failed one gives its part back)."""

    @property
    def left(self) -> int:
        return self.amount - self.refunded


@dataclass(frozen=True, slots=True)
class LotRefund:
    lot_id: int
    amount: int


def split_refund(amount: int, lots: Sequence[Lot], currency: str) -> list[LotRefund]:
    """`amount` (in `currency`) across the lots, newest (highest id) first; refused whole
    (InsufficientFunds) when the lots hold less than that."""
    if amount <= 0:
        raise InvalidInput("a refund is above zero")
    available = sum(max(lot.left, 0) for lot in lots)
    if amount > available:
        raise InsufficientFunds(
            "a refund goes back to the payments that brought the money in, and they hold "
            f"{format_money(available, currency)} that has not gone back yet",
            available_minor=available,
            currency=currency,
        )
    parts: list[LotRefund] = []
    left = amount
    for lot in sorted(lots, key=lambda lot: lot.id, reverse=True):
        part = min(left, max(lot.left, 0))
        if part:
            parts.append(LotRefund(lot.id, part))
            left -= part
        if not left:
            break
    return parts
