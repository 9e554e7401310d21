"""Logging of the long-running processes (`serve`, `worker`, `dev`): one setup, two formats.

LOG_FORMAT=text (the default) is for a terminal; LOG_FORMAT=json writes one JSON object a
line for a log pipeline. Every line written during an HTTP request carries its request id
(and its GraphQL operation, once known); the request's own access line adds its status
and duration. No line holds a header, a token or a variables payload: nothing here logs
them, and the GraphQL error lines cut a variable's value out of its message.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, TypedDict

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adledger.request_scope import close_scope, current_scope, open_scope, request_id_from

access_log = logging.getLogger("adledger.access")

# Probes ask every few seconds; their lines would bury the rest (DEBUG shows them).
QUIET_PATHS = frozenset({"/healthz", "/readyz"})


class RequestFields(TypedDict):
    """The fields of a JSON access line (other lines have those that apply)."""

    time: str
    level: str
    logger: str
    message: str
    request_id: str | None
    operation: str | None
    duration_ms: float
    status: int


# Record attributes a JSON line carries when a line sets them (`extra=`).
_EXTRA = ("method", "path", "status", "duration_ms")


def _request_fields(record: logging.LogRecord) -> tuple[str | None, str | None]:
    """The record's own (set by `extra=`), else those of the request it was logged in."""
    scope = current_scope()
    request_id = getattr(record, "request_id", None) or (scope.request_id if scope else None)
    operation = getattr(record, "operation", None) or (scope.operation if scope else None)
    return request_id, operation


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        request_id, operation = _request_fields(record)
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id,
            "operation": operation,
        }
        line.update({name: getattr(record, name) for name in _EXTRA if hasattr(record, name)})
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id, _ = _request_fields(record)
        if request_id is None:
            return text
        first, newline, rest = text.partition("\n")  # after the message, before a traceback
        return f"{first} [{request_id}]{newline}{rest}"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is written, not when it was set up:
    a command run in a process that swaps it (a test capturing output) never writes
    to a stream closed since."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def _replaceable(handler: logging.Handler) -> bool:
    """Ours from an earlier call, or the bare stderr handler a library's early
    `logging.warning(...)` made (logging.basicConfig's)."""
    if isinstance(handler, _StderrHandler):
        return True
    return type(handler) is logging.StreamHandler and handler.stream is sys.stderr


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    """For long-running commands only: one-shot commands print their results instead.
    Replaces the handler an earlier call installed, leaves anyone else's alone."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if _replaceable(h)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # pgserver narrates every pg_ctl call at INFO; its warnings still get through.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # Our access line replaces uvicorn's (one line per request, with the request id).
    logging.getLogger("uvicorn.access").disabled = True
    quiet_job_lines()


# -- the worker ----------------------------------------------------------------------------

# arq's lines for each job it starts and finishes, and for its health record: three a
# minute per cron job. The jobs say themselves when they did something.
_ARQ_ROUTINE = ("%6.2fs → %s(%s)%s", "%6.2fs ← %s ● %s", "recording health: %s")


class _RoutineToDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.msg in _ARQ_ROUTINE:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def quiet_job_lines() -> None:
    """arq's per-job INFO lines become DEBUG lines (once however often it is called)."""
    arq = logging.getLogger("arq.worker")
    if not any(isinstance(f, _RoutineToDebug) for f in arq.filters):
        arq.addFilter(_RoutineToDebug())


# -- HTTP ----------------------------------------------------------------------------------


class RequestLog:
    """ASGI middleware: every request gets an id (the client's X-Request-Id when short and
    plain), answered in X-Request-Id and carried by every line logged while it runs; one
    access line when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request, token = open_scope(request_id_from(Headers(scope=scope).get("x-request-id")))
        # Until the app answers: a crash is a 500; a socket closed unaccepted, uvicorn's 403.
        started, status = time.perf_counter(), 500 if scope["type"] == "http" else 403

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] in ("http.response.start", "websocket.accept"):
                status = message.get("status", 101)
                message.setdefault("headers", [])
                MutableHeaders(scope=message).append("X-Request-Id", request.request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _access_line(scope, status, (time.perf_counter() - started) * 1000)
            close_scope(token)


MAX_LOGGED_PATH = 200


def _printable(path: str) -> str:
    """The path as the client sent it, but one line of printable ASCII and bounded: a
    percent-encoded newline or escape sequence must not forge a line or color a terminal."""
    escaped = path.encode("unicode_escape").decode("ascii")
    return escaped if len(escaped) <= MAX_LOGGED_PATH else escaped[:MAX_LOGGED_PATH] + "..."


def _access_line(scope: Scope, status: int, duration_ms: float) -> None:
    request = current_scope()
    assert request is not None
    method = scope.get("method", "WEBSOCKET")
    path = _printable(scope.get("path", ""))
    level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
    operation = f" {request.operation}" if request.operation else ""
    access_log.log(
        level,
        "%s %s %s %.1fms%s",
        method,
        path,
        status,
        duration_ms,
        operation,
        extra={
            "request_id": request.request_id,
            "operation": request.operation,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(duration_ms, 1),
        },
    )
