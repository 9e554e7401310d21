"""Partner events' snapshots (`data`): the object as the GraphQL API shows it, in the API
version `domain.events.API_VERSION`: field names as in schema.graphql, money as
{amount: "12.50", currencyCode: "USD"}, instants as ISO 8601, ids as the API's global
ids. A related object is only its id ({"id": ...}): a partner reads more by `node(id:)`.
Kept next to the schema's own types (schema/billing.py, schema/campaigns.py): a field
the API adds is added here too. Credits, refunds, makegoods and the center's money
settings are in event_data_money.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adledger.domain.budgets import StopReason
from adledger.domain.campaigns import CampaignStatus
from adledger.domain.conservation import paid_and_kept
from adledger.domain.ids import to_global_id
from adledger.domain.money import Currency, format_minor

Data = dict[str, Any]


def money(minor: int, currency: str) -> Data:
    return {"amount": format_minor(minor, Currency(currency)), "currencyCode": currency}


def instant(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def ref(type_name: str, db_id: int | None) -> Data | None:
    return None if db_id is None else {"id": to_global_id(type_name, db_id)}


def top_up(row: Any) -> Data:
    """`TopUp`, from a top_ups row."""
    target = row.target_balance
    return {
        "id": to_global_id("TopUp", row.id),
        "status": row.status,
        "targetBalance": None if target is None else money(target, row.currency),
        "amount": money(row.amount, row.currency),
        "createdAt": instant(row.created_at),
        "paidAt": instant(row.paid_at),
        "wallet": ref("Wallet", row.wallet_id),
        "invoice": ref("Invoice", row.invoice_id),
    }


def invoice(row: Any) -> Data:
    """`Invoice`, from an invoices row (its lines are read with the invoice)."""
    open_ = row.status == "OPEN"
    return {
        "id": to_global_id("Invoice", row.id),
        "number": row.number,
        "kind": row.kind,
        "status": row.status,
        "subtotal": money(row.subtotal, row.currency),
        "discount": money(row.discount, row.currency),
        "amountDue": money(row.subtotal - row.discount, row.currency),
        "issueOn": instant(row.issue_on),
        "dueAt": instant(row.due_at),
        "paidAt": instant(row.paid_at),
        "installmentNumber": row.installment_number,
        "installmentCount": row.installment_count,
        "paymentReference": row.payment_reference,
        "hostedUrl": row.hosted_url,
        "lastPaymentError": row.last_charge_error if open_ else None,
        "nextPaymentAttemptAt": instant(row.next_charge_at) if open_ else None,
        "campaign": ref("Campaign", row.campaign_id),
    }


def campaign(row: Any) -> Data:
    """`Campaign`, from a campaigns row (stopReason with its code, as the API says it)."""

    def m(minor: int) -> Data:
        return money(minor, row.currency)

    stopped = row.status == CampaignStatus.BUDGET_EXHAUSTED
    stop = StopReason(row.stop_reason or StopReason.CAMPAIGN_BUDGET_REACHED) if stopped else None
    funded = paid_and_kept(row.taken, row.credited, row.forfeited, row.made_good_reserve)
    return {
        "id": to_global_id("Campaign", row.id),
        "name": row.name,
        "status": row.status,
        "deliveryType": row.delivery_type,
        "paymentPlan": row.payment_plan,
        "budget": m(row.budget),
        "spent": m(row.spent),
        "funded": m(funded),
        "credited": m(row.credited),
        "forfeited": m(row.forfeited),
        "madeGoodFromReserve": m(row.made_good_reserve),
        "madeGoodFromRevenue": m(row.made_good_revenue),
        "impressions": row.impressions,
        "bookedImpressions": row.booked_impressions,
        "startsAt": instant(row.starts_at),
        "endsAt": instant(row.ends_at),
        "launchedAt": instant(row.launched_at),
        "settledAt": instant(row.settled_at),
        "rejectionReason": row.rejection_reason,
        "stopReasonCode": None if stop is None else stop.value,
        "stopReason": None if stop is None else stop.text,
        "pauseReason": row.pause_reason,
        "createdAt": instant(row.created_at),
        "adAccount": ref("AdAccount", row.ad_account_id),
        "makegoodFor": ref("Campaign", row.makegood_for_campaign_id),
    }


@dataclass(frozen=True, slots=True)
class SpendTotals:
    """What one recordSpend batch did to one campaign."""

    campaign: Any
    """The campaign row, locked, as the batch left it."""
    applied: int
    refused: int
    impressions: int
    events: int


def spend(totals: SpendTotals) -> Data:
    """`spend.applied`: the batch's totals for the campaign, never its ad events one by
    one, and the campaign's spend to date."""
    row = totals.campaign
    return {
        "campaign": {
            "id": to_global_id("Campaign", row.id),
            "status": row.status,
            "budget": money(row.budget, row.currency),
            "spent": money(row.spent, row.currency),
            "impressions": row.impressions,
        },
        "amountApplied": money(totals.applied, row.currency),
        "amountRefused": money(totals.refused, row.currency),
        "impressions": totals.impressions,
        "eventsCount": totals.events,
    }
