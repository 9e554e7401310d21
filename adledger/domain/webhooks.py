"""Partner webhook endpoints, as rules: which URL may be saved, which addresses it may reach,
what an endpoint may say about itself, when a failed delivery is tried again, and how large
a payload may be. The I/O (DNS, signing, the POST) is in services/webhook_*.py.

An endpoint is a URL our worker will POST to on a partner's word: every rule here exists so
that word cannot turn the worker against us (our own network, a cloud's metadata service)
or make one partner's endpoint cost the platform more than a bounded amount.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from adledger.domain.errors import InvalidInput, InvariantBroken
from adledger.domain.text import clean_text

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 500
MAX_EVENT_TYPES = 50
MAX_PAYLOAD_BYTES = 256 * 1024
# RFC 1035: a name of at most 253 characters, labels of 1 to 63.
MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63

URL_FIELD = ("input", "url")
DESCRIPTION_FIELD = ("input", "description")
EVENT_TYPES_FIELD = ("input", "eventTypes")

DEFAULT_PORTS = {"https": 443, "http": 80}
_HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")

# -- the endpoint's URL --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointUrl:
    """A URL that passed the rules: lower-case scheme and host (an IPv6 host without its
    brackets), the port it connects to, and the URL written the one way we store it."""

    scheme: str
    host: str
    port: int
    url: str

    @property
    def host_header(self) -> str:
        """The `Host` header (and the name TLS checks the certificate against, without the
        port) when the connection goes to an address resolved earlier, not to this name."""
        return _authority(self.scheme, self.host, self.port)


def endpoint_url(raw: str, *, allow_private: bool) -> EndpointUrl:
    """The URL a partner gave, checked; InvalidInput naming ("input", "url") if it breaks a
    rule. Production takes https only; `allow_private` (development, tests) takes http too."""
    if len(raw) > MAX_URL_LENGTH:
        raise _bad_url(f"must have at most {MAX_URL_LENGTH} characters")
    # Printable ASCII without spaces or backslashes: what urlsplit silently drops (tabs,
    # newlines) or what another URL parser reads differently (`\` as `/`) is refused, so
    # the URL we check is the URL we call.
    if not raw.isascii() or not raw.isprintable() or " " in raw or "\\" in raw:
        raise _bad_url(
            "must be printable ASCII without spaces or backslashes (percent-encode the "
            "rest; an international domain name in its xn-- form)"
        )
    try:
        parts = urlsplit(raw)
    except ValueError:  # a bracket left open: "https://[::1/"
        raise _bad_url("is not a valid URL") from None
    scheme = _scheme(parts.scheme, allow_private)
    if "@" in parts.netloc:
        raise _bad_url("must not carry a user name or password (user:pass@)")
    if "#" in raw:
        raise _bad_url("must not have a fragment (#...)")
    host = _host(parts.hostname)
    port = _port(parts, scheme)
    url = urlunsplit((scheme, _authority(scheme, host, port), parts.path or "/", parts.query, ""))
    return EndpointUrl(scheme, host, port, url)


def _scheme(scheme: str, allow_private: bool) -> str:
    scheme = scheme.lower()
    if scheme == "https" or (scheme == "http" and allow_private):
        return scheme
    if scheme == "http":
        raise _bad_url("must use https")
    raise _bad_url(
        "must be an http:// or https:// URL" if allow_private else "must be an https:// URL"
    )


def _host(hostname: str | None) -> str:
    if not hostname:
        raise _bad_url("must name a host")
    host = hostname.rstrip(".")  # the root's dot: "example.com." is "example.com"
    if ":" in host:  # only an IPv6 literal has colons once urlsplit took the port off
        return _ipv6_host(host)
    if len(host) > MAX_HOST_LENGTH:
        raise _bad_url(f"must name a host of at most {MAX_HOST_LENGTH} characters")
    labels = host.split(".")
    if any(not 1 <= len(label) <= MAX_LABEL_LENGTH for label in labels) or any(
        not set(label) <= _HOST_CHARACTERS for label in labels
    ):
        raise _bad_url(f"names {host!r}, which is not a domain name or an IP address")
    return _numeric_host(host, labels[-1])


def _ipv6_host(host: str) -> str:
    if "%" in host:  # a zone id ("fe80::1%eth0") names an interface of our own machine
        raise _bad_url("must not give an IPv6 zone id (%...)")
    try:
        return str(ipaddress.IPv6Address(host))
    except ValueError:
        raise _bad_url(f"names {host!r}, which is not an IPv6 address") from None


def _numeric_host(host: str, last_label: str) -> str:
    """A name ending in a number is an IPv4 address to resolvers (`2130706433`, `127.1`,
    `0x7f.1` all reach 127.0.0.1): take only the dotted-quad form, so what is checked is
    what a reader sees."""
    if not (last_label.isdigit() or last_label.startswith("0x")):
        return host
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        raise _bad_url(
            f"names {host!r}, which is not a domain name; write an IPv4 address as a.b.c.d"
        ) from None


def _port(parts: SplitResult, scheme: str) -> int:
    try:
        port = parts.port
    except ValueError:
        raise _bad_url("port must be a number from 1 to 65535") from None
    if port is None:
        return DEFAULT_PORTS[scheme]
    if port == 0:
        raise _bad_url("port must be a number from 1 to 65535")
    return port


def _authority(scheme: str, host: str, port: int) -> str:
    """host[:port], the port left out when it is the scheme's own, an IPv6 host bracketed."""
    shown = f"[{host}]" if ":" in host else host
    return shown if port == DEFAULT_PORTS[scheme] else f"{shown}:{port}"


