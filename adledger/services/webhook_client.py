"""One webhook POST, bounded in every way a partner's endpoint could make it costly: 10 s in
all (DNS excepted: resolve_and_check bounds that), no redirect followed, at most 1 KB of the
answer read, and the connection made to an address checked beforehand (webhook_targets), so
a DNS answer changed since the check cannot send it into our own network.

The pinning: the request goes to the checked IP address, with the endpoint's name in the
`Host` header and as the TLS server name (SNI), against which the certificate is verified
as usual. A fresh client per delivery: a pooled connection to one IP opened for one name
must never carry a request meant for another name on that IP.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from adledger.domain.webhooks import IPAddress
from adledger.services.webhook_targets import Target

DELIVERY_TIMEOUT_SECONDS = 10.0
RESPONSE_BODY_LIMIT = 1024
MAX_ERROR_LENGTH = 500
USER_AGENT = "adledger-webhooks/1"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one attempt got: the status (None: no answer), how long it took, the answer's
    first 1 KB as text, and what went wrong (None: the exchange completed)."""

    status_code: int | None
    duration_ms: int
    body: str
    error: str | None

    @property
    def ok(self) -> bool:
        """Delivered: a 2xx answer, read to its end (or to our 1 KB) within the timeout."""
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


async def post(
    target: Target,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout_seconds: float = DELIVERY_TIMEOUT_SECONDS,
    transport: httpx.AsyncBaseTransport | None = None,
) -> DeliveryResult:
    """POST `body` (JSON) with `headers` (the signature's) to the target's checked
    addresses, the next one only if the connection to one could not be made. Never
    raises for what the endpoint does: every failure is a result with its error."""
    call = _Call(target, body, headers, transport)
    started = time.monotonic()
    error: str | None = None
    try:
        # The one bound on the whole exchange; httpx's own are per read, not in total.
        async with asyncio.timeout(timeout_seconds):
            await _exchange(call)
    except (TimeoutError, httpx.TimeoutException):
        waited = "the answer's body did not end" if call.status_code else "no answer"
        error = f"{waited} within {timeout_seconds:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
    elapsed = round((time.monotonic() - started) * 1000)
    return DeliveryResult(call.status_code, elapsed, _text(call.answer), error)


@dataclass(slots=True)
class _Call:
    target: Target
    body: bytes
    headers: Mapping[str, str]
    transport: httpx.AsyncBaseTransport | None
    status_code: int | None = None
    answer: bytearray = field(default_factory=bytearray)


async def _exchange(call: _Call) -> None:
    addresses = call.target.addresses
    for index, address in enumerate(addresses):
        try:
            await _post_to(call, address)
            return
        except httpx.ConnectError:
            # Nothing was sent: the next address may take it (an IPv6 route that is down).
            if index == len(addresses) - 1:
                raise


async def _post_to(call: _Call, address: IPAddress) -> None:
    url = call.target.url
    headers = {
        "host": url.host_header,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        # Raw bytes only: a compressed answer could inflate far past what we read.
        "accept-encoding": "identity",
        **call.headers,
    }
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    async with (
        httpx.AsyncClient(
            transport=call.transport,
            verify=_tls_context(),
            timeout=None,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment between us and the address
        ) as client,
        client.stream(
            "POST",
            httpx.URL(url.url).copy_with(host=str(address)),
            content=call.body,
            headers=headers,
            extensions=extensions,
        ) as response,
    ):
        call.status_code = response.status_code
        await _read_capped(response, call.answer)


async def _read_capped(response: httpx.Response, into: bytearray) -> None:
    """Stop at RESPONSE_BODY_LIMIT bytes; closing the stream drops the connection rather
    than read the rest."""
    async for chunk in response.aiter_raw():
        into += chunk[: RESPONSE_BODY_LIMIT - len(into)]
        if len(into) >= RESPONSE_BODY_LIMIT:
            return


def _text(raw: bytearray) -> str:
    # Cut at a byte count, maybe inside a character; PostgreSQL text holds no NUL.
    return raw.decode("utf-8", "replace").replace("\x00", "\ufffd")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The system's trusted CAs, loaded once per process rather than per delivery."""
    return httpx.create_ssl_context()
