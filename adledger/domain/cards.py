"""The card a business center saved at the payment provider, as we keep it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SavedCard:
    reference: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class CardHolder(Protocol):
    """A business center's card columns (store/models.py BusinessCenter)."""

    @property
    def card_reference(self) -> str | None: ...
    @property
    def card_brand(self) -> str | None: ...
    @property
    def card_last4(self) -> str | None: ...
    @property
    def card_exp_month(self) -> int | None: ...
    @property
    def card_exp_year(self) -> int | None: ...


def card_of(center: CardHolder) -> SavedCard | None:
    if center.card_reference is None:
        return None
    return SavedCard(
        center.card_reference,
        center.card_brand or "",
        center.card_last4 or "",
        center.card_exp_month or 0,
        center.card_exp_year or 0,
    )
