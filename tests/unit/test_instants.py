"""Instants from the API are made UTC at the edge, or refused naming their field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from adledger.domain.errors import InvalidInput
from adledger.domain.instants import utc_instant

FIELD = ("input", "events", "3", "occurredAt")
PLUS_14 = timezone(timedelta(hours=14))
MINUS_14 = timezone(timedelta(hours=-14))


@pytest.mark.parametrize(
    ("given", "utc"),
    [
        (datetime(2026, 3, 1, 13, 30, tzinfo=PLUS_14), datetime(2026, 2, 28, 23, 30, tzinfo=UTC)),
        (datetime(1900, 1, 1, tzinfo=UTC), datetime(1900, 1, 1, tzinfo=UTC)),
        (datetime(1900, 1, 1, 14, tzinfo=PLUS_14), datetime(1900, 1, 1, tzinfo=UTC)),
        (datetime(2999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), None),
        (datetime(2999, 12, 31, 9, 59, tzinfo=MINUS_14), datetime(2999, 12, 31, 23, 59, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_an_instant_in_range_is_made_utc(given: datetime, utc: datetime | None) -> None:
    converted = utc_instant(given, FIELD)
    assert converted.tzinfo is UTC
    assert converted == (utc or given)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (datetime(2026, 3, 1), "occurredAt needs a UTC offset"),
        (datetime(1, 1, 1, tzinfo=PLUS_14), "occurredAt is not an instant UTC can represent"),
        (datetime(9999, 12, 31, 23, tzinfo=MINUS_14), "occurredAt is not an instant UTC can represent"),
        (datetime(1899, 12, 31, 23, 59, 59, tzinfo=UTC), "occurredAt must lie between 1900 and 2999 (UTC)"),
        (datetime(1900, 1, 1, 13, 59, tzinfo=PLUS_14), "occurredAt must lie between 1900 and 2999 (UTC)"),
        (datetime(3000, 1, 1, tzinfo=UTC), "occurredAt must lie between 1900 and 2999 (UTC)"),
        (datetime(2999, 12, 31, 10, tzinfo=MINUS_14), "occurredAt must lie between 1900 and 2999 (UTC)"),
    ],
)  # fmt: skip
def test_an_instant_out_of_range_is_invalid_input_naming_its_field(
    given: datetime, message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        utc_instant(given, FIELD)
    assert (refused.value.message, refused.value.field) == (message, FIELD)
