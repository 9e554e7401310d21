"""Mutation payloads: each result unions its Success type with the UserErrors it can return."""

from __future__ import annotations

from typing import Annotated

import strawberry

from adledger.schema.billing import Invoice, TopUp
from adledger.schema.budgets import BudgetSync
from adledger.schema.campaigns import Campaign, RefusedSpend
from adledger.schema.errors import (
    AllocationModeIrreversibleError,
    AllocationNotEligibleError,
    AmountBelowMinimumError,
    BudgetBelowMinimumError,
    BudgetChangeLimitReachedError,
    CurrencyMismatchError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    PaymentProviderError,
    SubscriptionRequiredError,
    TargetAlreadyCoveredError,
)
from adledger.schema.exports import CreateExportSuccess
from adledger.schema.invitations import BusinessCenterInvitation
from adledger.schema.money import Money
from adledger.schema.refunds import RefundRequest
from adledger.schema.types import AdAccount, BusinessCenter, Wallet
from adledger.schema.webhooks import WebhookEndpoint


@strawberry.type
class CreateBusinessCenterSuccess:
    business_center: BusinessCenter


CreateBusinessCenterResult = Annotated[
    CreateBusinessCenterSuccess | InvalidInputError | ForbiddenError | IdempotencyKeyReusedError,
    strawberry.union("CreateBusinessCenterResult"),
]


@strawberry.type
class CreateAdAccountSuccess:
    ad_account: AdAccount


CreateAdAccountResult = Annotated[
    CreateAdAccountSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | IdempotencyKeyReusedError,
    strawberry.union("CreateAdAccountResult"),
]


@strawberry.type(
    description="The invitation is recorded; the user with that email becomes a member when "
    "they accept it. The answer is the same whether or not the email has an account."
)
class AddBusinessCenterMemberSuccess:
    business_center: BusinessCenter
    invitation: BusinessCenterInvitation


AddBusinessCenterMemberResult = Annotated[
    AddBusinessCenterMemberSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | InvalidStateError,
    strawberry.union("AddBusinessCenterMemberResult"),
]


@strawberry.type
class TransferBalanceSuccess:
    from_: Wallet = strawberry.field(name="from")
    to: Wallet


TransferBalanceResult = Annotated[
    TransferBalanceSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | CurrencyMismatchError
    | InsufficientFundsError
    | InvalidStateError
    | IdempotencyKeyReusedError,
    strawberry.union("TransferBalanceResult"),
]


@strawberry.type
class GrantVouchersSuccess:
    wallet: Wallet


GrantVouchersResult = Annotated[
    GrantVouchersSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | CurrencyMismatchError
    | IdempotencyKeyReusedError,
    strawberry.union("GrantVouchersResult"),
]


@strawberry.type
class SetCreditLineSuccess:
    business_center: BusinessCenter


SetCreditLineResult = Annotated[
    SetCreditLineSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | CurrencyMismatchError,
    strawberry.union("SetCreditLineResult"),
]


@strawberry.type
class TopUpWalletSuccess:
    top_up: TopUp


TopUpWalletResult = Annotated[
    TopUpWalletSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | CurrencyMismatchError
    | SubscriptionRequiredError
    | TargetAlreadyCoveredError
    | AmountBelowMinimumError
    | IdempotencyKeyReusedError
    | PaymentProviderError,
    strawberry.union("TopUpWalletResult"),
]


@strawberry.type
class SubscribeToPlanSuccess:
    business_center: BusinessCenter
    invoice: Invoice = strawberry.field(
        description="The first period's invoice; the subscription is ACTIVE once it is paid."
    )


SubscribeToPlanResult = Annotated[
    SubscribeToPlanSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | InvalidStateError
    | PaymentProviderError
    | IdempotencyKeyReusedError,
    strawberry.union("SubscribeToPlanResult"),
]


@strawberry.type
class CancelPlanSubscriptionSuccess:
    business_center: BusinessCenter


CancelPlanSubscriptionResult = Annotated[
    CancelPlanSubscriptionSuccess | NotFoundError | ForbiddenError | InvalidStateError,
    strawberry.union("CancelPlanSubscriptionResult"),
]


@strawberry.type
class BusinessCenterInvitationSuccess:
    business_center: BusinessCenter
    invitation: BusinessCenterInvitation


