"""Expected failures as data. Services raise them; the API maps each to a UserError type once."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from adledger.domain.currency import format_money


class ErrorCode(enum.StrEnum):
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    INVALID_INPUT = "INVALID_INPUT"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    SUBSCRIPTION_REQUIRED = "SUBSCRIPTION_REQUIRED"
    TARGET_ALREADY_COVERED = "TARGET_ALREADY_COVERED"
    AMOUNT_BELOW_MINIMUM = "AMOUNT_BELOW_MINIMUM"
    BUDGET_BELOW_MINIMUM = "BUDGET_BELOW_MINIMUM"
    BUDGET_CHANGE_LIMIT_REACHED = "BUDGET_CHANGE_LIMIT_REACHED"
    INVALID_STATE = "INVALID_STATE"
    ALLOCATION_MODE_IRREVERSIBLE = "ALLOCATION_MODE_IRREVERSIBLE"
    ALLOCATION_NOT_ELIGIBLE = "ALLOCATION_NOT_ELIGIBLE"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    PAYMENT_PROVIDER_ERROR = "PAYMENT_PROVIDER_ERROR"


@dataclass
class DomainError(Exception):
    message: str
    field: tuple[str, ...] = ()
    code: ClassVar[ErrorCode] = ErrorCode.INVALID_INPUT

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def details(self) -> dict[str, object]:
        """Extra fields of the error type beyond code, message and field."""
        return {}


@dataclass
class InvalidInput(DomainError):
    code: ClassVar[ErrorCode] = ErrorCode.INVALID_INPUT


@dataclass
class NotFound(DomainError):
    code: ClassVar[ErrorCode] = ErrorCode.NOT_FOUND


def not_found(what: str, field: tuple[str, ...] = ()) -> NotFound:
    """The one wording of NOT_FOUND ("no wallet has this id"), the same for an id that is
    malformed, of another type, unknown or another customer's: none of them says more."""
    return NotFound(f"no {what} has this id", field)


@dataclass
class Forbidden(DomainError):
    code: ClassVar[ErrorCode] = ErrorCode.FORBIDDEN


@dataclass
class InvalidState(DomainError):
    code: ClassVar[ErrorCode] = ErrorCode.INVALID_STATE


@dataclass
class IdempotencyKeyReused(DomainError):
    message: str = "this idempotency key was used with a different input"
    code: ClassVar[ErrorCode] = ErrorCode.IDEMPOTENCY_KEY_REUSED


@dataclass
class CurrencyMismatch(DomainError):
    message: str = ""
    expected: str = ""
    code: ClassVar[ErrorCode] = ErrorCode.CURRENCY_MISMATCH

    def __post_init__(self) -> None:
        if not self.message:
            self.message = f"this wallet holds {self.expected}"
        super().__post_init__()

    def details(self) -> dict[str, object]:
        return {"expected": self.expected}


@dataclass
class InsufficientFunds(DomainError):
    message: str = ""
    available_minor: int = 0
    currency: str = ""
    code: ClassVar[ErrorCode] = ErrorCode.INSUFFICIENT_FUNDS

    def __post_init__(self) -> None:
        if not self.message:
            self.message = f"not enough funds: {self.available()} available"
        super().__post_init__()

    def available(self) -> str:
        """What is available, as messages write amounts ("2,115.66 USD")."""
        return format_money(self.available_minor, self.currency)

    def at(self, field: tuple[str, ...], message: str = "") -> InsufficientFunds:
        """The same shortfall, told about the input field that asked for the money."""
        return InsufficientFunds(
            message or self.message, field, self.available_minor, self.currency
        )

    def details(self) -> dict[str, object]:
        return {"available_minor": self.available_minor, "currency": self.currency}


@dataclass
class PaymentProviderFailed(DomainError):
    """The provider did not answer, or answered with an error; nothing was charged by us."""

    message: str = "the payment provider could not be reached; try again"
    code: ClassVar[ErrorCode] = ErrorCode.PAYMENT_PROVIDER_ERROR


@dataclass
class PaymentDeclined(DomainError):
    """The card was declined (or needs the customer present): nothing was taken."""

    message: str = "the card was declined"
    code: ClassVar[ErrorCode] = ErrorCode.PAYMENT_PROVIDER_ERROR


@dataclass
class SubscriptionRequired(DomainError):
    message: str = "an active plan subscription is required"
    code: ClassVar[ErrorCode] = ErrorCode.SUBSCRIPTION_REQUIRED


@dataclass
class TargetAlreadyCovered(DomainError):
    message: str = "the balance and pending top-ups already reach the target"
    covered_minor: int = 0
    currency: str = ""
    code: ClassVar[ErrorCode] = ErrorCode.TARGET_ALREADY_COVERED

    def details(self) -> dict[str, object]:
        return {"covered_minor": self.covered_minor, "currency": self.currency}


@dataclass
class AmountBelowMinimum(DomainError):
    message: str = "the amount is below the minimum top-up"
    minimum_minor: int = 0
    currency: str = ""
    code: ClassVar[ErrorCode] = ErrorCode.AMOUNT_BELOW_MINIMUM

    def details(self) -> dict[str, object]:
        return {"minimum_minor": self.minimum_minor, "currency": self.currency}


@dataclass
class BudgetBelowMinimum(DomainError):
    message: str = ""
    minimum_minor: int = 0
    currency: str = ""
    code: ClassVar[ErrorCode] = ErrorCode.BUDGET_BELOW_MINIMUM

    def __post_init__(self) -> None:
        if not self.message:
            self.message = "the budget is below the lowest budget allowed"
        super().__post_init__()

    def details(self) -> dict[str, object]:
        return {"minimum_minor": self.minimum_minor, "currency": self.currency}


@dataclass
class BudgetChangeLimitReached(DomainError):
    message: str = ""
    limit_per_day: int = 10
    code: ClassVar[ErrorCode] = ErrorCode.BUDGET_CHANGE_LIMIT_REACHED

    def __post_init__(self) -> None:
        if not self.message:
            self.message = (
                f"an ad account's budget may change {self.limit_per_day} times a UTC day; "
                "try again tomorrow"
            )
        super().__post_init__()

    def details(self) -> dict[str, object]:
        return {"limit_per_day": self.limit_per_day}


@dataclass
class AllocationModeIrreversible(DomainError):
    message: str = (
        "automatic allocation is already on; a business center cannot switch back to manual"
    )
    code: ClassVar[ErrorCode] = ErrorCode.ALLOCATION_MODE_IRREVERSIBLE


@dataclass
class AllocationNotEligible(DomainError):
    message: str = ""
    blockers: tuple[str, ...] = ()
    code: ClassVar[ErrorCode] = ErrorCode.ALLOCATION_NOT_ELIGIBLE

    def __post_init__(self) -> None:
        if not self.message:
            self.message = (
                "automatic allocation needs every ad account to be MONTHLY_INVOICING and "
                f"AUCTION; {len(self.blockers)} account(s) block it"
            )
        super().__post_init__()

    def details(self) -> dict[str, object]:
        return {"blockers": list(self.blockers)}


class InvariantBroken(RuntimeError):
    """Something the code relies on did not hold: a bug, never the client's doing (the API
    masks it as an unexpected error, with its request id). Raised where an `assert` would
    do, since asserts vanish under `python -O`."""
