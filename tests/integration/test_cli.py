"""The `adledger` command line as operators and scripts use it, against the test database.

Commands run `asyncio.run` themselves, so async tests call `main` in a worker thread
(`asyncio.to_thread`) and `adledger dev` runs as a real process, signals included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.app.cli import main
from adledger.app.demo.seed import DemoSeed, ensure_automatic_center, is_seeded, seed_demo
from adledger.resolvers.root import build_schema
from adledger.services.config import BillingConfig
from adledger.services.verify import verify_ledger
from adledger.store.ledger_checks import HORIZON_MARGIN
from tests.helpers import TimeTravel

NOW = "2026-11-22T00:00:00+00:00"
VIEWER = "{ viewer { email isStaff } }"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str, db: None) -> None:
    """The CLI reads its servers from the environment, like in production."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)


async def seeded(sessions: async_sessionmaker[AsyncSession]) -> DemoSeed:
    async with sessions() as session:
        seed = await seed_demo(session, BillingConfig(), clock.now())
        await session.commit()
    return seed


async def shift_cached_balance(
    sessions: async_sessionmaker[AsyncSession], wallet_id: int, delta: int
) -> None:
    """Corrupt (or repair) a cached balance the way only a bad migration or hand edit could:
    postings are append-only, the cached balance is not."""
    async with sessions() as session:
        await session.execute(
            text(
                "UPDATE ledger_accounts SET balance = balance + :delta "
                "WHERE wallet_id = :wallet AND kind = 'cash'"
            ),
            {"delta": delta, "wallet": wallet_id},
        )
        await session.commit()


async def test_users_create_prints_a_working_token_as_last_line(
    cli_env: None, api, capsys: pytest.CaptureFixture[str]
) -> None:
    # when
    code = await asyncio.to_thread(main, ["users", "create", "Ops@Example.com", "--staff"])
    # then
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0
    viewer = (await api.data(VIEWER, token=token))["viewer"]
    assert viewer == {"email": "ops@example.com", "isStaff": True}


