"""Partner webhook endpoints as rules (domain/webhooks.py): the URLs and addresses a
delivery may reach, what an endpoint may say, the retry schedule, the payload's bound."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adledger.clock import EARLIEST, LATEST
from adledger.domain.errors import InvalidInput, InvariantBroken
from adledger.domain.webhooks import (
    GIVE_UP_AFTER,
    MAX_PAYLOAD_BYTES,
    RETRY_DELAYS,
    EndpointUrl,
    check_addresses,
    check_event_types,
    clean_description,
    endpoint_url,
    gives_up,
    next_attempt_at,
    payload_text,
    refusal,
    retry_delay,
    signing_secrets,
)

FIRST_FAILURE = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
KNOWN = frozenset({"invoice.paid", "invoice.voided", "top_up.paid"})

# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "https://Hooks.Example.COM./partner?x=1",
            EndpointUrl("https", "hooks.example.com", 443, "https://hooks.example.com/partner?x=1"),
        ),
        (
            "HTTPS://hooks.example.com:8443",
            EndpointUrl("https", "hooks.example.com", 8443, "https://hooks.example.com:8443/"),
        ),
        (
            "https://93.184.216.34/h",
            EndpointUrl("https", "93.184.216.34", 443, "https://93.184.216.34/h"),
        ),
        (
            "https://[2606:4700:0:0::1111]:444/h",
            EndpointUrl("https", "2606:4700::1111", 444, "https://[2606:4700::1111]:444/h"),
        ),
        (
            "https://hooks.example.com:443/",
            EndpointUrl("https", "hooks.example.com", 443, "https://hooks.example.com/"),
        ),
    ],
)
def test_an_https_url_is_taken_written_one_way(raw: str, expected: EndpointUrl) -> None:
    assert endpoint_url(raw, allow_private=False) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("http://hooks.example.com/", "must use https"),
        ("ftp://hooks.example.com/", "must be an https:// URL"),
        ("hooks.example.com/h", "must be an https:// URL"),
        ("https://user:pw@hooks.example.com/", "must not carry a user name or password"),
        ("https://hooks.example.com@127.0.0.1/", "must not carry a user name or password"),
        ("https://hooks.example.com/#part", "must not have a fragment"),
        ("https://hooks.example.com/#", "must not have a fragment"),
        ("https:///only-a-path", "must name a host"),
        ("https://hooks.example.com:0/", "port must be a number from 1 to 65535"),
        ("https://hooks.example.com:65536/", "port must be a number from 1 to 65535"),
        ("https://hooks.example.com:http/", "port must be a number from 1 to 65535"),
        ("https://hooks..example.com/", "which is not a domain name or an IP address"),
        ("https://hooks_$.example.com/", "which is not a domain name or an IP address"),
        ("https://2130706433/", "write an IPv4 address as a.b.c.d"),
        ("https://127.1/", "write an IPv4 address as a.b.c.d"),
        ("https://0x7f.0.0.1/", "write an IPv4 address as a.b.c.d"),
        ("https://[::1/", "is not a valid URL"),
        ("https://[fe80::1%25eth0]/", "must not give an IPv6 zone id"),
        ("https://hooks.example.com/a b", "printable ASCII without spaces or backslashes"),
        ("https://hooks.example.com\\@127.0.0.1/", "printable ASCII without spaces or backslashes"),
        ("https://hooks.example.com/\n", "printable ASCII without spaces or backslashes"),
        ("https://bücher.example/", "printable ASCII without spaces or backslashes"),
    ],
)
def test_a_url_breaking_a_rule_is_refused_saying_which(raw: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        endpoint_url(raw, allow_private=False)

    assert problem in refused.value.message
    assert refused.value.field == ("input", "url")


def test_a_url_is_at_most_2048_characters() -> None:
    base = "https://hooks.example.com/"
    longest = base + "a" * (2048 - len(base))

    assert endpoint_url(longest, allow_private=False).url == longest
    with pytest.raises(InvalidInput, match="at most 2048 characters"):
        endpoint_url(longest + "a", allow_private=False)


def test_a_host_name_is_at_most_253_characters() -> None:
    name = ".".join(["a" * 63] * 4)  # 255 characters

    with pytest.raises(InvalidInput, match="host of at most 253 characters"):
        endpoint_url(f"https://{name}/", allow_private=False)


def test_http_is_taken_only_when_private_targets_are_allowed() -> None:
    url = endpoint_url("http://localhost:3000/hooks", allow_private=True)

    assert url == EndpointUrl("http", "localhost", 3000, "http://localhost:3000/hooks")
    assert url.host_header == "localhost:3000"


@pytest.mark.parametrize(
    ("raw", "header"),
    [
        ("https://hooks.example.com/", "hooks.example.com"),
        ("https://hooks.example.com:8443/", "hooks.example.com:8443"),
        ("http://[::1]:80/", "[::1]"),
        ("http://[::1]:3000/", "[::1]:3000"),
    ],
)
def test_the_host_header_names_the_endpoint_not_the_address(raw: str, header: str) -> None:
    assert endpoint_url(raw, allow_private=True).host_header == header


# -- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.0.9", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.1.1", "a link-local address"),
        ("0.0.0.0", "the unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a private address"),
        ("100.64.0.1", "a carrier-grade NAT address"),
        ("100.127.255.254", "a carrier-grade NAT address"),
        ("::1", "a loopback address"),
        ("::", "the unspecified address"),
        ("fe80::1", "a link-local address"),
        ("fe80::1%eth0", "a link-local address"),
        ("fd00::1", "a unique-local address"),
        ("fc00::1", "a unique-local address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("fec0::1", "a site-local address"),
        ("ff02::1", "a multicast address"),
        ("::ffff:127.0.0.1", "a loopback address (127.0.0.1) mapped into IPv6"),
        ("::ffff:10.0.0.1", "a private address (10.0.0.1) mapped into IPv6"),
        ("::ffff:169.254.169.254", "a cloud metadata address (169.254.169.254) mapped into IPv6"),
        ("::ffff:100.64.0.1", "a carrier-grade NAT address (100.64.0.1) mapped into IPv6"),
        ("64:ff9b::a00:1", "a private address (10.0.0.1) mapped into IPv6"),
        ("2002:7f00:1::", "a loopback address (127.0.0.1) inside an IPv6 address"),
        ("2002:a9fe:a9fe::", "a cloud metadata address (169.254.169.254) inside an IPv6 address"),
    ],
)
def test_addresses_of_our_own_network_are_refused(address: str, reason: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_are_reachable(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_one_refused_address_among_public_ones_refuses_the_host() -> None:
    addresses = [ipaddress.ip_address(a) for a in ("93.184.216.34", "10.0.0.1", "8.8.8.8")]

    with pytest.raises(InvalidInput) as refused:
        check_addresses("hooks.example.com", addresses, allow_private=False)

    assert refused.value.message == (
        "the endpoint's host hooks.example.com resolves to 10.0.0.1, a private address; "
        "a webhook endpoint must be reachable on the public internet"
    )
    assert refused.value.field == ("input", "url")


def test_the_addresses_come_back_each_once_in_their_order() -> None:
    a, b = ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("2606:4700:4700::1111")

    assert check_addresses("h.example", [b, a, b, a], allow_private=False) == (b, a)


def test_private_addresses_are_reachable_when_allowed() -> None:
    local = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]

    assert check_addresses("localhost", local, allow_private=True) == tuple(local)


def test_a_host_resolving_to_nothing_is_refused_even_when_private_is_allowed() -> None:
    with pytest.raises(InvalidInput, match="resolves to no address"):
        check_addresses("h.example", [], allow_private=True)


@given(st.ip_addresses(v=4))
def test_every_refused_ipv4_address_is_refused_mapped_into_ipv6_too(
    address: ipaddress.IPv4Address,
) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")

    assert (refusal(mapped) is None) == (refusal(address) is None)


@given(st.ip_addresses())
def test_no_address_the_rule_lets_through_is_anything_but_global(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    if refusal(address) is None:
        assert address.is_global
        assert not address.is_private
        assert not address.is_loopback


# -- description and event types -----------------------------------------------------------


def test_a_description_is_clean_text_of_at_most_500_characters() -> None:
    assert clean_description("  Orders\n\tservice  ") == "Orders service"
    assert clean_description(None) is None
    assert clean_description("   ") is None
    assert clean_description("d" * 500) == "d" * 500
    with pytest.raises(InvalidInput) as refused:
        clean_description("d" * 501)
    assert refused.value.field == ("input", "description")
    assert refused.value.message == "description must have 1 to 500 characters"


def test_event_types_are_checked_against_the_published_list() -> None:
    assert check_event_types(None, KNOWN) is None
    assert check_event_types(["invoice.paid", "top_up.paid", "invoice.paid"], KNOWN) == (
        "invoice.paid",
        "top_up.paid",
    )


def test_an_unknown_event_type_is_named_with_its_place() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_event_types(["invoice.paid", "invoice.exploded"], KNOWN)

    assert refused.value.message == "unknown event type 'invoice.exploded'"
    assert refused.value.field == ("input", "eventTypes", "1")


def test_at_most_50_event_types_and_at_least_one() -> None:
    many = sorted(f"t{n}" for n in range(51))

    assert check_event_types(many[:50], frozenset(many)) == tuple(many[:50])
    with pytest.raises(InvalidInput, match="at most 50 event types"):
        check_event_types(many, frozenset(many))
    with pytest.raises(InvalidInput, match="at least one event type"):
        check_event_types([], KNOWN)


# -- retries ----------------------------------------------------------------------------


def test_the_schedule_is_standard_webhooks() -> None:
    assert [retry_delay(n) for n in range(1, 10)] == [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
        timedelta(hours=10),
        timedelta(hours=10),
    ]


def test_a_retry_follows_a_failure() -> None:
    with pytest.raises(InvariantBroken):
        retry_delay(0)


@given(st.integers(min_value=1, max_value=10**30))
def test_delays_never_decrease_nor_grow_past_ten_hours(failures: int) -> None:
    assert retry_delay(failures) <= retry_delay(failures + 1) <= timedelta(hours=10)


def test_the_schedule_covers_three_days() -> None:
    # Without drawing the last retry in, 12 waits cover 3 days, 11 do not.
    assert sum((retry_delay(n) for n in range(1, 12)), timedelta()) < GIVE_UP_AFTER
    assert sum((retry_delay(n) for n in range(1, 13)), timedelta()) >= GIVE_UP_AFTER


@given(
    st.datetimes(
        min_value=EARLIEST.replace(tzinfo=None),
        max_value=(LATEST - timedelta(days=4)).replace(tzinfo=None),
        timezones=st.just(UTC),
    )
)
def test_retrying_every_failure_gives_up_at_the_three_day_mark(first: datetime) -> None:
    attempts = [first]
    while (after := next_attempt_at(len(attempts), first, attempts[-1])) is not None:
        attempts.append(after)

    assert attempts[-1] == first + GIVE_UP_AFTER
    assert len(attempts) == 13
    assert all(a < b for a, b in pairwise(attempts))
    assert gives_up(first, attempts[-1])
    assert not gives_up(first, attempts[-2])


@given(st.integers(min_value=1, max_value=10**30), st.timedeltas(timedelta(0), timedelta(days=3)))
def test_huge_attempt_numbers_wait_ten_hours_at_most(failures: int, since: timedelta) -> None:
    now = FIRST_FAILURE + since
    after = next_attempt_at(failures, FIRST_FAILURE, now)

    if since >= GIVE_UP_AFTER:
        assert after is None
    else:
        assert after is not None
        assert now < after <= min(now + timedelta(hours=10), FIRST_FAILURE + GIVE_UP_AFTER)


def test_the_first_retries_keep_their_delays() -> None:
    assert next_attempt_at(1, FIRST_FAILURE, FIRST_FAILURE) == FIRST_FAILURE + RETRY_DELAYS[0]
    later = FIRST_FAILURE + timedelta(hours=1)
    assert next_attempt_at(3, FIRST_FAILURE, later) == later + timedelta(minutes=30)


def test_the_old_secret_signs_for_24_hours_after_a_rotation() -> None:
    rotated = FIRST_FAILURE

    assert signing_secrets("new", "old", rotated, rotated) == ("new", "old")
    assert signing_secrets("new", "old", rotated, rotated + timedelta(hours=23, minutes=59)) == (
        "new",
        "old",
    )
    assert signing_secrets("new", "old", rotated, rotated + timedelta(hours=24)) == ("new",)
    assert signing_secrets("only", None, None, rotated) == ("only",)


# -- the payload --------------------------------------------------------------------------


def _event(data: dict[str, object]) -> dict[str, object]:
    return {
        "id": "evt_1",
        "type": "invoice.paid",
        "sequence": 7,
        "createdAt": "2026-11-30T09:30:00+00:00",
        "data": data,
    }


def test_an_event_within_256_kb_is_posted_whole() -> None:
    event = _event({"id": "SW52b2ljZTox", "number": "INV-1", "note": "é"})

    text = payload_text(event)

    assert json.loads(text) == event
    assert "é" in text


def test_a_larger_event_keeps_its_envelope_and_the_objects_id() -> None:
    event = _event({"id": "SW52b2ljZTox", "lines": ["x" * 1000] * 300})

    text = payload_text(event)

    assert len(text.encode()) <= MAX_PAYLOAD_BYTES
    assert json.loads(text) == {**event, "data": {"id": "SW52b2ljZTox", "truncated": True}}


def test_the_bound_counts_bytes_not_characters() -> None:
    event = _event({"id": "x", "note": "é" * 200})  # 200 characters, 400 bytes
    size = len(payload_text(event).encode())

    assert json.loads(payload_text(event, limit=size)) == event
    assert json.loads(payload_text(event, limit=size - 1))["data"] == {"id": "x", "truncated": True}


def test_where_http_is_allowed_a_refused_scheme_names_both() -> None:
    with pytest.raises(InvalidInput, match="must be an http:// or https:// URL"):
        endpoint_url("ftp://localhost/hooks", allow_private=True)