AcceptBusinessCenterInvitationResult = Annotated[
    BusinessCenterInvitationSuccess | InvalidInputError | NotFoundError | ForbiddenError,
    strawberry.union("AcceptBusinessCenterInvitationResult"),
]
DeclineBusinessCenterInvitationResult = Annotated[
    BusinessCenterInvitationSuccess | InvalidInputError | NotFoundError | ForbiddenError,
    strawberry.union("DeclineBusinessCenterInvitationResult"),
]
RevokeBusinessCenterInvitationResult = Annotated[
    BusinessCenterInvitationSuccess | InvalidInputError | NotFoundError | ForbiddenError,
    strawberry.union("RevokeBusinessCenterInvitationResult"),
]


@strawberry.type
class CreateCampaignSuccess:
    campaign: Campaign


CreateCampaignResult = Annotated[
    CreateCampaignSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | CurrencyMismatchError
    | BudgetBelowMinimumError
    | IdempotencyKeyReusedError,
    strawberry.union("CreateCampaignResult"),
]


@strawberry.type
class LaunchCampaignSuccess:
    campaign: Campaign
    shortfall_invoice: Invoice | None = strawberry.field(
        description=(
            "Present when the wallet could not cover the budget: the invoice for the difference."
        )
    )


LaunchCampaignResult = Annotated[
    LaunchCampaignSuccess
    | NotFoundError
    | ForbiddenError
    | InvalidStateError
    | SubscriptionRequiredError
    | PaymentProviderError
    | InvalidInputError
    | IdempotencyKeyReusedError,
    strawberry.union("LaunchCampaignResult"),
]


@strawberry.type
class UpdateCampaignBudgetSuccess:
    campaign: Campaign
    credited: Money = strawberry.field(
        description="Returned to the wallet by this change (budget reductions)."
    )
    charged: Money = strawberry.field(
        description="Taken from the wallet by this change (budget increases)."
    )


UpdateCampaignBudgetResult = Annotated[
    UpdateCampaignBudgetSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | CurrencyMismatchError
    | InvalidStateError
    | InsufficientFundsError
    | BudgetBelowMinimumError
    | IdempotencyKeyReusedError,
    strawberry.union("UpdateCampaignBudgetResult"),
]


@strawberry.type
class CampaignActionSuccess:
    campaign: Campaign


CampaignActionResult = Annotated[
    CampaignActionSuccess
    | NotFoundError
    | ForbiddenError
    | InvalidStateError
    | InvalidInputError
    | IdempotencyKeyReusedError,
    strawberry.union("CampaignActionResult"),
]


@strawberry.type
class RecordSpendSuccess:
    accepted: int = strawberry.field(description="Events applied by this call.")
    duplicates: int = strawberry.field(description="Events whose eventId had been applied before.")
    stopped_campaigns: list[Campaign] = strawberry.field(
        description="Campaigns this call stopped because a budget or the funds ran out."
    )
    refused: list[RefusedSpend] = strawberry.field(
        description=(
            "Spend this call did not apply, in part or in whole, and why. Refused amounts are "
            "never applied later: the event id is used up."
        )
    )


RecordSpendResult = Annotated[
    RecordSpendSuccess | InvalidInputError | NotFoundError | ForbiddenError | CurrencyMismatchError,
    strawberry.union("RecordSpendResult"),
]


@strawberry.type
class EnableAutomaticAllocationSuccess:
    business_center: BusinessCenter
    budget_syncs: list[BudgetSync]


EnableAutomaticAllocationResult = Annotated[
    EnableAutomaticAllocationSuccess
    | NotFoundError
    | ForbiddenError
    | AllocationModeIrreversibleError
    | AllocationNotEligibleError
    | InvalidInputError,
    strawberry.union("EnableAutomaticAllocationResult"),
]


@strawberry.type
class CreateCardSetupSuccess:
    business_center: BusinessCenter
    setup_reference: str = strawberry.field(
        description="The provider's id for this setup (a Stripe SetupIntent id)."
    )
    client_secret: str = strawberry.field(
        description=(
            "Hand to Stripe.js (confirmCardSetup) to save the card; the card shows as "
            "BusinessCenter.paymentMethod once the provider confirms it."
        )
    )


CreateCardSetupResult = Annotated[
    CreateCardSetupSuccess
    | NotFoundError
    | ForbiddenError
    | InvalidInputError
    | InvalidStateError
    | PaymentProviderError,
    strawberry.union("CreateCardSetupResult"),
]