def _bad_url(problem: str) -> InvalidInput:
    return InvalidInput(f"the endpoint URL {problem}", URL_FIELD)


# -- the addresses it resolves to ----------------------------------------------------------

METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, and most others
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    }
)
CARRIER_GRADE_NAT = ipaddress.IPv4Network("100.64.0.0/10")
UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def refusal(address: IPAddress) -> str | None:
    """Why the worker must not connect to `address` (None: it may). An IPv6 address that
    carries an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by that one first: it is
    where the packets end up."""
    translated = _translated_ipv4(address)
    if translated is not None:
        inner = refusal(translated)
        return None if inner is None else f"{inner} ({translated}) mapped into IPv6"
    for embedded in _embedded_ipv4(address):
        inner = _own_refusal(embedded)
        if inner is not None:
            return f"{inner} ({embedded}) inside an IPv6 address"
    return _own_refusal(address)


def _own_refusal(address: IPAddress) -> str | None:
    # The most telling name first: 169.254.169.254 is link-local too, ::1 reserved too.
    v4 = isinstance(address, ipaddress.IPv4Address)
    checks = (
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (v4 and address in CARRIER_GRADE_NAT, "a carrier-grade NAT address"),
        (not v4 and address in UNIQUE_LOCAL, "a unique-local address"),
        (_is_site_local(address), "a site-local address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def _is_site_local(address: IPAddress) -> bool:
    return isinstance(address, ipaddress.IPv6Address) and address.is_site_local


def _translated_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: ::ffff:a.b.c.d on a dual-stack socket, and
    64:ff9b::a.b.c.d through a NAT64 gateway (every IPv4 host seen from an IPv6-only network
    with DNS64, so a public one must stay reachable)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses 6to4 and Teredo addresses lead to."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [address.sixtofour, *(address.teredo or ())]
    return [inner for inner in found if inner is not None]


def check_addresses(
    host: str, addresses: Iterable[IPAddress], *, allow_private: bool
) -> tuple[IPAddress, ...]:
    """The addresses, each once, in their order, if every one may be reached; else
    InvalidInput naming the first that may not. All of them, not the first: a client that
    tries the next address when one fails would otherwise reach the refused one."""
    unique = tuple(dict.fromkeys(addresses))
    if not unique:
        raise InvalidInput(f"the endpoint's host {host} resolves to no address", URL_FIELD)
    if allow_private:
        return unique
    for address in unique:
        reason = refusal(address)
        if reason is not None:
            raise InvalidInput(
                f"the endpoint's host {host} resolves to {address}, {reason}; "
                "a webhook endpoint must be reachable on the public internet",
                URL_FIELD,
            )
    return unique


# -- what the endpoint says about itself ----------------------------------------------------


def clean_description(raw: str | None) -> str | None:
    """Whitespace collapsed, at most 500 characters; None or blank: no description."""
    if raw is None or not raw.strip():
        return None
    return clean_text(raw, DESCRIPTION_FIELD, "description")


def check_event_types(
    types: Sequence[str] | None,
    known: frozenset[str],
    field: tuple[str, ...] = EVENT_TYPES_FIELD,
) -> tuple[str, ...] | None:
    """The types an endpoint subscribes to, each once, in the order given; None: every
    type, including those published later. Each must be in `known`, the published list."""
    if types is None:
        return None
    if len(types) > MAX_EVENT_TYPES:
        raise InvalidInput(f"give at most {MAX_EVENT_TYPES} event types", field)
    if not types:
        raise InvalidInput("give at least one event type, or none at all for every type", field)
    for index, name in enumerate(types):
        if name not in known:
            shown = name if len(name) <= 100 else f"{name[:100]}..."
            raise InvalidInput(f"unknown event type {shown!r}", (*field, str(index)))
    return tuple(dict.fromkeys(types))


# -- retries ----------------------------------------------------------------------------

# The Standard Webhooks schedule: after the first failure 5 s, then 5 min, 30 min, 2 h, 5 h,
# and every 10 h after that, until the endpoint has failed for GIVE_UP_AFTER.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
)
GIVE_UP_AFTER = timedelta(days=3)
# Both signatures sign for this long after a rotation, so a partner can deploy the new
# secret without dropping a delivery.
ROTATION_OVERLAP = timedelta(hours=24)


def retry_delay(failures: int) -> timedelta:
    """How long to wait after the `failures`-th failed attempt (1-based) before the next.
    Any count past the table waits its last delay: no growth, so no overflow."""
    if failures < 1:
        raise InvariantBroken(f"a retry follows at least one failure, not {failures}")
    return RETRY_DELAYS[min(failures, len(RETRY_DELAYS)) - 1]


def gives_up(first_failed_at: datetime, now: datetime) -> bool:
    """The endpoint's oldest failure still unresolved is 3 days old: stop retrying and
    disable it (a 2xx resolves its failures, and the clock starts again at the next one)."""
    return now - first_failed_at >= GIVE_UP_AFTER


def next_attempt_at(failures: int, first_failed_at: datetime, now: datetime) -> datetime | None:
    """When to try again after the `failures`-th failure, which happened at `now`; None:
    give up. The last retry is drawn in to the 3-day mark, so an endpoint is disabled after
    3 days of failing, not up to 10 hours later."""
    if gives_up(first_failed_at, now):
        return None
    return min(now + retry_delay(failures), first_failed_at + GIVE_UP_AFTER)


def signing_secrets(
    current: str, previous: str | None, rotated_at: datetime | None, now: datetime
) -> tuple[str, ...]:
    """The secrets that sign a delivery at `now`: the current one, and for 24 hours after a
    rotation the one it replaced."""
    if previous is not None and rotated_at is not None and now - rotated_at < ROTATION_OVERLAP:
        return (current, previous)
    return (current,)


# -- the payload --------------------------------------------------------------------------


def payload_text(event: dict[str, Any], limit: int = MAX_PAYLOAD_BYTES) -> str:
    """The event as the JSON a delivery posts, at most `limit` bytes of UTF-8. A larger
    event keeps its envelope (id, type, sequence, ...) and its object shrinks to the id,
    marked truncated: the partner reads the whole object through the API by that id."""
    text = _json(event)
    if len(text.encode()) <= limit:
        return text
    data = event.get("data")
    object_id = data.get("id") if isinstance(data, dict) else None
    cut = _json({**event, "data": {"id": object_id, "truncated": True}})
    if len(cut.encode()) > limit:
        raise InvariantBroken(f"event {event.get('id')}'s envelope alone exceeds {limit} bytes")
    return cut


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)
