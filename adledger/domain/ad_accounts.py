"""Ad accounts as pure rules (DESIGN §3, §7): how an account is billed, how it buys, and
which accounts automatic allocation admits."""

from __future__ import annotations

import enum


class BillingOption(enum.StrEnum):
    PREPAID = "PREPAID"
    MONTHLY_INVOICING = "MONTHLY_INVOICING"


class AdAccountType(enum.StrEnum):
    AUCTION = "AUCTION"
    RESERVATION = "RESERVATION"


def fits_automatic_allocation(billing_option: str, account_type: str) -> bool:
    """Under automatic allocation every account draws on the shared balance, which only
    monthly-invoicing auction accounts may do."""
    return (
        billing_option == BillingOption.MONTHLY_INVOICING and account_type == AdAccountType.AUCTION
    )
