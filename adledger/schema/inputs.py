from __future__ import annotations

from datetime import datetime

import strawberry

from adledger.schema.budgets import BudgetMode
from adledger.schema.campaigns import DeliveryType, PaymentPlan
from adledger.schema.enums import (
    AdAccountType,
    BalanceBucket,
    BillingOption,
    CreditLineCycle,
    CurrencyCode,
    Role,
    SubscriptionPlan,
)
from adledger.schema.input_plans import planned
from adledger.schema.makegoods import MakegoodKind
from adledger.schema.money import MoneyInput
from adledger.schema.plans import CancellationResolution
from adledger.schema.webhooks import WebhookEndpointStatus


@strawberry.input
class CreateBusinessCenterInput:
    name: str
    currency_code: CurrencyCode
    idempotency_key: str | None = None


@strawberry.input
class CreateAdAccountInput:
    business_center_id: strawberry.ID
    name: str
    billing_option: BillingOption
    account_type: AdAccountType | None = AdAccountType.AUCTION
    idempotency_key: str | None = None


@strawberry.input
class AddBusinessCenterMemberInput:
    business_center_id: strawberry.ID
    email: str
    role: Role


@strawberry.input
class TransferBalanceInput:
    from_wallet_id: strawberry.ID
    to_wallet_id: strawberry.ID
    amount: MoneyInput
    bucket: BalanceBucket | None = BalanceBucket.CASH
    idempotency_key: str | None = None


@strawberry.input
class GrantVouchersInput:
    wallet_id: strawberry.ID
    amount: MoneyInput
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class SetCreditLineInput:
    business_center_id: strawberry.ID
    limit: MoneyInput
    cycle: CreditLineCycle
    net_terms_days: int | None = 30


@strawberry.input
class TopUpWalletInput:
    wallet_id: strawberry.ID
    target_balance: MoneyInput | None = strawberry.field(
        default=None,
        description=(
            "Top up to this balance: the invoice asks only for the difference. "
            "Give this or amount, not both."
        ),
    )
    amount: MoneyInput | None = strawberry.field(default=None, description="Add exactly this much.")
    idempotency_key: str | None = None


@strawberry.input
class SubscribeToPlanInput:
    business_center_id: strawberry.ID
    plan: SubscriptionPlan
    pay_from_credit_balance: bool | None = strawberry.field(
        default=True,
        description=(
            "Pay the plan's invoices from the credit balance when it covers them; "
            "otherwise by invoice."
        ),
    )
    idempotency_key: str | None = None


@strawberry.input
class CancelPlanSubscriptionInput:
    business_center_id: strawberry.ID


@strawberry.input
class CreateCampaignInput:
    ad_account_id: strawberry.ID
    name: str
    budget: MoneyInput
    starts_at: datetime
    ends_at: datetime
    delivery_type: DeliveryType | None = DeliveryType.IF_AVAILABLE
    payment_plan: PaymentPlan | None = strawberry.field(
        default=None,
        description=(
            "Defaults from the account: CREDIT_BALANCE for PREPAID accounts, "
            "BUSINESS_CENTER_BALANCE under automatic allocation."
        ),
    )
    idempotency_key: str | None = None
    booked_impressions: int | None = strawberry.field(
        default=None,
        description="Required for GUARANTEED: what under-delivery is measured against.",
    )


@strawberry.input
class LaunchCampaignInput:
    campaign_id: strawberry.ID
    idempotency_key: str | None = None


@strawberry.input
class UpdateCampaignBudgetInput:
    campaign_id: strawberry.ID
    budget: MoneyInput
    idempotency_key: str | None = None


@strawberry.input
class CampaignActionInput:
    campaign_id: strawberry.ID
    reason: str | None = None
    idempotency_key: str | None = None


@planned
@strawberry.input
class SpendEventInput:
    event_id: str = strawberry.field(description="Unique per event; a repeated id is counted once.")
    campaign_id: strawberry.ID
    amount: MoneyInput
    impressions: int | None = 0
    occurred_at: datetime


@planned
@strawberry.input
class RecordSpendInput:
    events: list[SpendEventInput]


@strawberry.input
class EnableAutomaticAllocationInput:
    business_center_id: strawberry.ID


@strawberry.input
class CreateCardSetupInput:
    business_center_id: strawberry.ID


