"""CSV exports as pure rules: what may be asked (one scope, a bounded range), what each row
says, how a cell is made safe for a spreadsheet, and how a download link is signed.

A link is signed over every parameter it carries (and the kind, in its path): the
canonical message is the parameters sorted and URL-encoded, so a parameter changed,
added, removed or repeated changes the message, and the signature no longer matches.
"""

from __future__ import annotations

import calendar
import enum
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlencode

from adledger.domain.currency import Currency, format_minor
from adledger.domain.errors import InvalidInput
from adledger.domain.ids import to_global_id
from adledger.domain.instants import utc_instant


class ExportKind(enum.StrEnum):
    """The value is the file's name in the download path (/exports/<value>.csv)."""

    TRANSACTIONS = "transactions"
    INVOICES = "invoices"


MAX_RANGE_MONTHS = 13
LINK_LIFETIME = timedelta(minutes=10)
EXPORTS_PER_MINUTE = 10

Field = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """One export: its kind, one scope (a wallet, or every wallet of a business center),
    and the instants [start, end) in UTC."""

    kind: ExportKind
    wallet_id: int | None
    center_id: int | None
    start: datetime
    end: datetime


def check_scope(kind: ExportKind, wallet_given: bool, center_given: bool, prefix: Field) -> None:
    """Exactly one of walletId and businessCenterId; invoices belong to a center only."""
    if kind is ExportKind.INVOICES and wallet_given:
        raise InvalidInput(
            "invoices are exported per business center: give businessCenterId, not walletId",
            (*prefix, "walletId"),
        )
    if wallet_given and center_given:
        raise InvalidInput(
            "give walletId or businessCenterId, not both", (*prefix, "businessCenterId")
        )
    if not wallet_given and not center_given:
        field = "businessCenterId" if kind is ExportKind.INVOICES else "walletId"
        raise InvalidInput(f"give {_one_of(kind)}", (*prefix, field))


def _one_of(kind: ExportKind) -> str:
    if kind is ExportKind.INVOICES:
        return "businessCenterId"
    return "walletId (one wallet) or businessCenterId (every wallet of the center)"


def check_range(start: datetime, end: datetime, prefix: Field) -> tuple[datetime, datetime]:
    """[start, end) in UTC: start before end, at most MAX_RANGE_MONTHS calendar months."""
    start = utc_instant(start, (*prefix, "from"))
    end = utc_instant(end, (*prefix, "to"))
    if end <= start:
        raise InvalidInput("to must be after from", (*prefix, "to"))
    if end > add_months(start, MAX_RANGE_MONTHS):
        raise InvalidInput(
            f"an export covers at most {MAX_RANGE_MONTHS} months: to is too far after from",
            (*prefix, "to"),
        )
    return start, end


def add_months(moment: datetime, months: int) -> datetime:
    """The same time of day `months` calendar months later, on the month's last day when
    the day does not exist there (Jan 31 + 1 month = Feb 28 or 29)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# -- cells --------------------------------------------------------------------------------

# A spreadsheet evaluates a cell starting with one of these as a formula (OWASP, "CSV
# Injection"): `=HYPERLINK("http://evil", "x")` in a description would become a link.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str) -> str:
    """A text cell as a spreadsheet shows it and never runs: one starting like a formula
    gets a leading single quote, which makes it text. Our own amounts never pass here
    (a negative amount keeps its minus sign and stays a number)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC, always to the microsecond: 2026-11-23T10:00:00.000000Z."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@lru_cache(maxsize=4096)
def global_id(type_name: str, db_id: int) -> str:
    """Cached: a wallet's id repeats on each of its rows."""
    return to_global_id(type_name, db_id)


def _optional_id(type_name: str, db_id: int | None) -> str:
    return "" if db_id is None else global_id(type_name, db_id)


def _optional_time(moment: datetime | None) -> str:
    return "" if moment is None else utc_text(moment)


def amount_text(minor: int, currency: str) -> str:
    """A signed decimal in the currency's exponent: -1250 USD -> "-12.50", JPY "-1250"."""
    return format_minor(minor, Currency(currency))


