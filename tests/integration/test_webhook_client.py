"""One partner webhook POST against a real local receiver (services/webhook_client.py and
webhook_signing.py): signed so `standardwebhooks` verifies it, bounded in time and in what
it reads, never following a redirect, and connected to the address checked beforehand."""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Iterator, Sequence

import httpx
import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook, WebhookVerificationError
from werkzeug import Request, Response

from adledger.domain.webhooks import endpoint_url
from adledger.services.webhook_client import RESPONSE_BODY_LIMIT, post
from adledger.services.webhook_signing import generate_secret, sign, signed_headers
from adledger.services.webhook_targets import Target, resolve_and_check

BODY = json.dumps({"id": "evt_1", "type": "invoice.paid", "data": {"id": "SW52b2ljZTox"}}).encode()


@pytest.fixture(scope="module")
def receiver() -> Iterator[HTTPServer]:
    """A receiver on 127.0.0.1 answering each request in its own thread, so one a test
    keeps hanging holds no other."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets a hanging handler go at the end of its test."""
    event = threading.Event()
    yield event
    event.set()


def _target(server: HTTPServer, path: str = "/hooks", host: str = "receiver.test") -> Target:
    """The receiver under a name no resolver knows, pinned to 127.0.0.1: a delivery that
    reaches it connected to the checked address, not to whatever the name resolves to."""
    url = endpoint_url(f"http://{host}:{server.port}{path}", allow_private=True)
    return Target(url, (ipaddress.ip_address("127.0.0.1"),))


async def test_a_delivery_is_signed_and_verifies_with_standardwebhooks(
    receiver: HTTPServer,
) -> None:
    receiver.clear()
    secret = generate_secret()
    receiver.expect_oneshot_request("/hooks", method="POST").respond_with_data("thanks")
    headers = signed_headers("evt_1", BODY, [secret])

    result = await post(_target(receiver), BODY, headers)

    assert (result.status_code, result.body, result.error, result.ok) == (200, "thanks", None, True)
    request, _ = receiver.log[0]
    assert Webhook(secret).verify(request.get_data(), dict(request.headers)) == json.loads(BODY)
    assert request.headers["webhook-id"] == "evt_1"
    assert request.headers["Host"] == f"receiver.test:{receiver.port}"
    assert request.headers["Content-Type"] == "application/json"


async def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    headers = signed_headers("evt_2", BODY, [new, old])

    signatures = headers["webhook-signature"].split(" ")

    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    for secret in (old, new):
        assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_the_signature_is_hmac_over_id_timestamp_and_body() -> None:
    # The Standard Webhooks specification's own example.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'

    signature = sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, [secret])

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_secrets_are_new_each_time_and_look_like_standard_webhooks_ones() -> None:
    first, second = generate_secret(), generate_secret()

    assert first != second
    assert first.startswith("whsec_")
    assert len(first) == len("whsec_") + 44  # 32 bytes in base64


