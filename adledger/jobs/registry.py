"""Every job by the name `adledger jobs run NAME --now ISO` knows it."""

from __future__ import annotations

from adledger.jobs.billing import (
    issue_pending_invoices_job,
    renew_subscriptions_job,
    retry_webhook_events_job,
)
from adledger.jobs.ledger import Job, verify_ledger_job

JOBS: dict[str, Job] = {
    "verify-ledger": verify_ledger_job,
    "renew-subscriptions": renew_subscriptions_job,
    "issue-pending-invoices": issue_pending_invoices_job,
    "retry-webhook-events": retry_webhook_events_job,
}
