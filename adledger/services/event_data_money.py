"""Partner events' snapshots (`data`) of what comes back to a customer and of the center's
money settings: credits, refund requests, makegood offers, automatic allocation, an ad
account's budget cap, the credit line, the saved card, the plan subscription. The same
rules as event_data.py (whose helpers they use): the object as the GraphQL API shows it,
field names as in schema.graphql, money as {amount, currencyCode}, related objects as
{"id": ...}."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adledger.domain.budgets import BudgetSetting, cap_state
from adledger.domain.ids import to_global_id
from adledger.services.event_data import Data, instant, money, ref


@dataclass(frozen=True, slots=True)
class Credit:
    """Money of a campaign back to its wallet, as one `credit.issued`."""

    kind: str
    """The wallet transaction's kind: BUDGET_REDUCTION_CREDIT, UNDERDELIVERY_CREDIT,
    PAUSED_CAMPAIGN_CREDIT, CANCELLATION_CREDIT or MAKEGOOD_CREDIT."""
    amount: int
    description: str
    wallet_id: int | None = None
    """Where it went, when not the campaign's own wallet (a makegood of a campaign that
    draws on its center goes back to the center's balance)."""


def credit(campaign: Any, given: Credit) -> Data:
    """`credit.issued`: what came back (its kind as WalletTransactionKind names it), for
    which campaign, to which wallet (its cash, or its vouchers for voucher money)."""
    currency = campaign.currency
    return {
        "kind": given.kind,
        "amount": money(given.amount, currency),
        "description": given.description,
        "campaign": ref("Campaign", campaign.id),
        "wallet": ref("Wallet", given.wallet_id or campaign.wallet_id),
    }


def refund_request(row: Any, refunds: Sequence[Any]) -> Data:
    """`RefundRequest`, with its provider refunds (newest payment first, as the API)."""

    def m(minor: int) -> Data:
        return money(minor, row.currency)

    return {
        "id": to_global_id("RefundRequest", row.id),
        "status": row.status,
        "reason": row.reason,
        "amount": m(row.amount),
        "requestedAt": instant(row.requested_at),
        "decidedAt": instant(row.decided_at),
        "note": row.note,
        "refunds": [
            {
                "amount": m(r.amount),
                "status": r.status,
                "providerReference": r.provider_reference,
                "failure": r.failure,
                "settledAt": instant(r.settled_at),
            }
            for r in refunds
        ],
        "wallet": ref("Wallet", row.wallet_id),
        "campaign": ref("Campaign", row.campaign_id),
    }


def makegood_offer(row: Any) -> Data:
    """`MakegoodOffer`, and the campaign it makes good."""
    return {
        "id": to_global_id("MakegoodOffer", row.id),
        "kind": row.kind,
        "status": row.status,
        "missingImpressions": row.missing_impressions,
        "amount": money(row.amount, row.currency),
        "note": row.note,
        "offeredAt": instant(row.offered_at),
        "decidedAt": instant(row.decided_at),
        "startsAt": instant(row.starts_at),
        "endsAt": instant(row.ends_at),
        "makegoodCampaign": ref("Campaign", row.makegood_campaign_id),
        "campaign": ref("Campaign", row.campaign_id),
    }


@dataclass(frozen=True, slots=True)
class Synced:
    """What Budget Sync did to one ad account (`BudgetSync`)."""

    ad_account_id: int
    moved: int
    new_budget: int | None


def automatic_allocation(
    center_id: int, currency: str, changed_at: datetime, syncs: Sequence[Synced]
) -> Data:
    """`EnableAutomaticAllocationSuccess`: the center as it is now, and Budget Sync."""
    return {
        "businessCenter": {
            "id": to_global_id("BusinessCenter", center_id),
            "allocationMode": "AUTOMATIC",
            "allocationModeChangedAt": instant(changed_at),
        },
        "budgetSyncs": [
            {
                "adAccount": ref("AdAccount", s.ad_account_id),
                "movedToBusinessCenter": money(s.moved, currency),
                "newBudget": None if s.new_budget is None else money(s.new_budget, currency),
            }
            for s in syncs
        ],
    }


def budget_setting(setting: BudgetSetting, currency: str) -> Data:
    """`BudgetSetting`."""
    return {
        "mode": setting.mode.value,
        "amount": None if setting.amount is None else money(setting.amount, currency),
        "periodStart": instant(setting.period_start),
        "periodEnd": instant(setting.period_end),
    }


def budget_cap_change(
    account: Any, before: BudgetSetting, after: BudgetSetting, by_budget_sync: bool, now: datetime
) -> Data:
    """`AccountBudgetChange` of the ad account (the account locked, its cap and counter
    as the change leaves them), and its `AccountBudget` now."""
    currency = account.currency
    cap = cap_state(
        account.budget_mode,
        account.budget_amount,
        account.budget_period_start,
        account.budget_period_end,
        account.budget_spent,
        now,
    )
    return {
        "adAccount": ref("AdAccount", account.id),
        "changedAt": instant(now),
        "byBudgetSync": by_budget_sync,
        "before": budget_setting(before, currency),
        "after": budget_setting(after, currency),
        "budget": {
            "mode": cap.setting.mode.value,
            "amount": None if cap.setting.amount is None else money(cap.setting.amount, currency),
            "periodStart": instant(cap.period.start),
            "periodEnd": instant(cap.period.end),
            "spentInPeriod": money(cap.spent, currency),
            "remaining": None if cap.left is None else money(cap.left, currency),
        },
    }


@dataclass(frozen=True, slots=True)
class CreditLineTerms:
    """A credit line as setCreditLine sets it (limit in minor units)."""

    limit: int
    cycle: str | None
    net_terms_days: int | None


def credit_line(
    center_id: int,
    wallet_id: int,
    currency: str,
    now: CreditLineTerms,
    was: CreditLineTerms,
    used: int,
) -> Data:
    """`credit_line.changed`: the line as setCreditLine set it (SetCreditLineInput's
    names), what is used of it (WalletBalance.creditLineUsed), and what it was."""

    def terms(line: CreditLineTerms) -> Data:
        return {
            "limit": money(line.limit, currency),
            "cycle": line.cycle,
            "netTermsDays": line.net_terms_days,
        }

    return {
        "businessCenter": ref("BusinessCenter", center_id),
        "wallet": ref("Wallet", wallet_id),
        **terms(now),
        "used": money(used, currency),
        "previous": terms(was),
    }


def card(center_id: int, brand: str, last4: str, exp_month: int, exp_year: int) -> Data:
    """`card.saved`: the center and its `PaymentMethod` (never the provider's reference)."""
    return {
        "businessCenter": ref("BusinessCenter", center_id),
        "paymentMethod": {
            "brand": brand,
            "last4": last4,
            "expMonth": exp_month,
            "expYear": exp_year,
        },
    }


def plan_subscription(row: Any, invoice_id: int | None = None) -> Data:
    """`PlanSubscription` of the center; a renewal names the invoice of its new period."""
    found: Data = {
        "businessCenter": ref("BusinessCenter", row.business_center_id),
        "plan": row.plan,
        "status": row.status,
        "currentPeriodStart": instant(row.current_period_start),
        "currentPeriodEnd": instant(row.current_period_end),
    }
    if invoice_id is not None:
        found["invoice"] = ref("Invoice", invoice_id)
    return found