async def test_users_create_integration_prints_a_token_for_record_spend_only(
    cli_env: None, api, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.helpers import CREATE_CENTER, record_spend, spend_event

    # when
    code = await asyncio.to_thread(
        main, ["users", "create", "adserver@example.com", "--integration"]
    )
    # then its token reaches recordSpend (which finds no such campaign) and nothing else
    output = capsys.readouterr().out.strip().splitlines()
    token = output[-1]
    assert code == 0
    assert output[0].startswith("created integration user adserver@example.com")
    unknown = spend_event("e1", "Q2FtcGFpZ246OTk5", "1.00")
    spent = await record_spend(api, [unknown], token)
    assert (spent["code"], spent["field"]) == ("NOT_FOUND", ["input", "events", "0", "campaignId"])
    center = {"input": {"name": "Mine", "currencyCode": "USD"}}
    created = (await api.data(CREATE_CENTER, center, token))["createBusinessCenter"]
    assert created["code"] == "FORBIDDEN"


async def test_users_create_refuses_staff_and_integration_at_once(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["users", "create", "x@example.com", "--staff", "--integration"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


async def test_users_create_refuses_a_taken_email_and_prints_no_token(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # given
    assert await asyncio.to_thread(main, ["users", "create", "ops@example.com"]) == 0
    capsys.readouterr()
    # when
    code = await asyncio.to_thread(main, ["users", "create", "ops@example.com"])
    # then
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert "exists" in captured.err


async def test_verify_ledger_passes_on_the_demo_and_reports_a_tampered_balance(
    cli_env: None, sessions: async_sessionmaker[AsyncSession], capsys: pytest.CaptureFixture[str]
) -> None:
    # given
    seed = await seeded(sessions)
    assert await asyncio.to_thread(main, ["verify-ledger"]) == 0
    assert "every invariant holds" in capsys.readouterr().out
    # when
    await shift_cached_balance(sessions, seed.center_wallet_id, +1)
    try:
        code = await asyncio.to_thread(main, ["verify-ledger"])
        report = capsys.readouterr().out
    finally:
        await shift_cached_balance(sessions, seed.center_wallet_id, -1)
    # then
    assert code == 1
    assert "verification failed" in report
    assert f"wallet:{seed.center_wallet_id}:cash: cached 295101, posted 295100" in report
    # the cached balance is the only thing tampered with: postings still sum to zero
    assert "ledger verification failed: 1 violation(s)" in report


async def test_jobs_run_verifies_the_ledger_for_a_given_instant(
    cli_env: None,
    sessions: async_sessionmaker[AsyncSession],
    capsys: pytest.CaptureFixture[str],
    time_travel: TimeTravel,
) -> None:
    # given the demo, written longer ago than the checks' horizon margin
    await seeded(sessions)
    time_travel.by(HORIZON_MARGIN + timedelta(seconds=1))
    # when
    first = await asyncio.to_thread(main, ["jobs", "run", "verify-ledger", "--now", NOW])
    first_out = capsys.readouterr().out.strip()
    second = await asyncio.to_thread(main, ["jobs", "run", "verify-ledger", "--now", NOW])
    # then the first run reads every posting, the next only those since its checkpoint
    assert (first, second) == (0, 0)
    assert first_out == (
        f"verify-ledger at {NOW}: ledger verified: every invariant holds; 30 postings read in full"
    )
    assert capsys.readouterr().out.strip() == (
        f"verify-ledger at {NOW}: ledger verified: every invariant holds; "
        "0 postings read since the last checkpoint"
    )


def test_jobs_run_wants_an_instant_with_an_offset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "run", "verify-ledger", "--now", "2026-11-22T00:00:00"]) == 2
    assert "UTC offset" in capsys.readouterr().err


def test_export_schema_prints_the_served_sdl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sdl = build_schema().as_str()
    assert main(["export-schema"]) == 0
    assert capsys.readouterr().out == sdl + "\n"
    assert main(["export-schema", "--output", str(tmp_path / "schema.graphql")]) == 0
    assert (tmp_path / "schema.graphql").read_text() == sdl + "\n"


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_production_commands_need_both_urls(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert main([command]) == 2
    assert "needs DATABASE_URL" in capsys.readouterr().err


async def test_members_add_gives_a_user_a_role(
    cli_env: None, sessions: async_sessionmaker[AsyncSession], api, users
) -> None:
    # given
    seed = await seeded(sessions)
    analyst = await users.create("analyst")
    argv = ["members", "add", str(seed.business_center_id), analyst.email, "FINANCE_ANALYST"]
    # when
    code = await asyncio.to_thread(main, [*argv, "--by", "demo@adledger.local"])
    # then
    assert code == 0
    query = "{ viewer { businessCenters { edges { node { name viewerRole } } } } }"
    edges = (await api.data(query, token=analyst.token))["viewer"]["businessCenters"]["edges"]
    assert [edge["node"] for edge in edges] == [
        {"name": "Northwind Agency", "viewerRole": "FINANCE_ANALYST"}
    ]


async def test_demo_seed_is_a_sound_ledger_with_several_kinds_of_transactions(
    db: None, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # given
    async with sessions() as session:
        assert not await is_seeded(session)
    # when
    seed = await seeded(sessions)
    # then
    async with sessions() as session:
        assert await is_seeded(session)
        assert await verify_ledger(session) == []
        kinds = set(await session.scalars(text("SELECT DISTINCT kind FROM ledger_postings")))
        status = await session.scalar(
            text("SELECT status FROM campaigns WHERE id = :id"), {"id": seed.campaign_id}
        )
    assert len(seed.ad_account_ids) == len(seed.ad_account_wallet_ids) == 3
    assert {"ADJUSTMENT", "ALLOCATION_IN", "ALLOCATION_OUT", "VOUCHER_GRANT"} <= kinds
    assert ("CAMPAIGN_LAUNCH" in kinds, status) == (True, "ACTIVE")


async def test_the_demo_has_a_second_center_under_automatic_allocation(
    db: None, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seeded(sessions)

    async with sessions() as session:
        center = (
            await session.execute(
                text(
                    "SELECT id, allocation_mode FROM business_centers WHERE name = 'Contoso Retail'"
                )
            )
        ).one()
        budgets = dict(
            (await session.execute(
                text("SELECT name, budget_mode || ' ' || COALESCE(budget_amount::text, '-') "
                     "FROM ad_accounts WHERE business_center_id = :c"), {"c": center.id}
            )).all()
        )  # fmt: skip
        campaign = (
            await session.execute(
                text("SELECT status, payment_plan FROM campaigns WHERE name = 'Holiday push'")
            )
        ).one()
        assert await ensure_automatic_center(session, BillingConfig(), clock.now()) is False
    assert center.allocation_mode == "AUTOMATIC"
    assert budgets == {
        "Contoso Search": "MONTHLY 30000",
        "Contoso Video": "DAILY 5000",
        "Contoso Display": "MONTHLY 6000",
    }
    assert tuple(campaign) == ("ACTIVE", "BUSINESS_CENTER_BALANCE")


# -- adledger dev, as a process -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def dev_process(
    database_url: str, redis_url: str, port: int, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "adledger.app.cli",
            "dev",
            "--port",
            str(port),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env={**_base_env(), **env},
        )
        try:
            yield process
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


def _base_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in {"PORT", "HOST"}}


async def read_banner(process: asyncio.subprocess.Process) -> list[str]:
    """The banner's lines, up to the end of its recordSpend example."""
    assert process.stdout is not None
    lines: list[str] = []
    while line := await process.stdout.readline():
        lines.append(line.decode().strip())
        if "duplicates: 1" in lines[-1]:
            return lines
    raise AssertionError(f"adledger dev printed no full banner: {lines}")


def demo_token(banner: list[str]) -> str:
    return next(line.split()[-1] for line in banner if line.startswith("Demo token:"))


async def read_until_curl(
    process: asyncio.subprocess.Process, marker: str = "recordSpend"
) -> list[str]:
    """The banner's lines from where it was read up to the next curl with `marker`: by
    default the automatic center's recordSpend, after the first example."""
    assert process.stdout is not None
    lines: list[str] = []
    while line := await process.stdout.readline():
        lines.append(line.decode().strip())
        if lines[-1].startswith("curl") and marker in lines[-1]:
            return lines
    raise AssertionError(f"adledger dev printed no curl with {marker}: {lines}")


def guard_query(banner: list[str]) -> dict[str, Any]:
    """The JSON body of the balance guard's `curl` line (its query names AUTO_RECHARGE)."""
    curl = next(line for line in banner if line.startswith("curl") and "AUTO_RECHARGE" in line)
    return dict(json.loads(curl.split(" -d '", 1)[1].rstrip("'")))


def spend_example(banner: list[str], which: int = 0) -> tuple[str, dict[str, Any]]:
    """The token and the JSON body of the banner's `curl … recordSpend` line."""
    curls = [line for line in banner if line.startswith("curl") and "recordSpend" in line]
    curl = curls[which]
    token = curl.split("Bearer ", 1)[1].split("'", 1)[0]
    return token, json.loads(curl.split(" -d '", 1)[1].rstrip("'"))


async def test_dev_serves_the_demo_and_stops_cleanly_on_ctrl_c(
    database_url: str, redis_url: str, db: None, tmp_path: Path
) -> None:
    # given
    port = free_port()
    async with dev_process(database_url, redis_url, port, tmp_path / "dev.log") as process:
        banner = await asyncio.wait_for(read_banner(process), timeout=60)
        banner += await asyncio.wait_for(read_until_curl(process), timeout=30)
        banner += await asyncio.wait_for(read_until_curl(process, "AUTO_RECHARGE"), timeout=30)
        token, (adserver, spend) = demo_token(banner), spend_example(banner)
        (_, drawn), (_, crossing) = spend_example(banner, 1), spend_example(banner, 2)
        # when
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            page = await client.get("/graphql", headers={"Accept": "text/html"})
            response = await client.post(
                "/graphql",
                json={"query": VIEWER},
                headers={"Authorization": f"Bearer {token}"},
            )
            bearer = {"Authorization": f"Bearer {adserver}"}
            spent = [(await client.post("/graphql", json=spend, headers=bearer)).json()]
            spent.append((await client.post("/graphql", json=spend, headers=bearer)).json())
            spent.append((await client.post("/graphql", json=drawn, headers=bearer)).json())
            spent.append((await client.post("/graphql", json=crossing, headers=bearer)).json())
            admin = {"Authorization": f"Bearer {token}"}
            guard = (await client.post("/graphql", json=guard_query(banner), headers=admin)).json()
        process.send_signal(signal.SIGINT)
        assert process.stdout is not None
        await process.stdout.read()
        code = await asyncio.wait_for(process.wait(), timeout=30)
    # then
    assert "graphiql" in page.text.lower()
    assert response.json() == {
        "data": {"viewer": {"email": "demo@adledger.local", "isStaff": False}}
    }
    reports = [answer["data"]["recordSpend"] for answer in spent]
    counted = [(r["accepted"], r["duplicates"], r["refused"]) for r in reports]
    assert counted == [(1, 0, []), (0, 1, []), (1, 0, []), (1, 0, [])], spent
    # Contoso's 1,860.00 less 12.50, then the banner's 165.00: below 1,700.00, recharged
    # to 1,800.00 by its sandbox card within the request
    assert "It has 1,860.00 USD available now: report 165.00 of spend on" in banner
    center = guard["data"]["businessCenter"]
    recharges = [edge["node"] for edge in center["invoices"]["edges"]]
    assert [(r["status"], r["amountDue"]["amount"]) for r in recharges] == [("PAID", "117.50")]
    assert center["wallet"]["balance"]["available"] == {"amount": "1800.00"}
    assert code == 0, (tmp_path / "dev.log").read_text()
