"""The request a log line belongs to: its id and its GraphQL operation.

The HTTP middleware (adledger/app/logs.py) opens a scope per request; every log line
written while it runs, and a masked error's `extensions.requestId`, read it from a
context variable. Tasks started within the request copy the variable, and share the one
scope object, so an operation name noted during execution reaches the access line.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar, Token
from dataclasses import dataclass

# A client's own id is kept when it could do no harm in a log line or a header.
_SAFE_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(slots=True)
class RequestScope:
    request_id: str
    operation: str | None = None


_current: ContextVar[RequestScope | None] = ContextVar("adledger_request_scope", default=None)


def new_request_id() -> str:
    return f"req_{secrets.token_hex(12)}"


def request_id_from(client_id: str | None) -> str:
    """The client's X-Request-Id when it is short and plain, else one of ours."""
    if client_id is not None and _SAFE_CLIENT_ID.fullmatch(client_id):
        return client_id
    return new_request_id()


def open_scope(request_id: str) -> tuple[RequestScope, Token[RequestScope | None]]:
    scope = RequestScope(request_id)
    return scope, _current.set(scope)


def close_scope(token: Token[RequestScope | None]) -> None:
    _current.reset(token)


def current_scope() -> RequestScope | None:
    return _current.get()


def current_request_id() -> str:
    """The request's id; work outside any HTTP request (a script, a test calling the schema)
    gets a scope of its own on first use, so its error and its log line still match."""
    scope = _current.get()
    if scope is None:
        scope, _ = open_scope(new_request_id())
    return scope.request_id


def note_operation(name: str | None) -> None:
    scope = _current.get()
    if scope is not None and name is not None:
        scope.operation = name[:100]
