"""GET /exports/transactions.csv and GET /exports/invoices.csv: a CSV file streamed from a
server-side cursor, in constant memory whatever its length (docs/api.md, "Exports").

Two ways in. With `Authorization: Bearer <token>`, as /graphql takes it, the export's own
parameters (walletId or businessCenterId, from, to) are checked as createExport checks
them, and the download counts against the member's exports a minute. With a link
createExport signed (`sig` among the parameters), no token is needed: a browser opens it.
A link that was tampered with or has expired answers 404, like an export of nothing;
its user's right to read the wallet (the center) is checked again when it is opened.

Refusals are JSON, `{"error": {"code", "message", "field"}}`, with the status of their
code: 400 INVALID_INPUT, 401 UNAUTHENTICATED / INVALID_TOKEN, 403 FORBIDDEN, 404
NOT_FOUND, 429 RATE_LIMITED (with Retry-After).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Send

from adledger.app.settings import Settings
from adledger.app.state import AppState
from adledger.domain.errors import DomainError, ErrorCode, InvalidInput
from adledger.domain.exports import SIGNATURE_PARAMETER, ExportKind, ExportSpec
from adledger.resolvers.context import RequestContext
from adledger.resolvers.exports import ExportDesk, parse_spec
from adledger.resolvers.rate_limit import RATE_LIMITED
from adledger.services import access
from adledger.services import exports as export_service
from adledger.services.actor import Actor

log = logging.getLogger(__name__)

PARAMETERS = ("walletId", "businessCenterId", "from", "to")
MAX_PARAMETER_LENGTH = 200
_STATUS = {
    ErrorCode.INVALID_INPUT: 400,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
}
_announced = False


def signing_secret(settings: Settings) -> bytes:
    """EXPORT_SIGNING_SECRET, else a random key of this process (said once, at WARNING:
    links it signs open on this process only)."""
    if settings.export_signing_secret:
        return settings.export_signing_secret.encode()
    global _announced
    if not _announced:
        _announced = True
        log.warning(
            "EXPORT_SIGNING_SECRET is not set: export links are signed with a random key of "
            "this process and open only on it; give every API process one shared secret"
        )
    return secrets.token_bytes(32)


def export_routes(holder: dict[str, AppState], desk: ExportDesk) -> list[Route]:
    def route(kind: ExportKind) -> Route:
        async def endpoint(request: Request) -> Response:
            if request.method == "HEAD":  # Starlette routes it with GET: it would run it all
                return Response(status_code=405, headers={"Allow": "GET"})
            return await download(holder["state"], desk, request, kind)

        return Route(f"/exports/{kind.value}.csv", endpoint, methods=["GET"])

    return [route(kind) for kind in ExportKind]


async def download(
    state: AppState, desk: ExportDesk, request: Request, kind: ExportKind
) -> Response:
    params = request.query_params.multi_items()
    if any(name == SIGNATURE_PARAMETER for name, _ in params):
        return await _by_link(state, desk, kind, params)
    return await _by_token(state, desk, request, kind, params)


async def _by_token(
    state: AppState,
    desk: ExportDesk,
    request: Request,
    kind: ExportKind,
    params: Sequence[tuple[str, str]],
) -> Response:
    authorization = request.headers.get("authorization")
    actor = await _token_actor(state, authorization)
    if actor is None:
        return _unauthenticated(authorization)
    try:
        access.refuse_integration(actor)  # before anything is counted or looked up
        refusal = await desk.count(actor)
        if refusal is not None:
            headers = {"Retry-After": str(refusal.retry_after)}
            return _error(429, RATE_LIMITED, refusal.message(), headers=headers)
        spec = _spec(kind, params)
    except DomainError as err:
        return _refused(err)
    return await _stream(state, spec, actor)


async def _token_actor(state: AppState, authorization: str | None) -> Actor | None:
    """As /graphql finds it (the process's token cache, the member's activity noted)."""
    context = RequestContext(state, authorization)
    try:
        return await context.actor()
    finally:
        await context.close()


def _unauthenticated(authorization: str | None) -> Response:
    headers = {"WWW-Authenticate": "Bearer"}
    if authorization is None:
        message = "authentication required: send `Authorization: Bearer <token>` or open a link"
        return _error(401, "UNAUTHENTICATED", message, headers=headers)
    message = "this token matches no user (or the Authorization is not `Bearer <token>`)"
    return _error(401, "INVALID_TOKEN", message, headers=headers)


async def _by_link(
    state: AppState, desk: ExportDesk, kind: ExportKind, params: Sequence[tuple[str, str]]
) -> Response:
    claims = export_service.verified_link(kind, params, desk.secret, state.now())
    if claims is None:
        return _link_not_found()
    try:
        spec = _spec(kind, claims.params)
    except DomainError:  # we signed it, so never; a link of nothing all the same
        return _link_not_found()
    return await _stream(state, spec, claims.user_id)


def _link_not_found() -> Response:
    message = "no export has this link (it expired, or is not the link that was made)"
    return _error(404, ErrorCode.NOT_FOUND, message)


def _spec(kind: ExportKind, params: Sequence[tuple[str, str]]) -> ExportSpec:
    """The export's parameters, each once and known, bounded, then checked as
    createExport checks its input (the field names the parameter)."""
    values: dict[str, str] = {}
    for name, value in params:
        if name not in PARAMETERS:
            shown = name[:40].encode("unicode_escape").decode("ascii")
            raise InvalidInput(
                f"unknown parameter {shown!r}; an export takes {', '.join(PARAMETERS)}",
                (shown,),
            )
        if name in values:
            raise InvalidInput(f"{name} is given more than once", (name,))
        if len(value) > MAX_PARAMETER_LENGTH:
            raise InvalidInput(f"{name} is longer than {MAX_PARAMETER_LENGTH} characters", (name,))
        values[name] = value
    start, end = _instant(values, "from"), _instant(values, "to")
    return parse_spec(kind, values.get("walletId"), values.get("businessCenterId"), start, end, ())


def _instant(values: dict[str, str], name: str) -> datetime:
    value = values.get(name)
    if value is None:
        raise InvalidInput(f"{name} is required (an ISO 8601 instant with an offset)", (name,))
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} is not an ISO 8601 instant such as 2026-11-01T00:00:00Z "
            "(in a URL, an offset's + is written %2B)",
            (name,),
        ) from None


STREAMS_PER_PROCESS = 4
"""Downloads one API process streams at once: each holds a pooled connection and a
snapshot for as long as its client reads, and a signed link may be opened again and
again for ten minutes. Past it, 429 and a few seconds' wait, before anything is opened."""
_streaming = [0]


