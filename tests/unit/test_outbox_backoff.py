"""The outbox's backoff grows, then stays at its cap, however often an effect fails."""

from __future__ import annotations

from datetime import timedelta

from adledger.services.effects import MAX_BACKOFF, backoff


def test_the_backoff_doubles_from_fifteen_seconds() -> None:
    assert [backoff(n) for n in (0, 1, 2, 3)] == [
        timedelta(seconds=15),
        timedelta(seconds=15),
        timedelta(seconds=30),
        timedelta(minutes=1),
    ]


def test_an_effect_failing_for_days_waits_the_cap_not_an_overflow() -> None:
    assert [backoff(n) for n in (9, 50, 10_000)] == [MAX_BACKOFF] * 3
