"""The Schema object: root types wired to resolvers, limits and error masking."""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types.graphql import OperationType

from adledger.resolvers import (
    allocation,
    billing,
    campaigns,
    cards,
    exports,
    guard,
    invitations,
    makegoods,
    mutation,
    plans,
    query,
    recharge,
    refunds,
    subscription,
    webhooks,
)
from adledger.resolvers.readable_results import ReadableResults
from adledger.schema import cost, results
from adledger.schema.billing import Invoice
from adledger.schema.campaigns import Campaign
from adledger.schema.error_log import LoggedSchema, MaskUnexpected, log_user_errors
from adledger.schema.errors import UserError
from adledger.schema.executor import ReleasingExecutor
from adledger.schema.input_guard import guard_mutations
from adledger.schema.limit_codes import (
    QUERY_TOO_DEEP,
    TOO_MANY_ALIASES,
    CodedMaxTokensLimiter,
    coded_rules,
)
from adledger.schema.limits import ExpandedSizeLimiter, GuardedValidationCache
from adledger.schema.plans import CancellationRequestConnection
from adledger.schema.rate_limit import RateLimit
from adledger.schema.refunds import RefundRequestConnection
from adledger.schema.scalars import SCALAR_MAP
from adledger.schema.types import AdAccount, BusinessCenter, Node, Viewer, Wallet


@strawberry.type
class Query:
    node: Node | None = strawberry.field(resolver=query.node)
    viewer: Viewer = strawberry.field(resolver=query.viewer)
    business_center: BusinessCenter | None = strawberry.field(resolver=query.business_center)
    ad_account: AdAccount | None = strawberry.field(resolver=query.ad_account)
    wallet: Wallet | None = strawberry.field(resolver=query.wallet)
    campaign: Campaign | None = strawberry.field(resolver=query.campaign)
    invoice: Invoice | None = strawberry.field(resolver=query.invoice)
    refund_requests: RefundRequestConnection = strawberry.field(
        resolver=refunds.refund_requests,
        description="Platform staff only: refund requests, oldest first.",
    )
    cancellation_requests: CancellationRequestConnection = strawberry.field(
        resolver=plans.cancellation_requests,
        description="Platform staff only: cancellation requests to resolve, oldest first.",
    )
    rate_limit: RateLimit = strawberry.field(resolver=query.rate_limit)


