"""Where a benchmark's CPU went: PostgreSQL, Redis, the API processes, the workers and the
client, in cores used over the run (psutil, which the embedded PostgreSQL already needs).
Counts every process of those kinds on the machine: run it on a quiet one."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass

import psutil

GROUPS = ("PostgreSQL", "Redis", "API processes", "workers", "load client")


def _group(process: psutil.Process, mine: int) -> str | None:
    try:
        name, command = process.name(), " ".join(process.cmdline())
        ancestors = " ".join(" ".join(p.cmdline()) for p in process.parents())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    if process.pid == mine:
        return "load client"
    if name.startswith(("postgres", "postmaster")):
        return "PostgreSQL"
    if name.startswith("redis"):
        return "Redis"
    if "adledger.app.cli worker" in command:
        return "workers"
    if "adledger.app.cli serve" in f"{command} {ancestors}" or "_stack.py --serve-port" in command:
        return "API processes"
    return None


def _seconds(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return 0.0
    return float(times.user + times.system)


@dataclass
class CpuWatch:
    """Started before the load, read after it (its processes must still be running)."""

    started: float
    before: dict[int, tuple[str, float]]

    @classmethod
    def start(cls) -> CpuWatch:
        mine, before = os.getpid(), {}
        for process in psutil.process_iter():
            group = _group(process, mine)
            if group is not None:
                before[process.pid] = (group, _seconds(process))
        return cls(time.monotonic(), before)

    def cores(self) -> dict[str, float]:
        """Cores each group kept busy since `start`, on average: processes started since
        (PostgreSQL backends of new pool connections) count whole."""
        elapsed = time.monotonic() - self.started
        return {group: used / elapsed for group, used in self.seconds().items()}

    def seconds(self) -> dict[str, float]:
        """CPU seconds each group used since `start`."""
        mine, used = os.getpid(), defaultdict(float)
        for process in psutil.process_iter():
            group = _group(process, mine)
            if group is not None:
                earlier = self.before.get(process.pid, (group, 0.0))[1]
                used[group] += _seconds(process) - earlier
        return {group: used[group] for group in GROUPS}


def describe(cores: dict[str, float]) -> str:
    parts = ", ".join(f"{group} {used:.2f}" for group, used in cores.items())
    return f"  CPU, in cores busy over the run (of {psutil.cpu_count()}): {parts}"
