"""close-monthly-invoices: one credit-line statement per business center and calendar month,
due after the line's net terms; paid through the webhook, it restores the credit line once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.app.cli import main
from adledger.domain.ledger import AccountKind, Move, TransactionKind
from adledger.domain.money import Currency, Money
from adledger.jobs.billing import issue_pending_invoices_job
from adledger.jobs.credit_line import StatementReport, close_monthly_invoices_job
from adledger.schema.ids import db_id_of, to_global_id
from adledger.services.ledger import PlatformCredit, credit_from_platform, post_entry
from adledger.store import billing as billing_repo
from adledger.store import wallets as wallet_repo
from adledger.store.ledger import platform_account_id
from adledger.store.models import BusinessCenter, Invoice, LedgerEntry, LedgerPosting
from tests.helpers import Center, User, balance, create_center

SET_CREDIT_LINE = """mutation($input: SetCreditLineInput!) { setCreditLine(input: $input) {
  __typename ... on UserError { code message field } } }"""

INVOICE = """query($id: ID!) { invoice(id: $id) {
  number kind status amountDue { amount currencyCode } paymentReference
  lines { description amount { amount } } } }"""

REPAYMENTS = """query($id: ID!) { wallet(id: $id) {
  transactions(first: 10, kinds: [CREDIT_LINE_REPAYMENT]) { edges { node {
    kind bucket amount { amount } balanceAfter { amount } invoice { number kind status } } } } } }"""

APPEND_ONLY = "ledger_postings_append_only"
NOV_2026 = datetime(2026, 11, 1, tzinfo=UTC)
DEC_2026 = datetime(2026, 12, 1, tzinfo=UTC)
JAN_2027 = datetime(2027, 1, 1, tzinfo=UTC)


@dataclass
class Line:
    """A business center with a credit line, and the staff user who granted it."""

    center: Center
    staff: User

    @property
    def wallet_id(self) -> int:
        wallet_id = db_id_of(self.center.wallet_id, "Wallet")
        assert wallet_id is not None
        return wallet_id


async def grant_line(api: Any, staff: User, center: Center, net_terms: int) -> None:
    line = {
        "businessCenterId": center.id,
        "cycle": "CALENDAR_MONTH",
        "limit": {"amount": "1000.00", "currencyCode": "USD"},
        "netTermsDays": net_terms,
    }
    result = (await api.data(SET_CREDIT_LINE, {"input": line}, staff.token))["setCreditLine"]
    assert result["__typename"] == "SetCreditLineSuccess", result


async def open_line(api: Any, users: Any, name: str = "Acme", net_terms: int = 45) -> Line:
    staff = await users.create("staff", staff=True)
    center = await create_center(api, await users.create("admin"), name=name)
    await grant_line(api, staff, center, net_terms)
    return Line(center, staff)


async def spend(
    sessions: async_sessionmaker[AsyncSession],
    wallet_id: int,
    minor: int,
    at: datetime,
    bucket: AccountKind = AccountKind.CREDIT_LINE,
) -> None:
    """Spend paid from the wallet's bucket as the ad server's reports post it, dated `at`.
    Postings take their transaction's clock, so the test re-dates them, with the ledger's
    append-only trigger off inside this one transaction only (DDL is transactional)."""
    async with sessions() as session:
        account = await wallet_repo.wallet_account(session, wallet_id, bucket)
        revenue = await platform_account_id(session, AccountKind.REVENUE, "USD")
        entry_id = await post_entry(
            session,
            operation="spend",
            moves=[Move(account.id, revenue, minor, TransactionKind.SPEND)],
            description="test spend",
            actor_user_id=None,
        )
        await session.execute(text(f"ALTER TABLE ledger_postings DISABLE TRIGGER {APPEND_ONLY}"))
        dated = update(LedgerPosting).where(LedgerPosting.entry_id == entry_id)
        await session.execute(dated.values(created_at=at))
        await session.execute(text(f"ALTER TABLE ledger_postings ENABLE TRIGGER {APPEND_ONLY}"))
        await session.commit()


async def statements(sessions: async_sessionmaker[AsyncSession]) -> list[Invoice]:
    async with sessions() as session:
        stmt = select(Invoice).where(Invoice.kind == "CREDIT_LINE_CYCLE").order_by(Invoice.id)
        return list(await session.scalars(stmt))


async def used(api: Any, line: Line) -> str:
    found = await balance(api, line.center.wallet_id, line.center.admin.token)
    return str(found["creditLineUsed"]["amount"])


async def repayments(api: Any, line: Line) -> list[dict[str, Any]]:
    data = await api.data(REPAYMENTS, {"id": line.center.wallet_id}, line.center.admin.token)
    return [edge["node"] for edge in data["wallet"]["transactions"]["edges"]]


async def test_a_month_of_credit_line_spend_is_billed_once_at_its_end_with_the_net_terms(
    api, users, sessions, jobs
) -> None:
    # given spend from the credit line on both sides of the November / December boundary
    line = await open_line(api, users, net_terms=45)
    await spend(sessions, line.wallet_id, 12000, datetime(2026, 11, 3, 9, tzinfo=UTC))
    await spend(sessions, line.wallet_id, 8050, DEC_2026 - timedelta(microseconds=1))
    await spend(sessions, line.wallet_id, 5000, DEC_2026)

    # when the job runs the instant November ends
    report = await close_monthly_invoices_job(jobs, DEC_2026)

    # then November is billed: 200.50, issued on Dec 1, due 45 days later, at the provider
    assert report == StatementReport(opened=1)
    assert str(report) == "opened 1 credit-line statement"
    [november] = await statements(sessions)
    assert (november.number, november.status, november.wallet_id) == (
        "INV-2026-000001",
        "OPEN",
        line.wallet_id,
    )
    assert (november.subtotal, november.discount, november.currency) == (20050, 0, "USD")
    assert (november.cycle_start, november.issue_on) == (NOV_2026, DEC_2026)
    assert november.due_at == datetime(2027, 1, 15, tzinfo=UTC)
    served = await api.data(
        INVOICE, {"id": to_global_id("Invoice", november.id)}, line.center.admin.token
    )
    assert served["invoice"] == {
        "number": "INV-2026-000001",
        "kind": "CREDIT_LINE_CYCLE",
        "status": "OPEN",
        "amountDue": {"amount": "200.50", "currencyCode": "USD"},
        "paymentReference": november.payment_reference,
        "lines": [
            {"description": "Credit line usage, November 2026", "amount": {"amount": "200.50"}}
        ],
    }
    assert november.payment_reference is not None
    assert november.payment_reference.startswith("in_sandbox_")

    # when it runs again within December, then at January's first hour
    assert await close_monthly_invoices_job(jobs, DEC_2026 + timedelta(days=3)) == StatementReport()
    january = await close_monthly_invoices_job(jobs, JAN_2027 + timedelta(minutes=10))

    # then December gets its own statement, numbered in the year it is issued
    assert january == StatementReport(opened=1)
    assert [
        (s.number, s.cycle_start, s.subtotal, s.due_at) for s in await statements(sessions)
    ] == [
        ("INV-2026-000001", NOV_2026, 20050, datetime(2027, 1, 15, tzinfo=UTC)),
        ("INV-2027-000001", DEC_2026, 5000, datetime(2027, 2, 15, tzinfo=UTC)),
    ]


async def test_without_net_terms_a_statement_is_due_after_the_configured_days(
    api, users, sessions, jobs
) -> None:
    # given a credit line whose center has no net terms recorded
    line = await open_line(api, users)
    center_id = db_id_of(line.center.id, "BusinessCenter")
    async with sessions() as session:
        no_terms = update(BusinessCenter).where(BusinessCenter.id == center_id)
        await session.execute(no_terms.values(credit_line_net_terms_days=None))
        await session.commit()
    await spend(sessions, line.wallet_id, 1000, datetime(2026, 11, 20, tzinfo=UTC))

    # when November closes
    await close_monthly_invoices_job(jobs, DEC_2026)

    # then it is due after BillingConfig.days_until_due (30)
    [statement] = await statements(sessions)
    assert statement.due_at == DEC_2026 + timedelta(days=jobs["billing"].days_until_due)
    assert statement.due_at == datetime(2026, 12, 31, tzinfo=UTC)


async def test_two_runs_at_once_and_a_rerun_open_one_statement_per_center_and_month(
    api, users, sessions, jobs
) -> None:
    # given two centers that used their credit lines in October and November
    first = await open_line(api, users, "First")
    second = await open_line(api, users, "Second")
    for line in (first, second):
        await spend(sessions, line.wallet_id, 3000, datetime(2026, 10, 10, tzinfo=UTC))
        await spend(sessions, line.wallet_id, 4000, datetime(2026, 11, 10, tzinfo=UTC))

    # when two workers close the months at the same instant, and a third run follows
    runs = await asyncio.gather(
        close_monthly_invoices_job(jobs, DEC_2026), close_monthly_invoices_job(jobs, DEC_2026)
    )
    rerun = await close_monthly_invoices_job(jobs, DEC_2026 + timedelta(hours=1))

    # then each center has exactly one statement per month
    assert sum(run.opened for run in runs) == 4
    assert [run.failed for run in runs] == [0, 0]
    assert (rerun, str(rerun)) == (StatementReport(), "no credit-line statements due")
    found = sorted(
        (s.business_center_id, s.cycle_start, s.subtotal) for s in await statements(sessions)
    )
    first_id, second_id = (db_id_of(line.center.id, "BusinessCenter") for line in (first, second))
    october = datetime(2026, 10, 1, tzinfo=UTC)
    assert found == [
        (first_id, october, 3000),
        (first_id, NOV_2026, 4000),
        (second_id, october, 3000),
        (second_id, NOV_2026, 4000),
    ]
    numbers = sorted(s.number for s in await statements(sessions))
    assert numbers == [f"INV-2026-00000{n}" for n in range(1, 5)]


async def test_months_without_credit_line_spend_or_long_past_get_no_statement(
    api, users, sessions, jobs
) -> None:
    # given November spend paid from cash only, spend from the credit line 13 months
    # before December, and spend in the month that has not ended yet
    line = await open_line(api, users)
    await users.fund(line.center.wallet_id, "100.00")
    await spend(sessions, line.wallet_id, 5000, datetime(2026, 11, 5, tzinfo=UTC), AccountKind.CASH)
    await spend(sessions, line.wallet_id, 700, datetime(2025, 11, 30, tzinfo=UTC))
    await spend(sessions, line.wallet_id, 900, datetime(2026, 12, 1, 0, 5, tzinfo=UTC))

    # when the job runs as November ends
    report = await close_monthly_invoices_job(jobs, DEC_2026 + timedelta(minutes=10))

    # then nothing is billed
    assert report == StatementReport()
    assert await statements(sessions) == []


async def test_paying_the_statement_restores_the_credit_line_once(
    api, users, sessions, jobs, webhooks
) -> None:
    # given a November statement of 300.00 and 100.00 more used in December
    line = await open_line(api, users)
    await spend(sessions, line.wallet_id, 30000, datetime(2026, 11, 15, tzinfo=UTC))
    await close_monthly_invoices_job(jobs, DEC_2026)
    await spend(sessions, line.wallet_id, 10000, datetime(2026, 12, 2, tzinfo=UTC))
    assert await used(api, line) == "400.00"
    [statement] = await statements(sessions)
    assert statement.payment_reference is not None

    # when the customer pays it at the provider
    paid = await webhooks.pay(statement.payment_reference)

    # then the credit line has 300.00 back: 100.00 remains in use
    assert paid.json() == {"received": True, "outcome": "PROCESSED"}
    assert await used(api, line) == "100.00"
    expected = [
        {
            "kind": "CREDIT_LINE_REPAYMENT",
            "bucket": "CREDIT_LINE",
            "amount": {"amount": "300.00"},
            "balanceAfter": {"amount": "-100.00"},
            "invoice": {"number": "INV-2026-000001", "kind": "CREDIT_LINE_CYCLE", "status": "PAID"},
        }
    ]
    assert await repayments(api, line) == expected

    # when the same event is delivered again, and another paid event for it arrives
    replayed = await webhooks.post(webhooks.payload(
        await webhooks.sandbox.retrieve_invoice(statement.payment_reference), "invoice.paid", "evt_test_1"
    ))  # fmt: skip
    again = await webhooks.send(statement.payment_reference, "invoice.paid", "evt_other")

    # then nothing changes: one repayment, 100.00 in use, the invoice paid and unflagged
    assert replayed.json()["outcome"] == "DUPLICATE"
    assert again.json()["outcome"] == "PROCESSED"
    assert await used(api, line) == "100.00"
    assert await repayments(api, line) == expected
    [settled] = await statements(sessions)
    assert (settled.status, settled.flag_reason) == ("PAID", None)
    assert settled.paid_at is not None


async def test_a_statement_paid_when_less_is_in_use_restores_that_and_is_flagged(
    api, users, sessions, jobs, webhooks
) -> None:
    # given a 300.00 statement, and finance crediting 250.00 back to the line meanwhile
    line = await open_line(api, users)
    await spend(sessions, line.wallet_id, 30000, datetime(2026, 11, 15, tzinfo=UTC))
    await close_monthly_invoices_job(jobs, DEC_2026)
    async with sessions() as session:
        await credit_from_platform(
            session,
            PlatformCredit(
                line.wallet_id,
                AccountKind.CREDIT_LINE,
                AccountKind.PAYMENTS_CLEARING,
                Money(25000, Currency.USD),
                TransactionKind.ADJUSTMENT,
                "paid by wire",
            ),
        )
        await session.commit()
    assert await used(api, line) == "50.00"
    [statement] = await statements(sessions)
    assert statement.payment_reference is not None

    # when the statement is paid in full
    await webhooks.pay(statement.payment_reference)

    # then only the 50.00 in use is restored, and finance sees the 250.00 overpaid
    assert await used(api, line) == "0.00"
    assert [r["amount"]["amount"] for r in await repayments(api, line)] == ["50.00"]
    [settled] = await statements(sessions)
    assert settled.status == "PAID"
    assert settled.flag_reason == (
        "paid 300.00 USD for a credit line with 50.00 USD in use: "
        "250.00 USD not restored, to refund or credit"
    )


async def test_a_voided_statement_restores_nothing_and_is_not_opened_again(
    api, users, sessions, jobs, webhooks
) -> None:
    # given a November statement, voided at the provider
    line = await open_line(api, users)
    await spend(sessions, line.wallet_id, 30000, datetime(2026, 11, 15, tzinfo=UTC))
    await close_monthly_invoices_job(jobs, DEC_2026)
    [statement] = await statements(sessions)
    assert statement.payment_reference is not None
    await webhooks.sandbox.void_invoice(statement.payment_reference, "test:void")

    # when the void arrives, and the job runs again
    voided = await webhooks.send(statement.payment_reference, "invoice.voided")
    rerun = await close_monthly_invoices_job(jobs, DEC_2026 + timedelta(hours=1))

    # then the statement is void, the line still in use, and November is not billed twice
    assert voided.json()["outcome"] == "PROCESSED"
    assert rerun == StatementReport()
    assert [(s.status, s.cycle_start) for s in await statements(sessions)] == [("VOID", NOV_2026)]
    assert await used(api, line) == "300.00"
    assert await repayments(api, line) == []


async def test_a_statement_the_provider_did_not_take_is_issued_by_issue_pending_invoices(
    api, users, sessions, jobs, sandbox
) -> None:
    # given a provider outage while November closes
    line = await open_line(api, users)
    await spend(sessions, line.wallet_id, 30000, datetime(2026, 11, 15, tzinfo=UTC))
    sandbox.fail_next(1)
    report = await close_monthly_invoices_job(jobs, DEC_2026)
    assert report == StatementReport(opened=1, not_issued=1)
    assert str(report) == (
        "opened 1 credit-line statement (1 not issued yet: issue-pending-invoices retries)"
    )
    [statement] = await statements(sessions)
    assert (statement.status, statement.payment_reference) == ("OPEN", None)

    # when issue-pending-invoices runs after its grace period
    issued = await issue_pending_invoices_job(jobs, clock.now() + timedelta(minutes=5))

    # then the statement is at the provider, for its amount
    assert (issued.issued, issued.failed) == (1, 0)
    [statement] = await statements(sessions)
    assert statement.payment_reference is not None
    at_provider = await sandbox.retrieve_invoice(statement.payment_reference)
    assert (at_provider.amount_due, at_provider.currency.upper()) == (30000, "USD")


async def test_jobs_run_closes_the_months_from_the_command_line(
    api,
    users,
    sessions,
    database_url: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given November spend from a credit line
    line = await open_line(api, users)
    await spend(sessions, line.wallet_id, 30000, datetime(2026, 11, 15, tzinfo=UTC))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    now = "2026-12-01T00:10:00+00:00"

    # when an operator runs the job by hand, twice
    first = await asyncio.to_thread(main, ["jobs", "run", "close-monthly-invoices", "--now", now])
    second = await asyncio.to_thread(main, ["jobs", "run", "close-monthly-invoices", "--now", now])

    # then the first opens the statement and the second finds nothing due
    assert (first, second) == (0, 0)
    assert capsys.readouterr().out.splitlines() == [
        f"close-monthly-invoices at {now}: opened 1 credit-line statement",
        f"close-monthly-invoices at {now}: no credit-line statements due",
    ]
    [statement] = await statements(sessions)
    assert (statement.subtotal, statement.cycle_start) == (30000, NOV_2026)
    assert statement.payment_reference is not None
    async with sessions() as session:
        lines = await billing_repo.lines_by_invoice(session, [statement.id])
        entries = await session.scalar(select(func.count()).select_from(LedgerEntry))
    assert lines[statement.id] == [("Credit line usage, November 2026", 30000)]
    assert entries == 1
