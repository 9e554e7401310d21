"""The outbox's runner: each kind of effect and the coroutine that makes it happen (a
provider call, through the services that know how), claimed, run and marked done once.

The process that committed a change runs the effects it declared at once (`run_keys`,
from the edge: `RequestContext.write`), so an answer is as complete as before (the
launch's shortfall invoice has its payment reference); the worker's `run-outbox` job runs
the ones left undone (`run_due`), with backoff. An effect is claimed for LEASE before it
runs, so two processes never run one at once; one killed mid-effect is claimed again when
the lease ends. Every provider call is keyed by our ids (Stripe idempotency keys), so an
effect run twice reaches the same provider objects: it never charges twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock, faults
from adledger.domain.errors import DomainError, InvariantBroken
from adledger.payments.port import CardSetup, PaymentProvider
from adledger.services import (
    auto_recharge,
    balance_guard,
    card_charges,
    cards,
    events,
    invoices,
    refunds,
    shortfalls,
)
from adledger.services import effect_kinds as kinds
from adledger.services.config import BillingConfig
from adledger.services.transact import Transact
from adledger.store import db
from adledger.store import outbox as repo

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
"""Longer than any effect takes (a provider call times out well before)."""
MAX_BACKOFF = timedelta(hours=1)
BATCH = 100


def backoff(attempts: int) -> timedelta:
    """After the n-th failed attempt: 15 s, 30 s, 1 min, ... at most an hour (the exponent
    is capped first: an effect failing for days must not overflow timedelta)."""
    delay: timedelta = timedelta(seconds=15) * 2 ** min(max(attempts - 1, 0), 10)
    return min(delay, MAX_BACKOFF)


@dataclass(frozen=True, slots=True)
class Tools:
    """What an effect runs with: a transaction per step, the provider, the settings."""

    transact: Transact
    provider: PaymentProvider
    billing: BillingConfig


Handler = Callable[[Tools, dict[str, Any]], Awaitable[Any]]
InClaim = Callable[[AsyncSession, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Staged:
    """An effect in two transactions instead of four: what the provider call needs is
    `read` in the transaction that claims it, the `call` runs outside any transaction, and
    what it answered is `record`ed in the transaction that marks it done (so it is done
    exactly when its record commits). Its `Kind.run` does the same in transactions of
    its own (a claim that failed, the job's sweeps)."""

    read: InClaim
    call: Callable[[Tools, Any], Awaitable[Any]]
    record: Callable[[AsyncSession, Any, Any], Awaitable[Any]]
    """(session, what `read` answered, what `call` answered) -> the effect's value."""


@dataclass(frozen=True, slots=True)
class Kind:
    run: Handler
    retried: bool = True
    """False: a failure is final (the caller was told, and asks again if it wants)."""
    in_claim: InClaim | None = None
    """Work on our own tables only: done in the transaction that claims the effect and
    marks it done (one transaction, not three; done exactly when the work commits). If it
    fails there, the effect is claimed again and `run` as any other, with backoff."""
    staged: Staged | None = None


@dataclass(frozen=True, slots=True)
class Ran:
    """How an effect this process ran went: its value, or the error it raised."""

    value: Any = None
    error: Exception | None = None

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


# -- the effects: declared by the services (services/effect_kinds.py), run here ---------


async def _issue(tools: Tools, payload: dict[str, Any]) -> str:
    return await invoices.issue_invoice(
        tools.transact, tools.provider, payload["invoice_id"], payload["provider_key"]
    )


async def _issue_read(session: AsyncSession, payload: dict[str, Any]) -> invoices.IssueSnapshot:
    return await invoices.issue_snapshot(session, payload["invoice_id"], payload["provider_key"])


async def _issue_call(tools: Tools, snapshot: invoices.IssueSnapshot) -> invoices.Issued | None:
    if snapshot.reference is not None:
        return None
    return await invoices.issue_at_provider(tools.provider, snapshot)


async def _issue_record(
    session: AsyncSession, snapshot: invoices.IssueSnapshot, issued: invoices.Issued | None
) -> str:
    if issued is None:
        if snapshot.reference is None:  # issued already: nothing was called
            raise InvariantBroken("snapshot.reference is not None")
        return snapshot.reference
    return await invoices.record_issue(session, snapshot, issued)


async def _collect(tools: Tools, payload: dict[str, Any]) -> str:
    """Declined or unanswered, the charge is retried by issue-invoices (its own lease)."""
    return await card_charges.collect(
        tools.transact, tools.provider, payload["invoice_id"], tools.billing, clock.now()
    )


async def _open_recharge(tools: Tools, payload: dict[str, Any]) -> int | None:
    """The recharge a wallet's rule decided, opened in a transaction of its own (the
    invoice counter, then the rule), then charged: its charge's effect runs here, unless
    the edge ran it after that commit already (a request's). Run again (a crash, a
    retry), it opens nothing more and charges what the crossing opened, once."""
    wallet_id, crossing, amount = payload["wallet_id"], payload["crossing"], payload["amount"]

    async def open_it(session: AsyncSession) -> int | None:
        return await auto_recharge.open_recharge(session, wallet_id, crossing, amount, clock.now())

    invoice_id = await tools.transact(open_it)
    if invoice_id is not None:
        await run_keys(tools, [kinds.collect_invoice_key(invoice_id)])
    return invoice_id


async def _void(tools: Tools, payload: dict[str, Any]) -> bool:
    return await shortfalls.void_one(tools.transact, tools.provider, payload["invoice_id"])


async def _send_refunds(tools: Tools, payload: dict[str, Any]) -> int:
    """A refund the provider does not take now is made by the send-refunds job."""
    return await refunds.send_refunds(tools.transact, tools.provider, payload["request_id"])


async def _open_card_setup(tools: Tools, payload: dict[str, Any]) -> CardSetup:
    started = cards.SetupStarted(payload["setup_id"], payload["center_id"])
    return await cards.open_card_setup(tools.transact, tools.provider, started)


async def _sequence_events(session: AsyncSession, payload: dict[str, Any]) -> int:
    if "business_center_ids" in payload:
        return await events.sequence_centers(session, payload["business_center_ids"])
    return await events.sequence(session, payload["business_center_id"])


async def _sequence_events_apart(tools: Tools, payload: dict[str, Any]) -> int:
    return await tools.transact(lambda s: _sequence_events(s, payload))


KINDS: dict[str, Kind] = {
    kinds.ISSUE_INVOICE: Kind(_issue, staged=Staged(_issue_read, _issue_call, _issue_record)),
    kinds.COLLECT_INVOICE: Kind(_collect),
    kinds.VOID_SHORTFALL: Kind(_void),
    kinds.OPEN_RECHARGE: Kind(_open_recharge),
    kinds.SEND_REFUNDS: Kind(_send_refunds),
    # The caller waits for the setup's client secret: a failure is answered, and its
    # retry is a new setup.
    kinds.OPEN_CARD_SETUP: Kind(_open_card_setup, retried=False),
    # Commits number their events now (services/events.py); rows declared before still run.
    kinds.SEQUENCE_EVENTS: Kind(_sequence_events_apart, in_claim=_sequence_events),
}


def transaction_runner(sessions: async_sessionmaker[AsyncSession]) -> Transact:
    """`store.db.transaction_runner` for the edges outside a request (a webhook, a job):
    the balance guard settled before each commit, whose events its own before-commit hook
    numbers (services/events.py). The effects it declared are left to the sweeps and
    run-outbox."""
    transact: Transact = db.transaction_runner(  # type: ignore[assignment]
        sessions, before_commit=balance_guard.settle
    )
    return transact


# -- the sweeps: undone work a job finds in our own tables (an invoice never issued, a
# shortfall or a reduced invoice still to void, an installment due, a refund not made),
# run here like an effect: each provider call is keyed by our ids, so a sweep next to a
# live request or a second worker reaches the same provider objects --------------------


async def issue_unissued(tools: Tools, created_before: datetime) -> tuple[int, int]:
    """(issued, failed at the provider)."""
    return await invoices.issue_pending(tools.transact, tools.provider, created_before)


async def void_superseded_shortfalls(tools: Tools) -> tuple[int, int]:
    """(voided, failed at the provider)."""
    return await shortfalls.void_superseded(tools.transact, tools.provider)


async def charge_due_installments(tools: Tools, now: datetime, limit: int) -> dict[str, int]:
    """How many went how (issued, postponed, paid, declined, ...)."""
    return await card_charges.issue_due_invoices(
        tools.transact, tools.provider, tools.billing, now, limit
    )


async def void_reduced_invoices(tools: Tools, limit: int) -> dict[str, int]:
    return await card_charges.void_superseded(tools.transact, tools.provider, limit)


async def send_refund(tools: Tools, refund_id: int) -> None:
    """Raises PaymentProviderFailed (the refund stays unsent for the next run)."""
    await refunds.send_one(tools.transact, tools.provider, refund_id)


# -- the runner -----------------------------------------------------------------------


Claim = Callable[[AsyncSession], Awaitable[Any | None]]


@dataclass(slots=True)
class _Claimed:
    row: Any
    done: Ran | None = None
    """Run and done in its claim (`Kind.in_claim`)."""
    read: Any = None
    has_read: bool = False
    """`Staged.read` ran in its claim: `read` is what it answered."""


async def run_keys(tools: Tools, keys: Iterable[str]) -> dict[str, Ran]:
    """Run now the effects of these keys that are not done and nobody holds (the edge,
    right after the commit that declared them). All are claimed in one transaction, where
    the in-claim ones are run and done and the staged ones read what they need; if that
    transaction fails, each is claimed and run on its own."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    try:
        claimed = await tools.transact(lambda session: _claim_all(session, wanted))
    except Exception:
        log.warning("effects failed where they were claimed; each run on its own", exc_info=True)
        return await _run_each(tools, wanted)
    ran: dict[str, Ran] = {}
    for key in wanted:
        found = claimed.get(key)
        if found is None:
            continue
        if found.done is not None:
            ran[key] = found.done
        elif found.has_read:
            ran[key] = await _run_staged(tools, found)
        else:
            ran[key] = await _run(tools, found.row)
    return ran


async def _claim_all(session: AsyncSession, keys: list[str]) -> dict[str, _Claimed]:
    rows = await repo.claim_keys(session, keys, clock.now(), LEASE, _DONE_IN_CLAIM)
    by_key = {row.idempotency_key: row for row in rows}
    claimed: dict[str, _Claimed] = {}
    for key in keys:  # in the order they were declared
        row = by_key.get(key)
        if row is None:
            continue
        kind = KINDS.get(row.kind)
        found = claimed[key] = _Claimed(row)
        if kind is not None and kind.in_claim is not None:
            found.done = Ran(value=await kind.in_claim(session, row.payload))
        elif kind is not None and kind.staged is not None:
            found.read, found.has_read = await kind.staged.read(session, row.payload), True
    return claimed


async def _run_each(tools: Tools, keys: list[str]) -> dict[str, Ran]:
    ran: dict[str, Ran] = {}
    for key in keys:
        claimed, done = await _claim(tools, _by_key(key), _by_key_done_in_claim(key))
        if done is not None:
            ran[key] = done
        elif claimed is not None:
            ran[key] = await _run(tools, claimed)
    return ran


async def _run_staged(tools: Tools, found: _Claimed) -> Ran:
    row, kind = found.row, KINDS[found.row.kind]
    staged = kind.staged
    if staged is None:  # has_read: a staged kind
        raise InvariantBroken("staged is not None")
    try:
        called = await staged.call(tools, found.read)
        faults.hit("mid-effect")
        value = await tools.transact(lambda s: _recorded(s, staged, found, called))
    except Exception as err:
        await _failed(tools, row, kind, err)
        return Ran(error=err)
    return Ran(value=value)


async def _recorded(session: AsyncSession, staged: Staged, found: _Claimed, called: Any) -> Any:
    value = await staged.record(session, found.read, called)
    await repo.mark_done(session, found.row.id, clock.now())
    return value


def _by_key(key: str) -> Claim:
    return lambda session: repo.claim_key(session, key, clock.now(), LEASE)


_DONE_IN_CLAIM = [name for name, kind in KINDS.items() if kind.in_claim is not None]


def _by_key_done_in_claim(key: str) -> Claim:
    """`_by_key`, one statement fewer for a kind run in its claim: marked done with it."""
    return lambda session: repo.claim_key_done_in_claim(
        session, key, clock.now(), LEASE, _DONE_IN_CLAIM
    )


async def _claim(
    tools: Tools, claim: Claim, claim_done: Claim | None = None
) -> tuple[Any | None, Ran | None]:
    """The effect claimed; one whose kind runs in its claim (`Kind.in_claim`) is also run
    and done there (the Ran; `claim_done`, when given, claims it marked done already).
    Failing there, it is claimed again on its own (`claim`), to be run as any other (its
    claim and work rolled back together: nothing half done)."""
    first, done = (claim, False) if claim_done is None else (claim_done, True)
    try:
        return await tools.transact(lambda session: _claimed_in_claim(session, first, done))
    except Exception:
        log.warning("effect failed where it was claimed; run on its own", exc_info=True)
        return await tools.transact(claim), None


async def _claimed_in_claim(
    session: AsyncSession, claim: Claim, done: bool = False
) -> tuple[Any | None, Ran | None]:
    row = await claim(session)
    kind = None if row is None else KINDS.get(row.kind)
    if row is None or kind is None or kind.in_claim is None:
        return row, None
    value = await kind.in_claim(session, row.payload)
    if not done:
        await repo.mark_done(session, row.id, clock.now())
    return row, Ran(value=value)


async def run_due(tools: Tools, now: datetime, limit: int = BATCH) -> dict[str, int]:
    """The job: claim the effects due at `now` one at a time and run each (a claim's lease
    covers one effect: claimed together, the last of a slow batch could outlive its lease
    and be run by another worker at once); answers how many went how."""
    counts: dict[str, int] = {}
    for _ in range(limit):
        claimed, done = await _claim(tools, _due(now))
        if claimed is None:
            break
        ran = done if done is not None else await _run(tools, claimed)
        outcome = "failed" if ran.error is not None else "done"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _due(now: datetime) -> Claim:
    async def claim(session: AsyncSession) -> Row[Any] | None:
        claimed = await repo.claim_due(session, now, LEASE, 1)
        return claimed[0] if claimed else None

    return claim


async def _run(tools: Tools, row: Any) -> Ran:
    kind = KINDS.get(row.kind)
    try:
        if kind is None:
            raise LookupError(f"no effect of kind {row.kind!r}")
        value = await kind.run(tools, row.payload)
    except Exception as err:
        await _failed(tools, row, kind, err)
        return Ran(error=err)
    faults.hit("mid-effect")
    await tools.transact(lambda s: repo.mark_done(s, row.id, clock.now()))
    return Ran(value=value)


async def _failed(tools: Tools, row: Any, kind: Kind | None, err: Exception) -> None:
    error = f"{type(err).__name__}: {err.message if isinstance(err, DomainError) else err}"
    if isinstance(err, DomainError):
        log.warning("effect %s failed (attempt %s): %s", row.idempotency_key, row.attempts, error)
    else:
        log.error("effect %s failed (attempt %s)", row.idempotency_key, row.attempts, exc_info=err)
    now = clock.now()
    noted = error[:2000]
    if kind is not None and not kind.retried:
        await tools.transact(lambda s: repo.mark_done(s, row.id, now, noted))
        return
    retry_at = now + backoff(row.attempts)
    await tools.transact(lambda s: repo.mark_failed(s, row.id, noted, retry_at))
