"""Mutation payloads: each result unions its Success type with the UserErrors it can return."""

from __future__ import annotations

from typing import Annotated

import strawberry

from adledger.schema.billing import Invoice, TopUp
from adledger.schema.errors import (
    AmountBelowMinimumError,
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
from adledger.schema.invitations import BusinessCenterInvitation
from adledger.schema.types import AdAccount, BusinessCenter, Wallet


@strawberry.type
class CreateBusinessCenterSuccess:
    business_center: BusinessCenter


CreateBusinessCenterResult = Annotated[
    CreateBusinessCenterSuccess | InvalidInputError | IdempotencyKeyReusedError,
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
    BusinessCenterInvitationSuccess | InvalidInputError | NotFoundError,
    strawberry.union("AcceptBusinessCenterInvitationResult"),
]
DeclineBusinessCenterInvitationResult = Annotated[
    BusinessCenterInvitationSuccess | InvalidInputError | NotFoundError,
    strawberry.union("DeclineBusinessCenterInvitationResult"),
]
RevokeBusinessCenterInvitationResult = Annotated[
    BusinessCenterInvitationSuccess | InvalidInputError | NotFoundError,
    strawberry.union("RevokeBusinessCenterInvitationResult"),
]
