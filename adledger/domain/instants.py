"""Instants given to the API, made UTC before any rule looks at them.

An aware datetime can hold an instant that UTC cannot (0001-01-01T00:00+14:00 is in year 0
once converted, 9999-12-31T23:00-14:00 in year 10000): comparing it, or adding a day to
it, raises OverflowError. And a year far from ours is no date anything here could mean,
yet near the ends of the calendar the arithmetic of the rules (a flight's settlement
window, a budget period) would overflow. So every instant is converted once, at the edge,
and must lie in [EARLIEST, LATEST); otherwise it is INVALID_INPUT naming its field.
"""

from __future__ import annotations

from datetime import UTC, datetime

from adledger.domain.errors import InvalidInput

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
"""Exclusive: the last instant accepted is in 2999."""


def utc_instant(value: datetime, field: tuple[str, ...]) -> datetime:
    """`value` in UTC, or INVALID_INPUT naming `field` (its last part names it in the
    message) when it has no UTC offset, cannot be represented in UTC or is out of range."""
    name = field[-1]
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} needs a UTC offset", field)
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{name} is not an instant UTC can represent", field) from None
    if not EARLIEST <= utc < LATEST:
        raise InvalidInput(
            f"{name} must lie between {EARLIEST.year} and {LATEST.year - 1} (UTC)", field
        )
    return utc
