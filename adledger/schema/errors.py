"""UserError types, and the one place where a domain error becomes one of them."""

from __future__ import annotations

import strawberry

from adledger.domain import errors as domain
from adledger.domain.money import Currency, format_minor
from adledger.schema.enums import CurrencyCode, ErrorCode
from adledger.schema.money import Money


@strawberry.interface(
    description=(
        "Every expected failure of a mutation is a member of its result union "
        "implementing UserError."
    )
)
class UserError:
    code: ErrorCode
    message: str
    field: list[str] = strawberry.field(
        description=(
            'Path of the input field at fault, e.g. ["input", "budget"]; '
            "empty when no single field is."
        )
    )


@strawberry.type
class InvalidInputError(UserError):
    pass


@strawberry.type
class NotFoundError(UserError):
    pass


@strawberry.type
class ForbiddenError(UserError):
    pass


@strawberry.type
class InvalidStateError(UserError):
    pass


@strawberry.type
class IdempotencyKeyReusedError(UserError):
    pass


@strawberry.type
class CurrencyMismatchError(UserError):
    expected: CurrencyCode


@strawberry.type
class InsufficientFundsError(UserError):
    available: Money


@strawberry.type
class SubscriptionRequiredError(UserError):
    pass


@strawberry.type
class PaymentProviderError(UserError):
    pass


@strawberry.type
class TargetAlreadyCoveredError(UserError):
    covered: Money = strawberry.field(
        description="Balance plus pending top-ups, which already reach the target."
    )


@strawberry.type
class AmountBelowMinimumError(UserError):
    minimum: Money


@strawberry.type
class BudgetBelowMinimumError(UserError):
    minimum: Money


@strawberry.type
class BudgetChangeLimitReachedError(UserError):
    limit_per_day: int


@strawberry.type
class AllocationModeIrreversibleError(UserError):
    pass


@strawberry.type
class AllocationNotEligibleError(UserError):
    blockers: list[str] = strawberry.field(
        description="Ad accounts that block the switch, with the reason for each."
    )


def _currency_mismatch(err: domain.DomainError) -> UserError:
    assert isinstance(err, domain.CurrencyMismatch)
    return CurrencyMismatchError(
        code=err.code,
        message=err.message,
        field=list(err.field),
        expected=Currency(err.expected),
    )


def _insufficient(err: domain.DomainError) -> UserError:
    assert isinstance(err, domain.InsufficientFunds)
    currency = Currency(err.currency)
    available = Money(amount=format_minor(err.available_minor, currency), currency_code=currency)
    return InsufficientFundsError(
        code=err.code, message=err.message, field=list(err.field), available=available
    )


def _target_covered(err: domain.DomainError) -> UserError:
    assert isinstance(err, domain.TargetAlreadyCovered)
    covered = Money.of(err.covered_minor, err.currency)
    return TargetAlreadyCoveredError(
        code=err.code, message=err.message, field=list(err.field), covered=covered
    )


def _below_minimum(err: domain.DomainError) -> UserError:
    assert isinstance(err, domain.AmountBelowMinimum)
    minimum = Money.of(err.minimum_minor, err.currency)
    return AmountBelowMinimumError(
        code=err.code, message=err.message, field=list(err.field), minimum=minimum
    )


def _budget_below_minimum(err: domain.DomainError) -> UserError:
    assert isinstance(err, domain.BudgetBelowMinimum)
    minimum = Money.of(err.minimum_minor, err.currency)
    return BudgetBelowMinimumError(
        code=err.code, message=err.message, field=list(err.field), minimum=minimum
    )


def _change_limit(err: domain.DomainError) -> UserError:
    assert isinstance(err, domain.BudgetChangeLimitReached)
    return BudgetChangeLimitReachedError(
        code=err.code, message=err.message, field=list(err.field), limit_per_day=err.limit_per_day
    )


def _not_eligible(err: domain.DomainError) -> UserError:
    assert isinstance(err, domain.AllocationNotEligible)
    return AllocationNotEligibleError(
        code=err.code, message=err.message, field=list(err.field), blockers=list(err.blockers)
    )


# The one UserError type of each code.
ERROR_TYPES: dict[domain.ErrorCode, type[UserError]] = {
    domain.ErrorCode.INVALID_INPUT: InvalidInputError,
    domain.ErrorCode.NOT_FOUND: NotFoundError,
    domain.ErrorCode.FORBIDDEN: ForbiddenError,
    domain.ErrorCode.INVALID_STATE: InvalidStateError,
    domain.ErrorCode.IDEMPOTENCY_KEY_REUSED: IdempotencyKeyReusedError,
    domain.ErrorCode.CURRENCY_MISMATCH: CurrencyMismatchError,
    domain.ErrorCode.INSUFFICIENT_FUNDS: InsufficientFundsError,
    domain.ErrorCode.SUBSCRIPTION_REQUIRED: SubscriptionRequiredError,
    domain.ErrorCode.PAYMENT_PROVIDER_ERROR: PaymentProviderError,
    domain.ErrorCode.TARGET_ALREADY_COVERED: TargetAlreadyCoveredError,
    domain.ErrorCode.AMOUNT_BELOW_MINIMUM: AmountBelowMinimumError,
    domain.ErrorCode.BUDGET_BELOW_MINIMUM: BudgetBelowMinimumError,
    domain.ErrorCode.BUDGET_CHANGE_LIMIT_REACHED: BudgetChangeLimitReachedError,
    domain.ErrorCode.ALLOCATION_MODE_IRREVERSIBLE: AllocationModeIrreversibleError,
    domain.ErrorCode.ALLOCATION_NOT_ELIGIBLE: AllocationNotEligibleError,
}

# Types with fields of their own beyond code, message and field.
_BUILDERS = {
    domain.ErrorCode.CURRENCY_MISMATCH: _currency_mismatch,
    domain.ErrorCode.INSUFFICIENT_FUNDS: _insufficient,
    domain.ErrorCode.TARGET_ALREADY_COVERED: _target_covered,
    domain.ErrorCode.AMOUNT_BELOW_MINIMUM: _below_minimum,
    domain.ErrorCode.BUDGET_BELOW_MINIMUM: _budget_below_minimum,
    domain.ErrorCode.BUDGET_CHANGE_LIMIT_REACHED: _change_limit,
    domain.ErrorCode.ALLOCATION_NOT_ELIGIBLE: _not_eligible,
}


def codes_of_type(type_name: str) -> tuple[str, ...]:
    """The codes a UserError type (by its GraphQL name) carries: one each."""
    return tuple(code.value for code, kind in ERROR_TYPES.items() if kind.__name__ == type_name)


def _build(err: domain.DomainError) -> UserError:
    build = _BUILDERS.get(err.code)
    if build is not None:
        return build(err)
    error_type = ERROR_TYPES.get(err.code, InvalidInputError)
    return error_type(code=err.code, message=err.message, field=list(err.field))  # type: ignore[call-arg]


def to_user_error(err: domain.DomainError, allowed: tuple[type, ...]) -> UserError:
    """The error's own type when the result union has it; otherwise an InvalidInputError
    that still carries the true code, so no expected failure escapes to `errors`."""
    built = _build(err)
    if isinstance(built, allowed):
        return built
    return InvalidInputError(code=err.code, message=err.message, field=list(err.field))
