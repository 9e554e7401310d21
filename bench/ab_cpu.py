"""Two versions of the API side by side: the server CPU each spends per request of
`bench/mutations.py`'s cases, in alternating rounds on the same database.

    python bench/ab_cpu.py OLD_TREE NEW_TREE [--seconds 2] [--rounds 4] [CASE ...]

OLD_TREE and NEW_TREE are checkouts of this repository (`git worktree add /tmp/old <rev>`);
each serves from its own `adledger` (PYTHONPATH), one API process each, both on one
freshly seeded database. Every round runs each case on the old API, then on the new one,
with the 8 keep-alive clients of `mutations.py`; the CPU a process used over a round
(`/proc/<pid>/stat`) divided by the requests it answered is its CPU per request. A rate
on a shared 2-vCPU machine moves by a third from round to round; CPU per request, measured
on both versions in the same minutes, moves by a few per cent, so a change of 5 % shows.
CASE picks cases by a part of their name (default: `{ __typename }` and the transfer).
Also prints how busy each API process was (1.0: it never waited) and the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mutations
import redis
from _http import Connection
from _stack import _free_port, _stop, _wait_until_up, fresh_database, servers
from redis.asyncio import Redis

from adledger.payments.sandbox import SandboxProvider

CLIENTS = 8


def main() -> int:
    options = _arguments()
    trees = {"old": Path(options.old).resolve(), "new": Path(options.new).resolve()}
    with servers(mutations.REDIS_URL) as (admin_url, redis_url):
        with redis.Redis.from_url(redis_url) as client:
            client.flushdb()
        database_url = fresh_database(admin_url, mutations.DATABASE)
        seed = asyncio.run(mutations._seed(database_url, CLIENTS))
        with (
            _api(trees["old"], database_url, redis_url) as old,
            _api(trees["new"], database_url, redis_url) as new,
        ):
            rows = asyncio.run(_measure({"old": old, "new": new}, redis_url, seed, options))
    for line in rows:
        print(line)
    return 0


@contextmanager
def _api(tree: Path, database_url: str, redis_url: str) -> Iterator[tuple[int, str]]:
    """(pid, base URL) of an API process serving `tree`'s code."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    env.update(PAYMENT_PROVIDER="sandbox", PYTHONPATH=str(tree))
    command = [sys.executable, str(tree / "bench" / "_stack.py"), "--serve-port", str(port)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_up(base_url, process, "/readyz")
        yield process.pid, base_url
    finally:
        _stop(process)


async def _measure(
    apis: dict[str, tuple[int, str]],
    redis_url: str,
    seed: mutations.Seed,
    options: argparse.Namespace,
) -> list[str]:
    headers = {"Authorization": f"Bearer {seed.token}"}
    cases = {k: v for k, v in mutations.CASES.items() if any(c in k for c in options.cases)}
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    async with Redis.from_url(redis_url) as sandbox_redis:
        drivers = {}
        for name, (_, base_url) in apis.items():
            http = [await Connection.open(base_url, headers) for _ in range(CLIENTS)]
            drivers[name] = mutations.Driver(http, SandboxProvider(sandbox_redis), [], seed)
        await mutations._refundable(drivers["old"])
        for driver in drivers.values():
            for op in cases.values():
                await mutations._round(driver, op, 0.5)
        for n in range(options.rounds):
            print(f"round {n + 1} of {options.rounds}", file=sys.stderr)
            for case, op in cases.items():
                for name, driver in drivers.items():
                    sample = await _sample(apis[name][0], driver, op, options.seconds)
                    results.setdefault((case, name), []).append(sample)
        for driver in drivers.values():
            for connection in driver.http:
                await connection.close()
    return _report(results)


async def _sample(
    pid: int, driver: mutations.Driver, op: mutations.Op, seconds: float
) -> tuple[float, float, float]:
    """(ms of CPU per request, the process's busy share, the machine's cores busy)."""
    cpu, machine, started = _cpu(pid), _machine(), time.monotonic()
    _, latencies, _ = await mutations._round(driver, op, seconds)
    elapsed = time.monotonic() - started
    used = _cpu(pid) - cpu
    return 1000 * used / len(latencies), used / elapsed, (_machine() - machine) / elapsed


def _report(results: dict[tuple[str, str], list[tuple[float, float, float]]]) -> list[str]:
    lines = ["case                                version  CPU ms/request  busy  machine cores"]
    for (case, name), samples in results.items():
        per_request, busy, machine = (statistics.median(s[i] for s in samples) for i in range(3))
        lines.append(f"{case:<36}{name:<9}{per_request:>14.3f}{busy:>6.2f}{machine:>15.2f}")
    return lines


def _cpu(pid: int) -> float:
    """Seconds of CPU (user and system) the process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine() -> float:
    """Seconds of CPU every core of the machine spent busy so far."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("old", help="checkout of the old version")
    parser.add_argument("new", help="checkout of the new version")
    parser.add_argument("cases", nargs="*", default=["typename", "transferBalance"])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of every case")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
