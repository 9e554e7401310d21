"""Every provider call and job enqueue goes through the outbox's runner
(services/effects.py): no resolver, edge or job calls the provider's writing methods
itself, and the functions that do are reached through the runner. Effects are declared
by the services that make the change, never at the edge or by a job."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "adledger"

PROVIDER_WRITE = re.compile(r"\bprovider\.(create_\w+|charge_\w+|void_\w+|refund)\s*\(")
ENQUEUE = re.compile(r"\benqueue_job\b")
# The runner, and the services whose provider steps it runs (each keyed by our ids).
CALLERS = {
    "services/effects.py",
    "services/invoices.py",
    "services/shortfalls.py",
    "services/card_charges.py",
    "services/refunds.py",
    "services/cards.py",
}
PROVIDER_STEPS = re.compile(
    r"(?<!gc\.)\b(issue_invoice|issue_pending|provider_customer|void_one|void_superseded|collect"
    r"|issue_due_invoices|send_refunds|send_one|open_card_setup)\s*\("
)
# Still calling provider steps directly, outside the outbox: none (the jobs declare their
# effects or ask the runner to run the sweeps; the demo declares its effects too).
NOT_YET: set[str] = set()
# Named after the provider steps, its functions build effects (data) and call nothing.
CONSTRUCTORS = "services/effect_kinds.py"


def _sources() -> dict[str, str]:
    return {
        path.relative_to(PACKAGE).as_posix(): path.read_text()
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts
    }


def test_only_the_runner_and_the_adapters_call_the_providers_writing_methods() -> None:
    found = {
        name
        for name, text in _sources().items()
        if PROVIDER_WRITE.search(text) and not name.startswith("payments/")
    }
    assert found <= CALLERS, sorted(found - CALLERS)


def test_nothing_enqueues_a_job_but_the_runner() -> None:
    found = {name for name, text in _sources().items() if ENQUEUE.search(text)}
    assert found <= {"services/effects.py"}, sorted(found)


def test_no_resolver_or_edge_runs_a_provider_step_itself() -> None:
    allowed = CALLERS | NOT_YET | {CONSTRUCTORS}
    found = {
        name
        for name, text in _sources().items()
        if PROVIDER_STEPS.search(_without_declarations(text)) and name not in allowed
    }
    assert found == set(), sorted(found)


# Declaring (or taking back) an effect: the outbox's writes, called or imported by name.
OUTBOX_WRITE = re.compile(
    r"\boutbox\.(declare|add|drop)\b"
    r"|from\s+adledger\.services\.outbox\s+import\s+[^\n]*\b(declare|add|drop)\b"
)
EDGES = ("resolvers/", "jobs/", "app/")


def test_no_resolver_job_or_edge_declares_an_effect() -> None:
    found = {
        name
        for name, text in _sources().items()
        if name.startswith(EDGES) and OUTBOX_WRITE.search(text)
    }
    assert found == set(), sorted(found)


def test_the_outbox_write_pattern_finds_a_declaration() -> None:
    """The test above would pass on nothing if the pattern never matched."""
    assert OUTBOX_WRITE.search("    await outbox.declare(session, effect)")
    assert OUTBOX_WRITE.search("await outbox.drop(session, key, now, reason)")
    assert OUTBOX_WRITE.search("from adledger.services.outbox import Effect, add")
    assert not OUTBOX_WRITE.search("declared = outbox.added(session)")


def _without_declarations(text: str) -> str:
    """`effect_kinds.issue_invoice(...)` builds an effect (data): it calls nothing. The
    runner's `effects.run_keys(...)` runs effects, never a provider step by name."""
    return re.sub(r"\b(effect_kinds|effects)\.\w+\(", "", text)
