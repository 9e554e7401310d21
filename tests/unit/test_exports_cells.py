"""The cells of a CSV export: text a spreadsheet never runs, amounts that stay numbers in
their currency's exponent, times in UTC, and RFC 4180 quoting that round-trips."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from adledger.domain.exports import (
    TRANSACTION_HEADER,
    InvoiceLine,
    TransactionLine,
    amount_text,
    invoice_cells,
    safe_text,
    transaction_cells,
    utc_text,
)
from adledger.domain.ids import to_global_id

AT = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Top-up of 10.00", "Top-up of 10.00"),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("", ""),
    ],
)
def test_a_text_cell_that_starts_like_a_formula_gets_a_leading_quote(text, cell) -> None:
    assert safe_text(text) == cell


@pytest.mark.parametrize(
    ("minor", "currency", "written"),
    [
        (-1250, "USD", "-12.50"),
        (1250, "USD", "12.50"),
        (-5, "EUR", "-0.05"),
        (0, "GBP", "0.00"),
        (-1250, "JPY", "-1250"),
        (12345, "KWD", "12.345"),
        (-1, "KWD", "-0.001"),
    ],
)
def test_an_amount_is_a_plain_signed_decimal_in_its_currency(minor, currency, written) -> None:
    assert amount_text(minor, currency) == written


def test_a_time_is_written_in_utc_to_the_microsecond() -> None:
    paris = timezone(timedelta(hours=1))

    assert utc_text(AT) == "2026-11-23T10:00:00.123456Z"
    assert utc_text(datetime(2026, 11, 23, 11, 0, tzinfo=paris)) == "2026-11-23T10:00:00.000000Z"


def _line(description: str, amount: int = -1250, **changes: object) -> TransactionLine:
    values: dict[str, object] = {
        "posting_id": 7,
        "created_at": AT,
        "wallet_id": 42,
        "bucket": "credit_line",
        "kind": "SPEND",
        "description": description,
        "campaign_id": 9,
        "invoice_id": None,
        "amount": amount,
        "currency": "USD",
        "balance_after": -30000,
    }
    values.update(changes)
    return TransactionLine(**values)  # type: ignore[arg-type]


def test_a_transaction_row_says_what_the_api_says_of_it() -> None:
    cells = transaction_cells(_line("Spend of Spring sale"))

    assert dict(zip(TRANSACTION_HEADER, cells, strict=True)) == {
        "time": "2026-11-23T10:00:00.123456Z",
        "wallet_id": to_global_id("Wallet", 42),
        "bucket": "CREDIT_LINE",
        "kind": "SPEND",
        "description": "Spend of Spring sale",
        "campaign_id": to_global_id("Campaign", 9),
        "invoice_id": "",
        "amount": "-12.50",
        "currency": "USD",
        "balance_after": "-300.00",
    }


def _written(rows: list[tuple[str, ...]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()


def test_a_hyperlink_in_a_description_comes_out_inert_and_quoted() -> None:
    cells = transaction_cells(_line('=HYPERLINK("http://evil","x")'))

    written = _written([cells])

    assert '"\'=HYPERLINK(""http://evil"",""x"")"' in written
    [row] = csv.reader(io.StringIO(written, newline=""))
    assert row[4] == '\'=HYPERLINK("http://evil","x")'


@pytest.mark.parametrize(
    "description",
    [
        "comma, inside",
        'a "quoted" word',
        "two\r\nlines",
        "line\nfeed",
        "carriage\rreturn",
        "é ü 中",
    ],
)
def test_any_description_round_trips_through_a_csv_reader(description) -> None:
    cells = transaction_cells(_line(description))

    written = _written([TRANSACTION_HEADER, cells])
    read = list(csv.reader(io.StringIO(written, newline="")))

    assert read == [list(TRANSACTION_HEADER), list(cells)]
    assert read[1][4] == description
    assert written.endswith("\r\n")


def test_a_negative_amount_keeps_its_sign_and_is_never_quoted() -> None:
    written = _written([transaction_cells(_line("x", amount=-1250))])

    assert ",-12.50,USD,-300.00\r\n" in written


def test_an_invoice_row_neutralises_its_texts_and_writes_its_amounts() -> None:
    line = InvoiceLine(
        invoice_id=3,
        number="INV-2026-000003",
        kind="CAMPAIGN_SHORTFALL",
        status="OPEN",
        created_at=AT,
        issue_on=AT,
        due_at=AT + timedelta(days=30),
        paid_at=None,
        currency="JPY",
        subtotal=5000,
        discount=1000,
        wallet_id=42,
        campaign_id=9,
        campaign_name="=cmd|' /C calc'!A0",
        installment_number=None,
        installment_count=None,
        payment_reference="in_sandbox_1",
    )

    cells = invoice_cells(line)

    assert cells == (
        to_global_id("Invoice", 3),
        "INV-2026-000003",
        "CAMPAIGN_SHORTFALL",
        "OPEN",
        "2026-11-23T10:00:00.123456Z",
        "2026-11-23T10:00:00.123456Z",
        "2026-12-23T10:00:00.123456Z",
        "",
        "JPY",
        "5000",
        "1000",
        "4000",
        to_global_id("Wallet", 42),
        to_global_id("Campaign", 9),
        "'=cmd|' /C calc'!A0",
        "",
        "",
        "in_sandbox_1",
    )
