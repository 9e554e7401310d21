"""Refunds to the original payment method (DESIGN §9, the ad:personam page), as pure rules.

Every payment that brought money in is a lot: what the provider charged and how much of
it has gone back. A refund goes back lot by lot, newest first, never more than what is
left of a lot, one provider refund per lot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adledger.domain.errors import InvalidInput


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


def split_refund(amount: int, lots: Sequence[Lot]) -> list[LotRefund]:
    """`amount` across the lots, newest (highest id) first; refused whole when the lots
    hold less than that."""
    if amount <= 0:
        raise InvalidInput("a refund is above zero")
    available = sum(max(lot.left, 0) for lot in lots)
    if amount > available:
        raise InvalidInput(
            "a refund goes back to the payments that brought the money in, and they hold "
            f"{available} minor units that have not gone back yet"
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
