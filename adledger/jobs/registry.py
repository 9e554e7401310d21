"""Every job by the name `adledger jobs run NAME --now ISO` knows it."""

from __future__ import annotations

from adledger.jobs.billing import (
    issue_pending_invoices_job,
    renew_subscriptions_job,
    retry_webhook_events_job,
)
from adledger.jobs.budgets import roll_budget_periods_job
from adledger.jobs.campaigns import (
    complete_campaigns_job,
    credit_sweep_job,
    start_campaigns_job,
)
from adledger.jobs.credit_line import close_credit_line_cycles_job
from adledger.jobs.events import prune_events_job
from adledger.jobs.installments import issue_invoices_job
from adledger.jobs.ledger import (
    Job,
    close_ledger_months_job,
    create_partitions_job,
    verify_ledger_job,
)
from adledger.jobs.outbox import run_outbox_job
from adledger.jobs.refunds import send_refunds_job
from adledger.jobs.webhooks import deliver_webhooks_job

JOBS: dict[str, Job] = {
    "verify-ledger": verify_ledger_job,
    "renew-subscriptions": renew_subscriptions_job,
    "issue-pending-invoices": issue_pending_invoices_job,
    "retry-webhook-events": retry_webhook_events_job,
    "start-campaigns": start_campaigns_job,
    "complete-campaigns": complete_campaigns_job,
    "credit-sweep": credit_sweep_job,
    "close-credit-line-cycles": close_credit_line_cycles_job,
    "close-monthly-invoices": close_credit_line_cycles_job,  # its first name
    "roll-budget-periods": roll_budget_periods_job,
    "issue-invoices": issue_invoices_job,
    "send-refunds": send_refunds_job,
    "run-outbox": run_outbox_job,
    "create-partitions": create_partitions_job,
    "close-ledger-months": close_ledger_months_job,
    "prune-events": prune_events_job,
    "deliver-webhooks": deliver_webhooks_job,
}
