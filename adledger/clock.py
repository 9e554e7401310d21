"""The one clock (DESIGN §10): what time it is for every service, job and timestamp the
app writes. Services and jobs take `now` as an argument; the edges (requests, cron
wrappers, commands) and the rows' own `created_at` read it here, never the wall clock.

It is real time, unless `ADLEDGER_NOW` sets it to another instant for a test run or a
rehearsal: `ADLEDGER_NOW=2026-12-31T23:30:00Z` makes the clock read that instant when the
process starts, and tick on from there. So that every process of a run reads the same
clock, the setting is pinned at start to the real moment it was that instant
(`2026-12-31T23:30:00Z@2026-12-06T20:45:00.123456+00:00`), and written back to the
environment for the child processes to inherit. Tests move it with `travel_to`.

Transport timestamps (webhook signatures) and timeouts stay on real time: they are
checked against other parties' clocks, not against the business's.

Stdlib only: every layer imports it, the pure domain included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ENV = "ADLEDGER_NOW"
# The instants a setting may name: far enough from datetime's limits that the clock can
# tick, and every computation a job makes around `now` (a year ahead, a cycle back) fits.
EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class ClockSettingError(ValueError):
    """ADLEDGER_NOW does not name a usable instant."""


@dataclass(frozen=True, slots=True)
class Setting:
    """The clock read `instant` when real time read `anchor`; it ticks with real time."""

    instant: datetime
    anchor: datetime

    @property
    def offset(self) -> timedelta:
        return self.instant - self.anchor

    def pinned(self) -> str:
        return f"{self.instant.isoformat()}@{self.anchor.isoformat()}"


def now() -> datetime:
    """The current instant, aware, in UTC."""
    if _problem is not None:
        raise _problem
    return datetime.now(UTC) + _offset


def offset() -> timedelta:
    """How far the clock is from this host's real time (zero unless it was set)."""
    return _offset


def is_set() -> bool:
    """True when ADLEDGER_NOW is set (by the environment, or by a test moving the clock)."""
    return setting() is not None


def setting() -> str | None:
    """The pinned ADLEDGER_NOW in force, for a warning or a child process (None: real time)."""
    return os.environ.get(ENV) or None


def check() -> None:
    """Raise ClockSettingError if ADLEDGER_NOW is not usable (commands check at start)."""
    if _problem is not None:
        raise _problem


def travel_to(instant: datetime) -> None:
    """From now on the clock reads `instant`, and ticks on; processes started after this
    call read the same clock. For tests and rehearsals."""
    _set(Setting(_checked(instant, "the instant"), datetime.now(UTC)))


def travel_by(delta: timedelta) -> None:
    """Move the clock forward (or back, with a negative delta) by `delta`."""
    travel_to(now() + delta)


def restore(pinned: str | None) -> None:
    """Back to a setting `setting()` returned (None: real time)."""
    global _offset, _problem
    if pinned is None:
        os.environ.pop(ENV, None)
        _offset, _problem = timedelta(0), None
    else:
        _set(parse(pinned, datetime.now(UTC)))


def parse(raw: str, real_now: datetime) -> Setting:
    """`INSTANT` (it is that instant at `real_now`) or `INSTANT@ANCHOR` (pinned)."""
    instant_text, at, anchor_text = raw.strip().partition("@")
    instant = _checked(_instant(instant_text), "the instant")
    anchor = _checked(_instant(anchor_text), "the anchor") if at else real_now
    return Setting(instant, anchor)


def _instant(raw: str) -> datetime:
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        instant = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ClockSettingError(f"{ENV}: {raw!r} is not an ISO 8601 instant") from exc
    if instant.tzinfo is None:
        raise ClockSettingError(f"{ENV}: give {raw!r} a UTC offset, e.g. Z or +00:00")
    return instant


def in_utc(instant: datetime) -> datetime:
    """`instant` told in UTC, if the clock may read it (EARLIEST to before LATEST); else a
    ValueError saying why not, to follow the name of the field it came from."""
    if instant.tzinfo is None:
        raise ValueError("needs a UTC offset")
    try:
        utc = instant.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+14:00 is no instant in UTC
        raise ValueError("is out of range") from exc
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"must be from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d}")
    return utc


def _checked(instant: datetime, what: str) -> datetime:
    try:
        return in_utc(instant)
    except ValueError as exc:
        raise ClockSettingError(f"{ENV}: {what} {exc}") from exc


def _set(new: Setting) -> None:
    global _offset, _problem
    _offset, _problem = new.offset, None
    os.environ[ENV] = new.pinned()


def _from_environment() -> None:
    """Read (and pin) ADLEDGER_NOW once, when the process first imports the clock."""
    global _problem
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return
    try:
        _set(parse(raw, datetime.now(UTC)))
    except ClockSettingError as exc:
        _problem = exc


_offset = timedelta(0)
_problem: ClockSettingError | None = None
_from_environment()