TRANSACTION_HEADER = (
    "time",
    "wallet_id",
    "bucket",
    "kind",
    "description",
    "campaign_id",
    "invoice_id",
    "amount",
    "currency",
    "balance_after",
)


@dataclass(frozen=True, slots=True)
class TransactionLine:
    """A posting on one of a wallet's buckets, as WalletTransaction shows it."""

    posting_id: int
    created_at: datetime
    wallet_id: int
    bucket: str  # the ledger account's kind: cash, vouchers, credit_line
    kind: str
    description: str
    campaign_id: int | None
    invoice_id: int | None
    amount: int
    currency: str
    balance_after: int


def transaction_cells(line: TransactionLine) -> tuple[str, ...]:
    return (
        utc_text(line.created_at),
        global_id("Wallet", line.wallet_id),
        line.bucket.upper(),
        line.kind,
        safe_text(line.description),
        _optional_id("Campaign", line.campaign_id),
        _optional_id("Invoice", line.invoice_id),
        amount_text(line.amount, line.currency),
        line.currency,
        amount_text(line.balance_after, line.currency),
    )


INVOICE_HEADER = (
    "invoice_id",
    "number",
    "kind",
    "status",
    "created_at",
    "issued_at",
    "due_at",
    "paid_at",
    "currency",
    "subtotal",
    "discount",
    "amount_due",
    "wallet_id",
    "campaign_id",
    "campaign_name",
    "installment_number",
    "installment_count",
    "payment_reference",
)


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    invoice_id: int
    number: str
    kind: str
    status: str
    created_at: datetime
    issue_on: datetime
    due_at: datetime | None
    paid_at: datetime | None
    currency: str
    subtotal: int
    discount: int
    wallet_id: int | None
    campaign_id: int | None
    campaign_name: str | None
    installment_number: int | None
    installment_count: int | None
    payment_reference: str | None


def invoice_cells(line: InvoiceLine) -> tuple[str, ...]:
    return (
        global_id("Invoice", line.invoice_id),
        safe_text(line.number),
        line.kind,
        line.status,
        utc_text(line.created_at),
        utc_text(line.issue_on),
        _optional_time(line.due_at),
        _optional_time(line.paid_at),
        line.currency,
        amount_text(line.subtotal, line.currency),
        amount_text(line.discount, line.currency),
        amount_text(line.subtotal - line.discount, line.currency),
        _optional_id("Wallet", line.wallet_id),
        _optional_id("Campaign", line.campaign_id),
        safe_text(line.campaign_name or ""),
        "" if line.installment_number is None else str(line.installment_number),
        "" if line.installment_count is None else str(line.installment_count),
        safe_text(line.payment_reference or ""),
    )


# -- signed links -------------------------------------------------------------------------

SIGNATURE_PARAMETER = "sig"
_DOMAIN = "adledger-export-v1"  # another use of the same secret never signs this message


def _message(kind: str, params: Iterable[tuple[str, str]]) -> bytes:
    return f"{_DOMAIN}\n{kind}\n{urlencode(sorted(params))}".encode()


def signature(secret: bytes, kind: str, params: Iterable[tuple[str, str]]) -> str:
    """HMAC-SHA256, in hex, of the kind and every parameter but the signature."""
    return hmac.new(secret, _message(kind, params), hashlib.sha256).hexdigest()


def signature_matches(secret: bytes, kind: str, params: Iterable[tuple[str, str]]) -> bool:
    """Whether the parameters (the signature among them, once) are what was signed."""
    pairs = list(params)
    given = [value for name, value in pairs if name == SIGNATURE_PARAMETER]
    if len(given) != 1:
        return False
    rest = [(name, value) for name, value in pairs if name != SIGNATURE_PARAMETER]
    # As bytes: compare_digest refuses str holding anything but ASCII, which a URL may.
    expected = signature(secret, kind, rest).encode()
    return hmac.compare_digest(expected, given[0].encode("utf-8", "replace"))
