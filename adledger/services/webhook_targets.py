"""Where a webhook may go: the endpoint's URL checked, its host resolved, and every address
it resolves to checked (domain/webhooks.py says which are refused).

Called when a URL is saved and again before every delivery: DNS answers change, and a name
that was public at saving can point at 127.0.0.1 an hour later (DNS rebinding). The
delivery then connects to the addresses checked here, never resolving the name again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from adledger.domain.errors import InvalidInput
from adledger.domain.webhooks import (
    URL_FIELD,
    EndpointUrl,
    IPAddress,
    check_addresses,
    endpoint_url,
)

# The resolver: (host, port) -> the addresses, as text. Injected by tests.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

# A resolver that hangs must not hold a save or a delivery for long.
RESOLVE_TIMEOUT_SECONDS = 5.0
# An answer with more addresses than this is cut: we only ever connect to the first few.
MAX_ADDRESSES = 32


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed every rule, and the addresses the delivery may connect to."""

    url: EndpointUrl
    addresses: tuple[IPAddress, ...]


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The host's addresses by the operating system's resolver, off the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


async def resolve_and_check(
    url: str | EndpointUrl,
    *,
    allow_private: bool,
    resolver: Resolver = system_resolver,
    timeout_seconds: float = RESOLVE_TIMEOUT_SECONDS,
) -> Target:
    """The target of `url` if it may receive webhooks; else InvalidInput on ("input", "url")
    saying why: the URL breaks a rule, the host does not resolve, or one of its addresses
    is one we never connect to (unless `allow_private`)."""
    checked = (
        url if isinstance(url, EndpointUrl) else endpoint_url(url, allow_private=allow_private)
    )
    answers = await _resolve(checked, resolver, timeout_seconds)
    addresses = [_address(checked.host, answer) for answer in answers[:MAX_ADDRESSES]]
    return Target(checked, check_addresses(checked.host, addresses, allow_private=allow_private))


async def _resolve(url: EndpointUrl, resolver: Resolver, seconds: float) -> Sequence[str]:
    try:
        async with asyncio.timeout(seconds):
            return await resolver(url.host, url.port)
    except TimeoutError:
        raise InvalidInput(
            f"the endpoint's host {url.host} did not resolve within {seconds:g} s", URL_FIELD
        ) from None
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
        raise InvalidInput(
            f"the endpoint's host {url.host} does not resolve ({exc})", URL_FIELD
        ) from None


def _address(host: str, answer: str) -> IPAddress:
    try:
        return ipaddress.ip_address(answer)
    except ValueError:
        raise InvalidInput(
            f"the endpoint's host {host} resolves to {answer[:100]!r}, not an IP address",
            URL_FIELD,
        ) from None