async def _stream(state: AppState, spec: ExportSpec, who: Actor | int) -> Response:
    """Authorized in the snapshot the rows are then read from; the session lives as long as
    the response streams (`CsvDownload` gives it back, however the stream ends)."""
    if _streaming[0] >= STREAMS_PER_PROCESS:
        message = "every export slot of this server is streaming: try again in a few seconds"
        return _error(429, RATE_LIMITED, message, headers={"Retry-After": "5"})
    _streaming[0] += 1
    session = state.sessions()
    release = _release(session)
    try:
        await export_service.open_snapshot(session)
        actor = who if isinstance(who, Actor) else await export_service.link_actor(session, who)
        if actor is None:  # the link's user is gone
            await release()
            return _link_not_found()
        authorized = await export_service.authorize(session, actor, spec)
    except DomainError as err:
        await release()
        return _refused(err)
    except BaseException:
        await release()
        raise
    body = export_service.csv_chunks(session, authorized)
    return CsvDownload(body, export_service.filename(spec), release)


def _release(session: AsyncSession) -> Callable[[], Awaitable[None]]:
    """Give the session and the stream's slot back, once, whoever asks first."""
    done = [False]

    async def release() -> None:
        if done[0]:
            return
        done[0] = True
        _streaming[0] -= 1
        await session.close()

    return release


class CsvDownload(StreamingResponse):
    """A streamed attachment whose session is given back once it is sent, or as soon as
    the client goes away (even before the first row: a generator never started runs no
    `finally` of its own when it is closed)."""

    def __init__(
        self,
        body: AsyncIterator[bytes],
        filename: str,
        release: Callable[[], Awaitable[None]],
    ) -> None:
        headers = {
            "Content-Disposition": f'attachment; filename="{filename}"',
            # Money, and a link that is a credential for 10 minutes: kept by no cache.
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        super().__init__(body, media_type="text/csv", headers=headers)
        self._release = release

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            # Also when the client left mid-file: the task is being cancelled, and an await
            # that is not shielded would be cancelled in turn, leaving the connection behind.
            with anyio.CancelScope(shield=True):
                close: Any = getattr(self.body_iterator, "aclose", None)
                if close is not None:
                    await close()
                await self._release()


def _refused(err: DomainError) -> Response:
    return _error(_STATUS.get(err.code, 400), err.code, err.message, err.field)


def _error(
    status: int,
    code: str,
    message: str,
    field: Sequence[str] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"error": {"code": str(code), "message": message, "field": list(field)}}
    return JSONResponse(body, status_code=status, headers=headers)