@strawberry.input
class RequestRefundInput:
    wallet_id: strawberry.ID
    amount: MoneyInput = strawberry.field(
        description="Unused credit balance (cash) to send back to the payments."
    )
    idempotency_key: str | None = None


@strawberry.input
class RefundRejectedCampaignInput:
    campaign_id: strawberry.ID
    idempotency_key: str | None = None


@strawberry.input
class RequestInactivityRefundInput:
    business_center_id: strawberry.ID
    idempotency_key: str | None = None


@strawberry.input
class FlagUnderdeliveryInput:
    campaign_id: strawberry.ID
    message: str = strawberry.field(description="What the business center is told.")


@strawberry.input
class OfferMakegoodInput:
    campaign_id: strawberry.ID
    kind: MakegoodKind
    note: str | None = None
    starts_at: datetime | None = strawberry.field(default=None, description="FLIGHT only.")
    ends_at: datetime | None = strawberry.field(default=None, description="FLIGHT only.")


@strawberry.input
class DecideMakegoodInput:
    offer_id: strawberry.ID
    idempotency_key: str | None = None


@strawberry.input
class ApproveRefundInput:
    refund_request_id: strawberry.ID
    idempotency_key: str | None = None


@strawberry.input
class DeclineRefundInput:
    refund_request_id: strawberry.ID
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class ResolveCancellationRequestInput:
    request_id: strawberry.ID
    resolution: CancellationResolution = CancellationResolution.CREDIT
    note: str = strawberry.field(description="Why, for the audit trail (1 to 500 characters).")
    idempotency_key: str | None = None


@strawberry.input
class VoidInvoiceInput:
    invoice_id: strawberry.ID
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class DiscountInvoiceInput:
    invoice_id: strawberry.ID
    amount: MoneyInput = strawberry.field(description="How much less the invoice asks.")
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class SetAdAccountBudgetInput:
    ad_account_id: strawberry.ID
    mode: BudgetMode
    amount: MoneyInput | None = strawberry.field(
        default=None, description="Required unless mode is UNLIMITED; 0 or more."
    )
    period_start: datetime | None = strawberry.field(
        default=None, description="CUSTOM only, with periodEnd."
    )
    period_end: datetime | None = None


@strawberry.input
class CreateWebhookEndpointInput:
    business_center_id: strawberry.ID
    url: str = strawberry.field(
        description=(
            "https, at most 2,048 characters; its host must resolve to public addresses only."
        )
    )
    event_types: list[str] | None = strawberry.field(
        default_factory=list,
        description="The event types to send it (the published list); empty: every type.",
    )
    description: str | None = strawberry.field(default=None, description="At most 500 characters.")


@strawberry.input(description="Only the fields given change; `description: null` clears it.")
class UpdateWebhookEndpointInput:
    endpoint_id: strawberry.ID
    url: str | None = None
    event_types: list[str] | None = strawberry.field(
        default=None, description="Empty: every type; null or left out: unchanged."
    )
    description: str | None = strawberry.UNSET
    status: WebhookEndpointStatus | None = strawberry.field(
        default=None,
        description=(
            "ENABLED again: it receives events from now on (replayWebhookEvents sends what "
            "happened meanwhile) and deliveries still pending are tried at once."
        ),
    )


@strawberry.input
class WebhookEndpointInput:
    endpoint_id: strawberry.ID


@strawberry.input
class RedeliverWebhookEventInput:
    endpoint_id: strawberry.ID
    event_id: strawberry.ID


@strawberry.input
class ReplayWebhookEventsInput:
    endpoint_id: strawberry.ID
    after: str | None = strawberry.field(
        default=None,
        description="A cursor of BusinessCenter.events: replay the events after it; null: all.",
    )


@strawberry.input
class SetAutoRechargeInput:
    wallet_id: strawberry.ID
    threshold: MoneyInput = strawberry.field(
        description="Recharge when the available balance falls below this."
    )
    amount: MoneyInput | None = strawberry.field(
        default=None, description="Charge this much each time. Give this or targetBalance."
    )
    target_balance: MoneyInput | None = strawberry.field(
        default=None, description="Charge what brings the available balance up to this."
    )
    monthly_cap: MoneyInput | None = strawberry.field(
        default=None, description="At most this much recharged in a UTC month."
    )
    idempotency_key: str | None = None


@strawberry.input
class WalletSettingsInput:
    wallet_id: strawberry.ID
