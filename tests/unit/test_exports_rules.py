"""What an export may ask for (one scope, a range of at most 13 months), and how its
download link is signed: any parameter changed, added, removed or repeated breaks it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from adledger.domain.errors import InvalidInput
from adledger.domain.exports import (
    ExportKind,
    add_months,
    check_range,
    check_scope,
    signature,
    signature_matches,
)

JAN_31 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
SECRET = b"s" * 32


@pytest.mark.parametrize(
    ("months", "expected"),
    [
        (1, datetime(2026, 2, 28, 12, 0, tzinfo=UTC)),
        (13, datetime(2027, 2, 28, 12, 0, tzinfo=UTC)),
        (25, datetime(2028, 2, 29, 12, 0, tzinfo=UTC)),
        (11, datetime(2026, 12, 31, 12, 0, tzinfo=UTC)),
    ],
)
def test_months_are_added_on_the_calendar(months, expected) -> None:
    assert add_months(JAN_31, months) == expected


def test_a_range_of_thirteen_months_is_taken_and_made_utc() -> None:
    paris = timezone(timedelta(hours=1))
    start = datetime(2026, 1, 1, 1, 0, tzinfo=paris)

    taken = check_range(start, datetime(2027, 2, 1, 1, 0, tzinfo=paris), ("input",))

    assert taken == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))
    assert taken[0].tzinfo is UTC


@pytest.mark.parametrize(
    ("start", "end", "field", "words"),
    [
        (JAN_31, JAN_31, "to", "to must be after from"),
        (JAN_31, JAN_31 - timedelta(seconds=1), "to", "to must be after from"),
        (JAN_31, add_months(JAN_31, 13) + timedelta(microseconds=1), "to", "at most 13 months"),
        (datetime(2026, 1, 1), JAN_31, "from", "from needs a UTC offset"),
        (JAN_31, datetime(2026, 3, 1), "to", "to needs a UTC offset"),
        (datetime(1800, 1, 1, tzinfo=UTC), JAN_31, "from", "between 1900 and 2999"),
    ],
)
def test_a_bad_range_is_invalid_input_naming_its_field(start, end, field, words) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_range(start, end, ("input",))

    assert refused.value.field == ("input", field)
    assert words in refused.value.message


@pytest.mark.parametrize(
    ("kind", "wallet", "center", "field"),
    [
        (ExportKind.TRANSACTIONS, True, True, "businessCenterId"),
        (ExportKind.TRANSACTIONS, False, False, "walletId"),
        (ExportKind.INVOICES, True, False, "walletId"),
        (ExportKind.INVOICES, True, True, "walletId"),
        (ExportKind.INVOICES, False, False, "businessCenterId"),
    ],
)
def test_an_export_names_exactly_one_scope(kind, wallet, center, field) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_scope(kind, wallet, center, ())

    assert refused.value.field == (field,)


@pytest.mark.parametrize(
    ("kind", "wallet", "center"),
    [
        (ExportKind.TRANSACTIONS, True, False),
        (ExportKind.TRANSACTIONS, False, True),
        (ExportKind.INVOICES, False, True),
    ],
)
def test_one_scope_is_taken(kind, wallet, center) -> None:
    check_scope(kind, wallet, center, ())


PARAMS = [
    ("walletId", "V2FsbGV0OjE="),
    ("from", "2026-11-01T00:00:00.000000Z"),
    ("to", "2026-12-01T00:00:00.000000Z"),
    ("user", "7"),
    ("expires", "1795000000"),
]


def _signed(params: list[tuple[str, str]] = PARAMS) -> list[tuple[str, str]]:
    return [*params, ("sig", signature(SECRET, "transactions", params))]


def test_a_signed_link_matches_in_any_order_of_its_parameters() -> None:
    link = _signed()

    assert signature_matches(SECRET, "transactions", link)
    assert signature_matches(SECRET, "transactions", list(reversed(link)))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: [(n, "8" if n == "user" else v) for n, v in p],
        lambda p: [(n, "1895000000" if n == "expires" else v) for n, v in p],
        lambda p: [(n, "2027-12-01T00:00:00.000000Z" if n == "to" else v) for n, v in p],
        lambda p: [(n, "V2FsbGV0OjI=" if n == "walletId" else v) for n, v in p],
        lambda p: [(n, v) for n, v in p if n != "from"],
        lambda p: [*p, ("from", "2026-10-01T00:00:00.000000Z")],
        lambda p: [*p, ("extra", "1")],
        lambda p: [*p, p[-1]],
        lambda p: [(n, v.upper() if n == "sig" else v) for n, v in p],
        lambda p: [(n, "é" * 64 if n == "sig" else v) for n, v in p],
    ],
    ids=[
        "user",
        "expiry",
        "to",
        "wallet",
        "a parameter removed",
        "a parameter repeated",
        "a parameter added",
        "the signature repeated",
        "the signature changed",
        "a signature that is not ASCII",
    ],
)
def test_a_tampered_link_does_not_match(tamper) -> None:
    assert not signature_matches(SECRET, "transactions", tamper(_signed()))


def test_a_link_does_not_match_another_kind_or_secret() -> None:
    link = _signed()

    assert not signature_matches(SECRET, "invoices", link)
    assert not signature_matches(b"t" * 32, "transactions", link)
    assert not signature_matches(SECRET, "transactions", PARAMS)
