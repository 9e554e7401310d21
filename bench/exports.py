"""A CSV export of a million transactions over HTTP: how much the API process grows while it
streams the file, and how many rows a second it sends.

    python bench/exports.py [--rows 1000000] [--runs 2]

1. PostgreSQL and Redis as for `http_ratio.py`; the database `adledger_bench_exports` is
   recreated and migrated. One user, one business center, and on its wallet `--rows`
   transactions seeded in one set-based statement: each an entry of two postings (the
   wallet's cash and the platform's payments clearing account) summing to zero, a
   millisecond apart within the last hour, the running `balance_after` and the cash
   account's cached balance kept, so that `verify-ledger` holds (checked at the end).
2. Starts the API in a child process (uvicorn, as `adledger serve` runs it).
3. A warm-up export of a few rows, then `--runs` downloads of the whole wallet with the
   token (`GET /exports/transactions.csv`), read as fast as the client can. While each
   streams, the API process's VmRSS (/proc/<pid>/status) is sampled every 5 ms.
4. Prints, per run, the rows and bytes received, the seconds, rows/s, and the peak RSS
   growth over the RSS right before the download. The target is a growth under 50 MB;
   it is printed, never asserted on, and neither is the time: both depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import _stack
import httpx
from _stack import fresh_database, servers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adledger import clock
from adledger.domain.ledger import AccountKind
from adledger.domain.money import Currency
from adledger.schema.ids import to_global_id
from adledger.services import users
from adledger.services.actor import Actor
from adledger.services.business_centers import create_business_center
from adledger.services.verify import verify_ledger
from adledger.store import users as user_repo
from adledger.store import wallets as wallet_repo
from adledger.store.db import make_engine, make_sessionmaker
from adledger.store.ledger import platform_account_id

TARGET_MB = 50
SAMPLE_SECONDS = 0.005

# Set-based: every row of the series is an entry and its two postings, in one statement.
SEED = """
WITH seq AS MATERIALIZED (
  SELECT g, nextval(pg_get_serial_sequence('ledger_entries', 'id')) AS entry_id,
         CAST(:start AS timestamptz) + g * interval '1 millisecond' AS at,
         CAST(g % 997 + 1 AS bigint) AS amount
  FROM generate_series(1, CAST(:n AS integer)) AS g
), entries AS (
  INSERT INTO ledger_entries (id, operation, idempotency_key, description, created_at)
  SELECT entry_id, 'bench_export_seed', 'bench-export-seed:' || entry_id,
         'Seeded cash ' || g, at FROM seq
), cash_side AS (
  INSERT INTO ledger_postings (entry_id, account_id, amount, balance_after, kind, created_at)
  SELECT entry_id, :cash, amount, SUM(amount) OVER (ORDER BY g), 'ADJUSTMENT', at FROM seq
)
INSERT INTO ledger_postings (entry_id, account_id, amount, balance_after, kind, created_at)
SELECT entry_id, :clearing, -amount, NULL, 'ADJUSTMENT', at FROM seq
"""
CACHED_BALANCE = (
    "UPDATE ledger_accounts SET balance = "
    "(SELECT SUM(amount) FROM ledger_postings WHERE account_id = :cash) WHERE id = :cash"
)


@dataclass(frozen=True)
class Seeded:
    token: str
    wallet_gid: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Run:
    rows: int
    bytes: int
    seconds: float
    first_byte: float
    baseline_kb: int
    peak_kb: int

    @property
    def growth_mb(self) -> float:
        return (self.peak_kb - self.baseline_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2)
    options = parser.parse_args()
    with servers() as (admin_url, redis_url):
        database_url = fresh_database(admin_url, "adledger_bench_exports")
        began = time.perf_counter()
        seeded = asyncio.run(_seed(database_url, options.rows))
        print(f"seeded {options.rows:,} transactions in {time.perf_counter() - began:.1f} s")
        with _api(database_url, redis_url) as (base_url, pid):
            _download(base_url, seeded, seeded.start, seeded.start + timedelta(seconds=1))
            runs = [_measured(base_url, pid, seeded) for _ in range(options.runs)]
        for number, run in enumerate(runs, 1):
            _report(number, run, options.rows)
        began = time.perf_counter()
        violations = asyncio.run(_verify(database_url))
        verdict = "holds" if not violations else f"FAILED: {violations[:3]}"
        print(f"verify-ledger {verdict} ({time.perf_counter() - began:.1f} s)")


# -- data --------------------------------------------------------------------------------


async def _seed(database_url: str, rows: int) -> Seeded:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            email = "exports@example.com"
            token = await users.create_user(session, email)
            user = await user_repo.user_by_email(session, email)
            assert user is not None
            actor = Actor(user.id, user.email, user.is_staff)
            center = await create_business_center(session, actor, "Exports", Currency.USD)
            [wallet] = await wallet_repo.wallets_of_centers(session, [center.business_center_id])
            cash = await wallet_repo.wallet_account(session, wallet.id, AccountKind.CASH)
            clearing = await platform_account_id(session, AccountKind.PAYMENTS_CLEARING, "USD")
            await session.commit()
        start = clock.now() - timedelta(hours=1)
        await _insert(engine, rows, start, cash.id, clearing)
    finally:
        await engine.dispose()
    end = start + timedelta(milliseconds=rows + 1)
    return Seeded(token, to_global_id("Wallet", wallet.id), start, end)


async def _insert(
    engine: AsyncEngine, rows: int, start: datetime, cash: int, clearing: int
) -> None:
    values = {"n": rows, "start": start, "cash": cash, "clearing": clearing}
    async with engine.begin() as connection:
        await connection.execute(text(SEED), values)
        await connection.execute(text(CACHED_BALANCE), {"cash": cash})
    async with engine.connect() as connection:  # fresh statistics for the export's plan
        await connection.execute(text("ANALYZE ledger_postings"))
        await connection.execute(text("ANALYZE ledger_entries"))
        await connection.commit()


async def _verify(database_url: str) -> list[object]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return list(await verify_ledger(session))
    finally:
        await engine.dispose()


# -- the API and its memory -------------------------------------------------------------


@contextlib.contextmanager
def _api(database_url: str, redis_url: str) -> Iterator[tuple[str, int]]:
    """`_stack.api_process`'s child (one uvicorn process), whose pid we keep to watch it."""
    port = _stack._free_port()
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "PAYMENT_PROVIDER": "sandbox"}
    command = [sys.executable, str(Path(_stack.__file__).resolve()), "--serve-port", str(port)]
    process = subprocess.Popen(command, env={**os.environ, **env})
    try:
        base_url = f"http://127.0.0.1:{port}"
        _stack._wait_until_up(base_url, process)
        yield base_url, process.pid
    finally:
        _stack._stop(process)


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise LookupError(f"no VmRSS for process {pid}")