@strawberry.type
class MakegoodSuccess:
    campaign: Campaign


MakegoodResult = Annotated[
    MakegoodSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | InvalidStateError
    | IdempotencyKeyReusedError,
    strawberry.union("MakegoodResult"),
]


@strawberry.type
class RequestRefundSuccess:
    refund_request: RefundRequest


RequestRefundResult = Annotated[
    RequestRefundSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | CurrencyMismatchError
    | InsufficientFundsError
    | InvalidStateError
    | IdempotencyKeyReusedError,
    strawberry.union("RequestRefundResult"),
]


@strawberry.type
class RefundDecisionSuccess:
    refund_request: RefundRequest


RefundDecisionResult = Annotated[
    RefundDecisionSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | InsufficientFundsError
    | InvalidStateError
    | IdempotencyKeyReusedError,
    strawberry.union("RefundDecisionResult"),
]


@strawberry.type
class ResolveCancellationRequestSuccess:
    campaign: Campaign


ResolveCancellationRequestResult = Annotated[
    ResolveCancellationRequestSuccess
    | NotFoundError
    | ForbiddenError
    | InvalidInputError
    | InvalidStateError
    | IdempotencyKeyReusedError,
    strawberry.union("ResolveCancellationRequestResult"),
]


@strawberry.type
class AdjustInvoiceSuccess:
    invoice: Invoice


AdjustInvoiceResult = Annotated[
    AdjustInvoiceSuccess
    | NotFoundError
    | ForbiddenError
    | CurrencyMismatchError
    | InvalidInputError
    | InvalidStateError
    | IdempotencyKeyReusedError,
    strawberry.union("AdjustInvoiceResult"),
]


@strawberry.type
class SetAdAccountBudgetSuccess:
    ad_account: AdAccount
    stopped_campaigns: list[Campaign] = strawberry.field(
        description="Campaigns this change stopped: the new cap is what the period has spent."
    )
    restarted_campaigns: list[Campaign] = strawberry.field(
        description="Campaigns the cap had stopped that deliver again."
    )


SetAdAccountBudgetResult = Annotated[
    SetAdAccountBudgetSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | CurrencyMismatchError
    | BudgetBelowMinimumError
    | BudgetChangeLimitReachedError,
    strawberry.union("SetAdAccountBudgetResult"),
]


@strawberry.type
class CreateWebhookEndpointSuccess:
    endpoint: WebhookEndpoint
    secret: str = strawberry.field(
        description='The signing secret (Standard Webhooks "whsec_..."); shown this once.'
    )


CreateWebhookEndpointResult = Annotated[
    CreateWebhookEndpointSuccess | InvalidInputError | NotFoundError | ForbiddenError,
    strawberry.union("CreateWebhookEndpointResult"),
]


@strawberry.type
class WebhookEndpointSuccess:
    endpoint: WebhookEndpoint


WebhookEndpointResult = Annotated[
    WebhookEndpointSuccess | InvalidInputError | NotFoundError | ForbiddenError,
    strawberry.union("WebhookEndpointResult"),
]


@strawberry.type
class RotateWebhookSecretSuccess:
    endpoint: WebhookEndpoint
    secret: str = strawberry.field(
        description="The new secret; the old one keeps signing too for 24 hours."
    )


RotateWebhookSecretResult = Annotated[
    RotateWebhookSecretSuccess | NotFoundError | ForbiddenError,
    strawberry.union("RotateWebhookSecretResult"),
]


@strawberry.type
class ReplayWebhookEventsSuccess:
    endpoint: WebhookEndpoint
    queued: int = strawberry.field(description="Events queued for the endpoint by this call.")
    end_cursor: str | None = strawberry.field(
        description="The feed cursor of the last event queued: call again after it while hasMore."
    )
    has_more: bool


ReplayWebhookEventsResult = Annotated[
    ReplayWebhookEventsSuccess | InvalidInputError | NotFoundError | ForbiddenError,
    strawberry.union("ReplayWebhookEventsResult"),
]


@strawberry.type
class WalletSettingsSuccess:
    wallet: Wallet


WalletSettingsResult = Annotated[
    WalletSettingsSuccess
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | CurrencyMismatchError
    | InvalidStateError,
    strawberry.union("WalletSettingsResult"),
]


CreateExportResult = Annotated[
    CreateExportSuccess | InvalidInputError | NotFoundError | ForbiddenError,
    strawberry.union("CreateExportResult"),
]
