"""Where a partner webhook may go (services/webhook_targets.py): every address a host
resolves to is checked, when the URL is saved and again before each delivery."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Sequence

import pytest

from adledger.domain.errors import InvalidInput
from adledger.domain.webhooks import endpoint_url
from adledger.services.webhook_targets import resolve_and_check

URL = "https://hooks.example.com/partner"


class FakeDns:
    """Answers each lookup with the next answer given (the last one again when out)."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append((host, port))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


async def test_a_host_resolving_to_public_addresses_is_a_target() -> None:
    dns = FakeDns(["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])

    target = await resolve_and_check(URL, allow_private=False, resolver=dns)

    assert target.url == endpoint_url(URL, allow_private=False)
    assert target.addresses == (
        ipaddress.ip_address("93.184.216.34"),
        ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"),
    )
    assert dns.asked == [("hooks.example.com", 443)]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address (127.0.0.1) mapped into IPv6"),
        ("100.64.0.1", "a carrier-grade NAT address"),
        ("fd00::1", "a unique-local address"),
    ],
)
async def test_a_host_resolving_to_our_own_network_is_refused(address: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await resolve_and_check(URL, allow_private=False, resolver=FakeDns([address]))

    shown = ipaddress.ip_address(address)  # ::ffff:7f00:1 on Python 3.11
    assert refused.value.message == (
        f"the endpoint's host hooks.example.com resolves to {shown}, {reason}; "
        "a webhook endpoint must be reachable on the public internet"
    )
    assert refused.value.field == ("input", "url")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/h",
        "https://10.0.0.1/h",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/h",
        "https://[::ffff:127.0.0.1]/h",
    ],
)
async def test_an_address_written_in_the_url_is_refused_too(url: str) -> None:
    # The operating system's resolver answers an IP literal with itself.
    with pytest.raises(InvalidInput, match="must be reachable on the public internet"):
        await resolve_and_check(url, allow_private=False)


async def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    dns = FakeDns(["93.184.216.34", "10.0.0.1"])

    with pytest.raises(InvalidInput, match=re.escape("resolves to 10.0.0.1, a private address")):
        await resolve_and_check(URL, allow_private=False, resolver=dns)


async def test_a_dns_change_after_saving_is_caught_at_the_next_check() -> None:
    dns = FakeDns(["93.184.216.34"], ["127.0.0.1"])
    saved = await resolve_and_check(URL, allow_private=False, resolver=dns)

    with pytest.raises(InvalidInput, match=re.escape("resolves to 127.0.0.1, a loopback address")):
        await resolve_and_check(saved.url, allow_private=False, resolver=dns)

    assert dns.asked == [("hooks.example.com", 443)] * 2


async def test_private_targets_are_allowed_when_the_setting_says_so() -> None:
    target = await resolve_and_check(
        "http://localhost:3000/hooks", allow_private=True, resolver=FakeDns(["127.0.0.1", "::1"])
    )

    assert [str(a) for a in target.addresses] == ["127.0.0.1", "::1"]
    assert target.url.url == "http://localhost:3000/hooks"


async def test_the_url_rules_apply_before_any_lookup() -> None:
    dns = FakeDns(["93.184.216.34"])

    with pytest.raises(InvalidInput, match="must use https"):
        await resolve_and_check("http://hooks.example.com/", allow_private=False, resolver=dns)

    assert dns.asked == []


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    async def no_such_host(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(InvalidInput) as refused:
        await resolve_and_check(URL, allow_private=False, resolver=no_such_host)

    assert refused.value.message.startswith(
        "the endpoint's host hooks.example.com does not resolve"
    )
    assert refused.value.field == ("input", "url")


async def test_a_resolver_that_hangs_is_given_up_on() -> None:
    async def hangs(host: str, port: int) -> Sequence[str]:
        await asyncio.Event().wait()
        return []

    with pytest.raises(InvalidInput, match=re.escape("did not resolve within 0.05 s")):
        await resolve_and_check(URL, allow_private=False, resolver=hangs, timeout_seconds=0.05)


async def test_a_resolver_answering_no_address_is_refused() -> None:
    with pytest.raises(InvalidInput, match="resolves to no address"):
        await resolve_and_check(URL, allow_private=False, resolver=FakeDns([]))


async def test_the_system_resolver_finds_localhost_and_it_is_refused() -> None:
    with pytest.raises(InvalidInput, match="a loopback address"):
        await resolve_and_check("https://localhost/", allow_private=False)