class Sampler(threading.Thread):
    """The process's largest VmRSS while it runs."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = _rss_kb(pid)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, _rss_kb(self.pid))
            time.sleep(SAMPLE_SECONDS)


def _measured(base_url: str, pid: int, seeded: Seeded) -> Run:
    time.sleep(0.5)  # the warm-up's (or the previous run's) garbage is freed
    baseline = _rss_kb(pid)
    sampler = Sampler(pid)
    sampler.start()
    try:
        rows, size, seconds, first_byte = _download(base_url, seeded, seeded.start, seeded.end)
    finally:
        sampler.stop.set()
        sampler.join()
    return Run(rows, size, seconds, first_byte, baseline, max(sampler.peak, _rss_kb(pid)))


def _download(
    base_url: str, seeded: Seeded, start: datetime, end: datetime
) -> tuple[int, int, float, float]:
    """Rows (lines but the header), bytes, seconds, and seconds to the first byte."""
    params = {"walletId": seeded.wallet_gid, "from": start.isoformat(), "to": end.isoformat()}
    headers = {"Authorization": f"Bearer {seeded.token}"}
    lines = size = 0
    first_byte = 0.0
    began = time.perf_counter()
    with httpx.stream(
        "GET", f"{base_url}/exports/transactions.csv", params=params, headers=headers, timeout=600
    ) as response:
        if response.status_code != 200:
            raise SystemExit(f"the export answered {response.status_code}: {response.read()!r}")
        for chunk in response.iter_raw():  # as they arrive
            if not size:
                first_byte = time.perf_counter() - began
            size += len(chunk)
            lines += chunk.count(b"\n")  # every line ends in CRLF; a chunk may split one
    return lines - 1, size, time.perf_counter() - began, first_byte


def _report(number: int, run: Run, expected: int) -> None:
    verdict = "met" if run.growth_mb < TARGET_MB else "NOT met"
    complete = "" if run.rows == expected else f" (expected {expected:,})"
    print(
        f"run {number}: {run.rows:,} rows{complete}, {run.bytes / 1e6:.1f} MB in "
        f"{run.seconds:.1f} s (first byte after {run.first_byte:.2f} s): "
        f"{run.rows / run.seconds:,.0f} rows/s; API RSS {run.baseline_kb / 1024:.1f} MB before, "
        f"peak {run.peak_kb / 1024:.1f} MB: growth {run.growth_mb:.1f} MB "
        f"(target < {TARGET_MB} MB: {verdict})"
    )


if __name__ == "__main__":
    main()