@strawberry.type
class Mutation:
    create_business_center: results.CreateBusinessCenterResult = strawberry.mutation(
        resolver=mutation.create_business_center
    )
    create_ad_account: results.CreateAdAccountResult = strawberry.mutation(
        resolver=mutation.create_ad_account
    )
    add_business_center_member: results.AddBusinessCenterMemberResult = strawberry.mutation(
        resolver=invitations.add_business_center_member,
        description=(
            "Admins only: invite an email to a role in the business center. The answer is the "
            "same whether or not the email has an account; its user accepts the invitation."
        ),
    )
    accept_business_center_invitation: results.AcceptBusinessCenterInvitationResult = (
        strawberry.mutation(resolver=invitations.accept_business_center_invitation)
    )
    decline_business_center_invitation: results.DeclineBusinessCenterInvitationResult = (
        strawberry.mutation(resolver=invitations.decline_business_center_invitation)
    )
    revoke_business_center_invitation: results.RevokeBusinessCenterInvitationResult = (
        strawberry.mutation(
            resolver=invitations.revoke_business_center_invitation,
            description="Admins only: withdraw a pending invitation.",
        )
    )
    transfer_balance: results.TransferBalanceResult = strawberry.mutation(
        resolver=mutation.transfer_balance
    )
    enable_automatic_allocation: results.EnableAutomaticAllocationResult = strawberry.mutation(
        resolver=allocation.enable_automatic_allocation,
        description=(
            "ADMIN or FINANCE_MANAGER: ad accounts draw on the business center balance as they "
            "spend. Once and for ever; each account's cash moves to the center (Budget Sync)."
        ),
    )
    flag_underdelivery: results.MakegoodResult = strawberry.mutation(
        resolver=makegoods.flag_underdelivery,
        description="Platform staff only: tell a campaign's center it may under-deliver.",
    )
    offer_makegood: results.MakegoodResult = strawberry.mutation(
        resolver=makegoods.offer_makegood,
        description=(
            "Platform staff only: offer a credit or a refund for the under-delivered share "
            "(price x missing / booked); nothing moves until the customer accepts."
        ),
    )
    accept_makegood: results.MakegoodResult = strawberry.mutation(
        resolver=makegoods.accept_makegood,
        description="ADMIN or FINANCE_MANAGER: take the offered credit or refund (once).",
    )
    decline_makegood: results.MakegoodResult = strawberry.mutation(
        resolver=makegoods.decline_makegood,
        description="ADMIN or FINANCE_MANAGER: decline the offer.",
    )
    request_refund: results.RequestRefundResult = strawberry.mutation(
        resolver=refunds.request_refund,
        description=(
            "ADMIN or FINANCE_MANAGER: unused credit balance back to the payments that brought "
            "it in; out of cash at once, sent once the billing department approves."
        ),
    )
    refund_rejected_campaign: results.RequestRefundResult = strawberry.mutation(
        resolver=refunds.refund_rejected_campaign,
        description=(
            "ADMIN or FINANCE_MANAGER: the money a campaign rejected in review got back as "
            "credit goes on to the payments that brought it in, at once."
        ),
    )
    request_inactivity_refund: results.RequestRefundResult = strawberry.mutation(
        resolver=refunds.request_inactivity_refund,
        description=(
            "ADMIN or FINANCE_MANAGER: the plan periods (at most three, ended within 90 days) "
            "in which no member made an authenticated request, refunded once staff approve."
        ),
    )
    approve_refund: results.RefundDecisionResult = strawberry.mutation(
        resolver=refunds.approve_refund,
        description="Platform staff only: make the refunds, one per payment, newest first.",
    )
    decline_refund: results.RefundDecisionResult = strawberry.mutation(
        resolver=refunds.decline_refund,
        description="Platform staff only: the money goes back to the balance.",
    )
    resolve_cancellation_request: results.ResolveCancellationRequestResult = strawberry.mutation(
        resolver=plans.resolve_cancellation_request,
        description=(
            "Platform staff only: the unspent rest of what was paid for a canceled "
            "GUARANTEED campaign returns as credit."
        ),
    )
    void_invoice: results.AdjustInvoiceResult = strawberry.mutation(
        resolver=plans.void_invoice,
        description="Platform staff only: an installment still owed asks nothing (audited).",
    )
    discount_invoice: results.AdjustInvoiceResult = strawberry.mutation(
        resolver=plans.discount_invoice,
        description="Platform staff only: an installment still owed asks less (audited).",
    )
    create_card_setup: results.CreateCardSetupResult = strawberry.mutation(
        resolver=cards.create_card_setup,
        description=(
            "ADMIN or FINANCE_MANAGER: start saving a card for INSTALLMENTS and PREPAY "
            "campaigns; answers the client secret Stripe.js needs."
        ),
    )
    set_ad_account_budget: results.SetAdAccountBudgetResult = strawberry.mutation(
        resolver=allocation.set_ad_account_budget,
        description="ADMIN or FINANCE_MANAGER: an ad account's budget cap (10 changes a UTC day).",
    )
    grant_vouchers: results.GrantVouchersResult = strawberry.mutation(
        resolver=mutation.grant_vouchers, description="Platform staff only."
    )
    set_credit_line: results.SetCreditLineResult = strawberry.mutation(
        resolver=mutation.set_credit_line, description="Platform staff only."
    )
    set_balance_alerts: results.WalletSettingsResult = strawberry.mutation(
        resolver=guard.set_balance_alerts
    )
    top_up_wallet: results.TopUpWalletResult = strawberry.mutation(resolver=billing.top_up_wallet)
    set_auto_recharge: results.WalletSettingsResult = strawberry.mutation(
        resolver=recharge.set_auto_recharge,
        description=(
            "ADMIN or FINANCE_MANAGER: charge the center's saved card when the wallet's "
            "available balance falls below a threshold. Needs a saved card on the wallet's "
            "business center (INVALID_STATE otherwise)."
        ),
    )
    disable_auto_recharge: results.WalletSettingsResult = strawberry.mutation(
        resolver=recharge.disable_auto_recharge,
        description="ADMIN or FINANCE_MANAGER: no automatic recharge until it is set again.",
    )
    subscribe_to_plan: results.SubscribeToPlanResult = strawberry.mutation(
        resolver=billing.subscribe_to_plan
    )
    cancel_plan_subscription: results.CancelPlanSubscriptionResult = strawberry.mutation(
        resolver=billing.cancel_plan_subscription
    )
    create_campaign: results.CreateCampaignResult = strawberry.mutation(
        resolver=campaigns.create_campaign
    )
    launch_campaign: results.LaunchCampaignResult = strawberry.mutation(
        resolver=campaigns.launch_campaign
    )
    update_campaign_budget: results.UpdateCampaignBudgetResult = strawberry.mutation(
        resolver=campaigns.update_campaign_budget
    )
    pause_campaign: results.CampaignActionResult = strawberry.mutation(
        resolver=campaigns.pause_campaign
    )
    resume_campaign: results.CampaignActionResult = strawberry.mutation(
        resolver=campaigns.resume_campaign
    )
    cancel_campaign: results.CampaignActionResult = strawberry.mutation(
        resolver=campaigns.cancel_campaign
    )
    reject_campaign: results.CampaignActionResult = strawberry.mutation(
        resolver=campaigns.reject_campaign,
        description=(
            "Platform staff only: the campaign failed review (give the reason). Its unspent "
            "money returns to the wallet at once."
        ),
    )
    record_spend: results.RecordSpendResult = strawberry.mutation(
        resolver=campaigns.record_spend,
        description=(
            "Delivery reports from the ad server. Each event is applied exactly once, by "
            "eventId. Integration tokens (and staff) only."
        ),
    )

    create_webhook_endpoint: results.CreateWebhookEndpointResult = strawberry.mutation(
        resolver=webhooks.create_webhook_endpoint,
        description=(
            "ADMIN or FINANCE_MANAGER: post the center's events to this URL, signed (at most "
            "10 endpoints a center); the answer shows the signing secret, this once."
        ),
    )
    update_webhook_endpoint: results.WebhookEndpointResult = strawberry.mutation(
        resolver=webhooks.update_webhook_endpoint,
        description="ADMIN or FINANCE_MANAGER: change, disable or enable an endpoint.",
    )
    delete_webhook_endpoint: results.WebhookEndpointResult = strawberry.mutation(
        resolver=webhooks.delete_webhook_endpoint,
        description="ADMIN or FINANCE_MANAGER: the endpoint and its delivery log, gone.",
    )
    rotate_webhook_secret: results.RotateWebhookSecretResult = strawberry.mutation(
        resolver=webhooks.rotate_webhook_secret,
        description=(
            "ADMIN or FINANCE_MANAGER: a new signing secret, shown this once; the old one "
            "signs too for 24 hours."
        ),
    )
    send_test_webhook_event: results.WebhookEndpointResult = strawberry.mutation(
        resolver=webhooks.send_test_webhook_event,
        description="ADMIN or FINANCE_MANAGER: a `test.ping` event, sent to this endpoint only.",
    )
    redeliver_webhook_event: results.WebhookEndpointResult = strawberry.mutation(
        resolver=webhooks.redeliver_webhook_event,
        description="ADMIN or FINANCE_MANAGER: send one event of the center to the endpoint again.",
    )
    create_export: results.CreateExportResult = strawberry.mutation(
        resolver=exports.create_export,
        description=(
            "Members who may read the wallet's (the center's) money, and staff: a signed "
            "link to a CSV file of its transactions or invoices, valid 10 minutes "
            "(10 exports a minute per member)."
        ),
    )
    replay_webhook_events: results.ReplayWebhookEventsResult = strawberry.mutation(
        resolver=webhooks.replay_webhook_events,
        description=(
            "ADMIN or FINANCE_MANAGER: queue for the endpoint up to 1,000 of the center's "
            "events after a feed cursor that it takes; call again from endCursor while hasMore."
        ),
    )


