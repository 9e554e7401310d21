"""What each job did, as data for tests and as one sentence for `adledger jobs run` and the
worker's log."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field


def job_log_level(did_something: bool) -> int:
    """A run that did something (or failed at it) is an INFO line; one that found nothing
    to do is a DEBUG line: every minute, for each job, it only buried the rest."""
    return logging.INFO if did_something else logging.DEBUG


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

    @property
    def did_something(self) -> bool:
        return bool(self.renewed or self.deactivated or self.failed)

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
    voided: int = 0
    void_failed: int = 0

    @property
    def did_something(self) -> bool:
        return bool(self.issued or self.failed or self.voided or self.void_failed)

    def __str__(self) -> str:
        if not (self.issued or self.failed or self.voided or self.void_failed):
            return "no pending invoices to issue or void"
        text = f"issued {_plural(self.issued, 'pending invoice')}"
        text += f" ({self.failed} failed at the provider)" if self.failed else ""
        text += f", voided {_plural(self.voided, 'superseded shortfall invoice')}"
        return text + (f" ({self.void_failed} failed at the provider)" if self.void_failed else "")


@dataclass
class CampaignReport:
    job: str
    steps: dict[str, int] = field(default_factory=dict)

    def count(self, step: str) -> None:
        self.steps[step] = self.steps.get(step, 0) + 1

    @property
    def did_something(self) -> bool:
        return any(step != "not due" for step in self.steps)

    def __str__(self) -> str:
        done = {step: n for step, n in self.steps.items() if step != "not due"}
        if not done:
            return "no campaigns due"
        return ", ".join(f"{n} {step}" for step, n in sorted(done.items()))


@dataclass
class RetryReport:
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def did_something(self) -> bool:
        return sum(self.outcomes.values()) > 0

    def __str__(self) -> str:
        total = sum(self.outcomes.values())
        if not total:
            return "no failed webhook events to retry"
        parts = ", ".join(f"{n} {status.lower()}" for status, n in sorted(self.outcomes.items()))
        return f"retried {_plural(total, 'webhook event')}: {parts}"


@dataclass
class VerifyReport:
    violations: int = 0
    postings_read: int = 0
    full: bool = True
    # False when a run that started from the same checkpoint recorded first.
    recorded: bool = True

    @property
    def did_something(self) -> bool:
        return bool(self.violations or self.postings_read)

    def __str__(self) -> str:
        scope = "in full" if self.full else "since the last checkpoint"
        read = f"{_plural(self.postings_read, 'posting')} read {scope}"
        if self.violations:
            found = _plural(self.violations, "violation")
            return f"ledger verification found {found} (see the log); {read}"
        text = f"ledger verified: every invariant holds; {read}"
        return text if self.recorded else text + " (another run recorded the checkpoint)"


@dataclass
class ClosingReport:
    """`close-ledger-months`: the months it closed, oldest first."""

    months: list[str] = field(default_factory=list)
    """Each as `2026-11 (14 accounts moved)`."""

    @property
    def did_something(self) -> bool:
        return bool(self.months)

    def __str__(self) -> str:
        if not self.months:
            return "no month to close"
        return f"closed {_plural(len(self.months), 'month')}: {', '.join(self.months)}"
