from __future__ import annotations

import enum

import strawberry

from adledger.domain import billing
from adledger.domain.access import Role as DomainRole
from adledger.domain.errors import ErrorCode as DomainErrorCode
from adledger.domain.ledger import TransactionKind
from adledger.domain.money import Currency

ErrorCode = strawberry.enum(DomainErrorCode, name="ErrorCode")
CurrencyCode = strawberry.enum(
    Currency,
    name="CurrencyCode",
    description="ISO 4217 codes the platform settles in. JPY has no minor unit; KWD has three.",
)
Role = strawberry.enum(DomainRole, name="Role")
WalletTransactionKind = strawberry.enum(TransactionKind, name="WalletTransactionKind")


@strawberry.enum
class AllocationMode(enum.Enum):
    MANUAL = strawberry.enum_value(
        "MANUAL",
        description=(
            "Finance roles move balance between the business center and its ad accounts by hand."
        ),
    )
    AUTOMATIC = strawberry.enum_value(
        "AUTOMATIC",
        description=(
            "Ad accounts draw on the business center balance as they spend. "
            "Cannot be switched back."
        ),
    )


@strawberry.enum
class BillingOption(enum.Enum):
    PREPAID = strawberry.enum_value(
        "PREPAID",
        description=(
            "Campaign budgets are paid from the ad account's credit balance when they launch."
        ),
    )
    MONTHLY_INVOICING = strawberry.enum_value(
        "MONTHLY_INVOICING",
        description="Spend is invoiced monthly; required for automatic balance allocation.",
    )


@strawberry.enum
class AdAccountType(enum.Enum):
    AUCTION = "AUCTION"
    RESERVATION = "RESERVATION"


@strawberry.enum
class BudgetMode(enum.Enum):
    UNLIMITED = "UNLIMITED"
    DAILY = "DAILY"
    MONTHLY = "MONTHLY"
    CUSTOM = strawberry.enum_value(
        "CUSTOM", description="A one-time cap over the dates the budget names."
    )


@strawberry.enum
class BalanceBucket(enum.Enum):
    CASH = "CASH"
    VOUCHERS = "VOUCHERS"
    CREDIT_LINE = "CREDIT_LINE"


@strawberry.enum
class CreditLineCycle(enum.Enum):
    TWENTY_EIGHT_DAYS = "TWENTY_EIGHT_DAYS"
    CALENDAR_MONTH = "CALENDAR_MONTH"


InvoiceKind = strawberry.enum(billing.InvoiceKind, name="InvoiceKind")
InvoiceStatus = strawberry.enum(billing.InvoiceStatus, name="InvoiceStatus")
TopUpStatus = strawberry.enum(billing.TopUpStatus, name="TopUpStatus")
SubscriptionPlan = strawberry.enum(billing.Plan, name="SubscriptionPlan")
SubscriptionStatus = strawberry.enum(billing.SubscriptionStatus, name="SubscriptionStatus")