async def test_a_redirect_is_not_followed(receiver: HTTPServer) -> None:
    receiver.clear()
    receiver.expect_request("/hooks").respond_with_data(
        "", status=307, headers={"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}
    )
    receiver.expect_request("/elsewhere").respond_with_data("followed")

    result = await post(_target(receiver), BODY, {})

    assert (result.status_code, result.ok, result.error) == (307, False, None)
    assert [request.path for request, _ in receiver.log] == ["/hooks"]


async def test_only_the_first_kilobyte_of_the_answer_is_read(receiver: HTTPServer) -> None:
    receiver.clear()
    receiver.expect_request("/hooks").respond_with_data("é" + "x" * 5 * 1024 * 1024, status=500)

    result = await post(_target(receiver), BODY, {})

    assert result.status_code == 500
    assert result.body == "é" + "x" * (RESPONSE_BODY_LIMIT - 2)
    assert not result.ok


async def test_an_endpoint_that_hangs_is_given_up_on_at_the_timeout(
    receiver: HTTPServer, release: threading.Event
) -> None:
    receiver.clear()

    def hang(request: Request) -> Response:
        release.wait(30)
        return Response("late")

    receiver.expect_request("/slow").respond_with_handler(hang)
    started = time.monotonic()

    result = await post(_target(receiver, "/slow"), BODY, {}, timeout_seconds=0.3)

    assert time.monotonic() - started < 10
    assert (result.status_code, result.body, result.ok) == (None, "", False)
    assert result.error == "no answer within 0.3 s"
    assert result.duration_ms >= 300


async def test_an_answer_whose_body_never_ends_is_a_failure_with_its_status(
    receiver: HTTPServer, release: threading.Event
) -> None:
    receiver.clear()

    def trickle(request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            yield b"ok"
            release.wait(30)
            yield b"never read"

        return Response(chunks(), status=200)

    receiver.expect_request("/trickle").respond_with_handler(trickle)

    result = await post(_target(receiver, "/trickle"), BODY, {}, timeout_seconds=0.3)

    assert result.status_code == 200
    assert result.error == "the answer's body did not end within 0.3 s"
    assert not result.ok


async def test_a_refused_connection_is_a_result_not_an_exception(receiver: HTTPServer) -> None:
    url = endpoint_url("http://receiver.test:1/hooks", allow_private=True)

    result = await post(Target(url, (ipaddress.ip_address("127.0.0.1"),)), BODY, {})

    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("ConnectError: ")


async def test_a_checked_localhost_target_is_delivered_to(receiver: HTTPServer) -> None:
    receiver.clear()
    receiver.expect_oneshot_request("/hooks").respond_with_data("", status=204)

    target = await resolve_and_check(f"http://localhost:{receiver.port}/hooks", allow_private=True)
    result = await post(target, BODY, {})

    assert (result.status_code, result.ok) == (204, True)
    assert receiver.log[0][0].headers["Host"] == f"localhost:{receiver.port}"


# -- what goes on the wire for https, seen by a transport ------------------------------------


class Recorder:
    """A transport answering from `plan` by the address connected to: an exception (the
    connection failed) or a status."""

    def __init__(self, plan: dict[str, int | Exception]) -> None:
        self.plan = plan
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.plan[request.url.host]
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(outcome, stream=httpx.ByteStream(b"ok"))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def _https_target(addresses: Sequence[str]) -> Target:
    url = endpoint_url("https://hooks.example.com:8443/partner?x=1", allow_private=False)
    return Target(url, tuple(ipaddress.ip_address(a) for a in addresses))


async def test_https_connects_to_the_address_and_names_the_host_for_tls() -> None:
    recorder = Recorder({"93.184.216.34": 200})

    result = await post(
        _https_target(["93.184.216.34"]),
        BODY,
        {"webhook-id": "evt_1"},
        transport=recorder.transport(),
    )

    assert result.ok
    (request,) = recorder.requests
    assert str(request.url) == "https://93.184.216.34:8443/partner?x=1"
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert request.headers["accept-encoding"] == "identity"
    assert request.headers["webhook-id"] == "evt_1"
    assert request.content == BODY


async def test_an_ipv6_address_is_bracketed_in_the_url() -> None:
    recorder = Recorder({"2606:4700:4700::1111": 202})

    result = await post(
        _https_target(["2606:4700:4700::1111"]), BODY, {}, transport=recorder.transport()
    )

    assert result.status_code == 202
    assert str(recorder.requests[0].url) == "https://[2606:4700:4700::1111]:8443/partner?x=1"


async def test_the_next_checked_address_is_tried_only_when_one_cannot_be_connected_to() -> None:
    down = httpx.ConnectError("network unreachable")
    recorder = Recorder({"2606:4700:4700::1111": down, "93.184.216.34": 200, "8.8.8.8": 200})

    result = await post(
        _https_target(["2606:4700:4700::1111", "93.184.216.34", "8.8.8.8"]),
        BODY,
        {},
        transport=recorder.transport(),
    )

    assert result.ok
    assert [r.url.host for r in recorder.requests] == ["2606:4700:4700::1111", "93.184.216.34"]


async def test_an_error_answer_is_not_retried_on_another_address() -> None:
    recorder = Recorder({"93.184.216.34": 503, "8.8.8.8": 200})

    result = await post(
        _https_target(["93.184.216.34", "8.8.8.8"]), BODY, {}, transport=recorder.transport()
    )

    assert (result.status_code, result.ok) == (503, False)
    assert len(recorder.requests) == 1
