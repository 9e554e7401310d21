"""GraphQL over HTTP's `application/graphql-response+json` (the spec's media type).

A client that accepts it gets it, with the status codes the spec gives it: a request that
never reached execution (unparsable, invalid, too large once expanded) is a 400 without a
`data` entry. Clients that accept only `application/json` (or send no Accept) keep the
legacy answer: 200 with `{"data": null, "errors": [...]}`.

A request refused before any GraphQL (a body that is not UTF-8 JSON, a method or content
type we do not serve) answers its 4xx with the same `{"errors": [...]}` body, whichever
media type the client accepts.
"""

from __future__ import annotations

import json

from cross_web import HTTPException
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import Message, Send

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def negotiate(accept: str | None) -> str:
    """The media type to answer with: the spec's own when the client prefers it (ties go to
    it), else application/json, also for no Accept header or one we cannot serve."""
    if not accept:
        return JSON
    weights = _weights(accept)
    spec = weights.get(GRAPHQL_RESPONSE)
    legacy = weights.get(JSON, weights.get("application/*", weights.get("*/*")))
    if spec is not None and spec > 0 and (legacy is None or spec >= legacy):
        return GRAPHQL_RESPONSE
    return JSON


def _weights(accept: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in accept.split(",")[:20]:  # a client never needs more; a hostile one gets 20
        media, *params = (part.strip() for part in item.split(";"))
        weights[media.lower()] = _quality(params)
    return weights


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def graphql_response_sender(send: Send) -> Send:
    """Wraps `send` to turn strawberry's application/json answer into the spec's media type
    (that body is one small JSON document: it is buffered to set status and length). Any
    other answer (GraphiQL's page, a multipart stream) passes through untouched."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def sender(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            if _is_json(message):
                start = message
                return
            await send(message)
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        await _send_converted(send, start, b"".join(chunks))

    return sender


def _is_json(start: Message) -> bool:
    return (
        MutableHeaders(raw=list(start.get("headers", []))).get("content-type", "").startswith(JSON)
    )


async def _send_converted(send: Send, start: Message, body: bytes) -> None:
    headers = MutableHeaders(raw=list(start.get("headers", [])))
    status, body = _as_graphql_response(start["status"], body)
    headers["content-type"] = f"{GRAPHQL_RESPONSE}; charset=utf-8"
    headers["content-length"] = str(len(body))
    await send({**start, "status": status, "headers": headers.raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _as_graphql_response(status: int, body: bytes) -> tuple[int, bytes]:
    try:
        result = json.loads(body)
    except ValueError:
        return status, body
    if status == 200 and _is_request_error(result):
        result.pop("data", None)
        return 400, json.dumps(result, separators=(",", ":")).encode()
    return status, body


def _is_request_error(result: object) -> bool:
    """No execution happened: no data, and no error belongs to a field (no `path`)."""
    if not isinstance(result, dict) or result.get("data") is not None:
        return False
    errors = result.get("errors")
    return bool(errors) and all(isinstance(e, dict) and "path" not in e for e in errors)


def accepted(headers: Headers) -> str:
    return negotiate(headers.get("accept"))


def utf8_text(body: bytes) -> str:
    """The body as text. JSON on the network is UTF-8 (RFC 8259); json.loads would guess
    UTF-16 or UTF-32 from the first bytes, and raise UnicodeDecodeError (a 500) on bytes
    that are no text at all. A UTF-8 byte order mark is left for json.loads to refuse."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(
            400, f"the request body is not UTF-8 text (byte {exc.start} cannot be decoded)"
        ) from exc


def request_error(status: int, message: str) -> JSONResponse:
    """A GraphQL-over-HTTP error body for a request refused before any GraphQL ran."""
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)
