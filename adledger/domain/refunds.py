"""Refunds to the original payment method (DESIGN §9, the ad:personam page), as pure rules.

Every payment that brought money in is a lot: what the provider charged and how much of
it has gone back. A refund goes back lot by lot, newest first, never more than what is
left of a lot, one provider refund per lot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adledger.domain.errors import InsufficientFunds, InvalidInput
from adledger.domain.money import format_money


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