@strawberry.type
class Subscription:
    wallet_updated: Wallet = strawberry.subscription(
        resolver=subscription.wallet_updated,
        description=(
            "Pushes the wallet each time one of its balances or pending top-ups changes "
            "(graphql-transport-ws)."
        ),
    )


class CloseSession(SchemaExtension):
    """Return the request's database connection once the operation is over; tell the
    context when the operation is a query (its reads need no transaction)."""

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        try:
            yield
        finally:
            close = getattr(self.execution_context.context, "close", None)
            if close is not None:
                await close()

    async def on_execute(self) -> AsyncIterator[None]:  # type: ignore[override]
        context = self.execution_context
        query_operation = getattr(context.context, "query_operation", None)
        if query_operation is not None and context.operation_type is OperationType.QUERY:
            query_operation()
        yield


def build_schema(
    *,
    max_depth: int = 15,
    max_aliases: int = 30,
    max_tokens: int = 2000,
    max_query_nodes: int = 2000,
    max_fragment_spreads: int = 500,
    max_field_repeats: int = 50,
    max_query_cost: int = 100_000,
    charge: cost.Charger | None = None,
) -> strawberry.Schema:
    guard_mutations(Mutation)
    log_user_errors(Mutation)
    # Rule classes made once per schema: made per request (as the limiters do), they
    # would make every validation a cache miss, since the cache is keyed by the rules.
    limit_rules = [
        *coded_rules(QueryDepthLimiter(max_depth=max_depth).validation_rules, QUERY_TOO_DEEP),
        *coded_rules(
            MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules, TOO_MANY_ALIASES
        ),
    ]
    return LoggedSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[UserError],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=ReleasingExecutor,
        extensions=[
            # Before any validation rule: the depth and alias limiters below are rules.
            lambda: ExpandedSizeLimiter(max_query_nodes, max_fragment_spreads, max_field_repeats),
            lambda: AddValidationRules(limit_rules),
            lambda: CodedMaxTokensLimiter(max_token_count=max_tokens),
            lambda: ParserCache(maxsize=256),
            lambda: GuardedValidationCache(maxsize=256),
            # After validation (the cost needs a valid document), before any resolver.
            lambda: cost.QueryCost(max_query_cost, charge),
            # After validation, before any mutation runs: refuse an answer it could not give.
            lambda: ReadableResults(budget=max_query_nodes + max_fragment_spreads),
            # Masks what we did not raise on purpose; the masked error carries the request id.
            MaskUnexpected,
            CloseSession,
        ],
    )
