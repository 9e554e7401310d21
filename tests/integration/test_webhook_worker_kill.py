"""A worker killed mid-delivery loses no webhook and invents no event: a real
`adledger jobs run deliver-webhooks` process is SIGKILLed while its posts hang at the
receiver; run again after the leases ran out, it delivers every event (at least once),
and the feed still shows each event exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from adledger import clock
from adledger.domain.events import EventType
from adledger.schema.ids import db_id_of
from adledger.services import effects
from tests.helpers import create_center
from tests.webhook_receivers import attempts, emit, make_endpoint, messages, receiver

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 6
FEED = """query($id: ID!) {
  businessCenter(id: $id) { events(first: 100) { edges { node { id sequence } } } }
}"""


@pytest.fixture
async def transact(sessions: Any, redis_url: str) -> AsyncIterator[Any]:
    """Transactions whose commits number the events they recorded, as a job's do."""
    redis = Redis.from_url(redis_url)
    yield effects.transaction_runner(sessions)
    await redis.aclose()


def _command(at: Any) -> list[str]:
    job = [sys.executable, "-m", "adledger.app.cli", "jobs", "run", "deliver-webhooks"]
    return [*job, "--now", at.isoformat()]


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as output:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=output)


def _environment(database_url: str, redis_url: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    env.pop("ADLEDGER_FAULT", None)
    # The receiver listens on 127.0.0.1 over http, as `adledger dev` allows.
    return env | {"PAYMENT_PROVIDER": "sandbox", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1"}


async def test_a_worker_killed_mid_delivery_delivers_every_event_after_a_restart(
    api: Any,
    users: Any,
    sessions: Any,
    transact: Any,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    # given an endpoint whose receiver hangs, and 6 events of its center
    center = await create_center(api, await users.create("admin"))
    center_id = db_id_of(center.id, "BusinessCenter")
    assert center_id is not None
    env = _environment(database_url, redis_url)
    with receiver() as partner:
        partner.hanging = True
        await make_endpoint(sessions, center_id, partner.url)
        for _ in range(EVENTS):
            await emit(transact, center_id, EventType.SPEND_APPLIED)
        at = clock.now()
        # when a deliver-webhooks process is killed while its first 4 posts hang
        log = tmp_path / "killed.log"
        process = _start(_command(at), env, log)
        try:
            arrived = await asyncio.to_thread(partner.wait_for, 4, 90.0)
            assert arrived, log.read_text()
        finally:
            process.send_signal(signal.SIGKILL)
            returncode = await asyncio.to_thread(process.wait, 30)
        assert returncode == -signal.SIGKILL
        # then its claims hold 4 messages (no attempt recorded), the other 2 wait
        held = await messages(sessions)
        assert sorted(m.attempts for m in held) == [0, 0, 1, 1, 1, 1]
        assert {m.status for m in held} == {"PENDING"}
        assert await attempts(sessions) == []
        # and when the receiver answers again and a new process runs after the leases
        partner.hanging = False
        partner.release.set()
        again = await asyncio.to_thread(
            subprocess.run,
            _command(at + timedelta(minutes=2)),
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert "queued 0, delivered 6, failed 0" in again.stdout
    # then every event arrived (the 4 held ones twice: at least once), each delivered once
    feed = (await api.data(FEED, {"id": center.id}, center.admin.token))["businessCenter"]
    shown = [edge["node"] for edge in feed["events"]["edges"]]
    assert [e["sequence"] for e in shown] == list(range(1, EVENTS + 1))
    assert len({e["id"] for e in shown}) == EVENTS
    assert sorted(set(partner.ids())) == sorted(e["id"] for e in shown)
    assert len(partner.received) == 4 + EVENTS
    done = await messages(sessions)
    assert {m.status for m in done} == {"DELIVERED"}
    assert sorted(m.attempts for m in done) == [1, 1, 2, 2, 2, 2]
    recorded = await attempts(sessions)
    assert sorted((a.attempt, a.succeeded) for a in recorded) == [(1, True)] * 2 + [(2, True)] * 4
