"""What each job did, as data for tests and as one sentence for `adledger jobs run` and the
worker's log."""

from __future__ import annotations

from dataclasses import dataclass, field


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass
class RenewalReport:
    paid_from_balance: int = 0
    invoiced: int = 0
    deactivated: int = 0
    failed: int = 0

    @property
    def renewed(self) -> int:
        return self.paid_from_balance + self.invoiced

    def __str__(self) -> str:
        text = (
            f"renewed {_plural(self.renewed, 'subscription')}: "
            f"{self.paid_from_balance} paid from balance, {self.invoiced} invoiced"
        )
        if self.deactivated:
            text += f", {self.deactivated} deactivated (canceled at period end)"
        if self.failed:
            text += f", {self.failed} failed (see the log; the next run retries them)"
        return text


@dataclass
class IssueReport:
    issued: int = 0
    failed: int = 0

    def __str__(self) -> str:
        if not self.issued and not self.failed:
            return "no pending invoices to issue"
        text = f"issued {_plural(self.issued, 'pending invoice')}"
        return text + (f" ({self.failed} failed at the provider)" if self.failed else "")


@dataclass
class RetryReport:
    outcomes: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        total = sum(self.outcomes.values())
        if not total:
            return "no failed webhook events to retry"
        parts = ", ".join(f"{n} {status.lower()}" for status, n in sorted(self.outcomes.items()))
        return f"retried {_plural(total, 'webhook event')}: {parts}"


@dataclass
class VerifyReport:
    violations: int = 0

    def __str__(self) -> str:
        if not self.violations:
            return "ledger verified: every invariant holds"
        return f"ledger verification found {_plural(self.violations, 'violation')} (see the log)"
