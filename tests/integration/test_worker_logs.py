"""The worker logs a job line only when the job did something (issue 24, seen 5): in `make
dev` its per-tick lines (531 in 5.5 minutes) pushed the banner off the screen."""

from __future__ import annotations

import itertools
import logging
import warnings
from typing import cast

import pytest
from arq import create_pool, func
from arq.typing import WorkerSettingsType
from arq.worker import create_worker

from adledger import clock
from adledger.app.settings import Settings
from adledger.app.worker import WorkerSettings, redis_settings_for
from adledger.jobs.events import prune_events_job
from tests.helpers import Api, UserFactory, create_center

pytestmark = pytest.mark.usefixtures("db")

_TICKS = itertools.count()  # arq runs a job id once: each tick gets its own

# What a worker says once when it starts and stops: not per tick.
ONCE = ("Starting worker for", "redis_version=", "PAYMENT_PROVIDER=sandbox", "shutdown on ")


async def _run_ticks(database_url: str, redis_url: str, names: list[str], ticks: int) -> None:
    """Each cron job enqueued as its tick would be, `ticks` times, run by a real arq worker."""
    pool = await create_pool(redis_settings_for(redis_url))
    for _ in range(ticks):
        tick = next(_TICKS)
        for name in names:
            await pool.enqueue_job(name, _job_id=f"cron:{name}:test{tick}")
    await pool.aclose()
    settings = Settings(database_url=database_url, redis_url=redis_url)
    worker = create_worker(
        cast("WorkerSettingsType", WorkerSettings),
        # The cron jobs' own coroutines, run only when enqueued here (no clock ticks in tests).
        functions=[func(job.coroutine, name=job.name) for job in WorkerSettings.cron_jobs],
        cron_jobs=[],
        redis_settings=redis_settings_for(redis_url),
        ctx={"settings": settings},
        burst=True,
        handle_signals=False,
        poll_delay=0.01,
    )
    try:
        await worker.main()
    finally:
        with warnings.catch_warnings():  # arq's close calls redis's deprecated close()
            warnings.simplefilter("ignore", DeprecationWarning)
            await worker.close()
    assert worker.jobs_complete >= len(names) * ticks and worker.jobs_failed == 0


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.INFO and not r.getMessage().startswith(ONCE)
    ]


async def test_ticks_with_nothing_to_do_write_no_info_line(
    database_url: str, redis_url: str, sessions, caplog: pytest.LogCaptureFixture
) -> None:
    # given an empty database: no job has anything to do (not even a month of partner
    # events past their retention, made by another test's clock)
    await prune_events_job({"sessions": sessions}, clock.now())
    names = [job.name for job in WorkerSettings.cron_jobs]
    caplog.set_level(logging.INFO)
    # when every cron job runs three ticks
    await _run_ticks(database_url, redis_url, names, ticks=3)
    # then the log holds no line about them
    assert _lines(caplog) == []


async def test_a_tick_that_did_something_writes_one_line(
    api: Api, users: UserFactory, database_url: str, redis_url: str, caplog
) -> None:
    # given postings the hourly ledger check has not read yet
    center = await create_center(api, await users.create())
    await users.fund(center.wallet_id, "25.00")
    caplog.set_level(logging.INFO)
    caplog.clear()
    # when the check runs
    await _run_ticks(database_url, redis_url, ["verify_ledger_hourly"], ticks=1)
    # then one line says what it did
    (line,) = _lines(caplog)
    assert line.startswith("adledger.jobs.ledger: ledger check at ")
    assert "ledger verified: every invariant holds;" in line
