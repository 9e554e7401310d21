"""The one clock: real time, or the instant ADLEDGER_NOW names, ticking, the same in every
process of a run; a bad setting is one clear line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from adledger import clock

REAL = datetime(2026, 12, 6, 20, 45, tzinfo=UTC)
NEW_YEARS_EVE = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
LEAP_DAY = datetime(2028, 2, 29, 12, tzinfo=UTC)


def _child_now(env: dict[str, str]) -> datetime:
    """What a process started with `env` reads from the clock."""
    out = subprocess.run(
        [sys.executable, "-c", "from adledger import clock; print(clock.now().isoformat())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return datetime.fromisoformat(out.strip())


def test_a_bare_instant_is_the_clock_at_the_moment_it_is_read() -> None:
    setting = clock.parse("2026-12-31T23:30:00Z", REAL)
    assert (setting.instant, setting.anchor) == (NEW_YEARS_EVE, REAL)
    assert setting.offset == NEW_YEARS_EVE - REAL
    assert setting.pinned() == "2026-12-31T23:30:00+00:00@2026-12-06T20:45:00+00:00"


def test_a_pinned_setting_keeps_its_anchor_whenever_it_is_read() -> None:
    pinned = "2028-02-29T12:00:00+00:00@2026-12-06T20:45:00+00:00"
    later = REAL + timedelta(hours=3)
    assert clock.parse(pinned, later) == clock.Setting(LEAP_DAY, REAL)


def test_an_instant_in_another_offset_is_told_in_utc() -> None:
    setting = clock.parse("2027-01-01T01:30:00+02:00", REAL)
    assert setting.instant == NEW_YEARS_EVE
    assert setting.instant.tzinfo is UTC


def test_the_moved_clock_ticks_on_and_the_run_setting_comes_back(time_travel) -> None:
    # given the clock moved to a leap day
    before = clock.setting()
    moved = time_travel.to(LEAP_DAY)
    # then it reads that day, ticks on, and tells its shift from real time
    assert LEAP_DAY <= moved < LEAP_DAY + timedelta(seconds=5)
    assert clock.now() >= moved
    assert abs(clock.offset() - (LEAP_DAY - datetime.now(UTC))) < timedelta(seconds=5)
    assert clock.is_set()
    # and a step forward crosses into March
    assert time_travel.by(timedelta(days=1)).date().isoformat() == "2028-03-01"
    # when it is put back
    clock.restore(before)
    assert clock.setting() == before


def test_a_process_started_after_a_move_reads_the_same_clock(time_travel) -> None:
    # given the clock moved to the last half hour of a year
    time_travel.to(NEW_YEARS_EVE)
    # when a child process reads its clock (it inherits the pinned setting)
    child = _child_now(dict(os.environ))
    # then it reads the same instant, give or take its start-up
    assert os.environ[clock.ENV].startswith("2026-12-31T23:30:00")
    assert NEW_YEARS_EVE <= child < clock.now() + timedelta(seconds=1)


def test_a_process_with_no_setting_reads_real_time() -> None:
    env = {k: v for k, v in os.environ.items() if k != clock.ENV}
    before = datetime.now(UTC)
    assert before <= _child_now(env) <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("garbage", "'garbage' is not an ISO 8601 instant"),
        ("2026-12-31T23:30:00", "give '2026-12-31T23:30:00' a UTC offset, e.g. Z or +00:00"),
        ("0001-01-01T00:00:00+14:00", "the instant is out of range"),
        ("9999-12-31T23:59:59-14:00", "the instant is out of range"),
        ("9999-12-31T00:00:00Z", "the instant must be from 1971-01-01 to before 9000-01-01"),
        ("1900-01-01T00:00:00Z", "the instant must be from 1971-01-01 to before 9000-01-01"),
        ("2026-12-31T23:30:00Z@yesterday", "'yesterday' is not an ISO 8601 instant"),
    ],
)
def test_a_bad_setting_says_what_is_wrong(raw: str, problem: str) -> None:
    with pytest.raises(clock.ClockSettingError) as raised:
        clock.parse(raw, REAL)
    assert str(raised.value) == f"ADLEDGER_NOW: {problem}"


def test_a_command_under_a_bad_setting_fails_in_one_line() -> None:
    # given ADLEDGER_NOW set to an instant that does not exist
    env = {**os.environ, clock.ENV: "2026-02-30T00:00:00Z"}
    # when any command starts
    done = subprocess.run(
        [sys.executable, "-m", "adledger.app.cli", "export-schema"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    # then it stops with one line naming the variable, and prints nothing else
    assert done.returncode == 2
    assert (
        done.stderr == "adledger: ADLEDGER_NOW: '2026-02-30T00:00:00Z' is not an ISO 8601 instant\n"
    )
    assert done.stdout == ""
