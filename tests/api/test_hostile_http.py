"""Hostile HTTP input costs little and changes nothing: capped bodies (413), JSON nested
too deeply (400), and webhook events that are forged, malformed or signed for another
time (400, nothing stored, so Stripe never retries them for days)."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from adledger.app.settings import SANDBOX_WEBHOOK_SECRET
from adledger.payments import signing
from adledger.payments.signing import sign_payload
from adledger.store.models import WebhookEvent

MIB = 1024 * 1024


def _event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": "evt_hostile",
        "object": "event",
        "type": "invoice.paid",
        "data": {"object": {"id": "in_sandbox_unknown", "object": "invoice"}},
    }
    event.update(overrides)
    return event


async def _post_event(api, payload: bytes, timestamp: int | None = None) -> Any:
    header = sign_payload(payload, SANDBOX_WEBHOOK_SECRET, timestamp or int(time.time()))
    return await api.client.post(
        "/webhooks/stripe",
        content=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


async def _stored_events(sessions) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(WebhookEvent))


# Request bodies ---------------------------------------------------------------------


async def test_a_graphql_body_over_one_mebibyte_is_413_with_a_graphql_error(api) -> None:
    body = b'{"query": "{ __typename }", "pad": "' + b"x" * MIB + b'"}'

    response = await api.client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "TOO_LARGE"
    assert "1048576 bytes" in response.json()["errors"][0]["message"]


async def test_a_streamed_body_without_a_length_is_cut_off_at_the_cap(api) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):  # 64 x 64 KiB = 4 MiB offered
            sent.append(1)
            yield b" " * (64 * 1024)

    response = await api.client.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert "content-length" not in response.request.headers


async def test_a_body_just_under_the_cap_is_served(api) -> None:
    query = "{ __typename }" + " " * (MIB - 200)

    response = await api.client.post("/graphql", json={"query": query})

    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_webhook_body_over_256_kib_is_413_before_its_signature_is_checked(
    api, sessions, monkeypatch
) -> None:
    checked: list[bytes] = []
    monkeypatch.setattr(signing, "_verify_signature", lambda p, *_: checked.append(p))
    payload = json.dumps(_event(pad="x" * 256 * 1024)).encode()

    response = await _post_event(api, payload)

    assert response.status_code == 413
    assert response.json() == {"error": "the request body is larger than 262144 bytes"}
    assert checked == []
    assert await _stored_events(sessions) == 0


async def test_deeply_nested_graphql_json_is_a_400_not_a_500(api) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    body = '{"query": "{ __typename }", "variables": {"a": ' + nested + "}}"

    response = await api.client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400


async def test_deeply_nested_variables_in_a_get_request_are_a_400(api) -> None:
    response = await api.client.get(
        "/graphql",
        params={"query": "{ __typename }", "variables": "[" * 5000 + "]" * 5000},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 400


QUERY = '{"query": "{ __typename }"}'
GRAPHQL_RESPONSE = "application/graphql-response+json"
NOT_UTF8 = {
    "undecodable": b"\x80abc",
    "utf-16 with its byte order mark": QUERY.encode("utf-16"),
    "utf-16 big-endian with its mark": b"\xfe\xff" + QUERY.encode("utf-16-be"),
    "utf-16 without a mark": QUERY.encode("utf-16-le"),
    "utf-32": QUERY.encode("utf-32"),
    "latin-1": '{"query": "{ __typename }", "operationName": "caf\u00e9"}'.encode("latin-1"),
    "a utf-8 byte order mark": b"\xef\xbb\xbf" + QUERY.encode(),
}


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
@pytest.mark.parametrize("body", NOT_UTF8.values(), ids=NOT_UTF8.keys())
async def test_a_body_that_is_not_utf8_json_is_a_400_with_a_graphql_error_body(
    api, caplog, body: bytes, accept: str
) -> None:
    # when a GraphQL request's body is not UTF-8 JSON text
    with caplog.at_level(logging.WARNING):
        response = await api.client.post(
            "/graphql", content=body, headers={"Content-Type": "application/json", "Accept": accept}
        )

    # then it is a bad request, answered as GraphQL over HTTP, and nothing is logged
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(accept)
    answer = response.json()
    assert list(answer) == ["errors"]
    assert [list(error) for error in answer["errors"]] == [["message"]]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_the_undecodable_byte_is_named(api) -> None:
    response = await api.client.post(
        "/graphql", content=b'{"query": "\x80"}', headers={"Content-Type": "application/json"}
    )

    assert response.json() == {
        "errors": [{"message": "the request body is not UTF-8 text (byte 11 cannot be decoded)"}]
    }


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_a_body_of_another_content_type_is_a_400_with_a_graphql_error_body(
    api, accept: str
) -> None:
    response = await api.client.post(
        "/graphql", content=QUERY, headers={"Content-Type": "text/plain", "Accept": accept}
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith(accept)
    assert response.json() == {"errors": [{"message": "Unsupported content type"}]}


# Webhooks ---------------------------------------------------------------------------


async def test_the_signature_is_checked_on_raw_bytes_before_any_json_is_parsed(
    api, monkeypatch
) -> None:
    parsed: list[str] = []
    original = signing.json.loads
    monkeypatch.setattr(signing.json, "loads", lambda text: parsed.append(text) or original(text))
    payload = json.dumps(_event()).encode()

    response = await api.client.post(
        "/webhooks/stripe",
        content=payload,
        headers={"Stripe-Signature": sign_payload(payload, "whsec_forged")},
    )

    assert response.status_code == 400
    assert parsed == []


async def test_deeply_nested_webhook_json_is_a_400(api, sessions) -> None:
    payload = b'{"id": "evt_deep", "type": "invoice.paid", "x": ' + b"[" * 100_000 + b"]" * 100_000
    payload += b"}"

    response = await _post_event(api, payload)

    assert response.status_code == 400
    assert await _stored_events(sessions) == 0


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({k: v for k, v in _event().items() if k != "id"}, id="no-id"),
        pytest.param({k: v for k, v in _event().items() if k != "type"}, id="no-type"),
        pytest.param(_event(id=""), id="empty-id"),
        pytest.param(_event(id=12345), id="numeric-id"),
        pytest.param(_event(type=None), id="null-type"),
        pytest.param(_event(id="evt_" + "x" * 252), id="id-of-256-chars"),
        pytest.param(_event(type="invoice." + "x" * 100), id="type-too-long"),
        pytest.param(_event(id="evt_\u0000nul"), id="nul-in-id"),
        pytest.param(_event(type="invoice.paid\u0000"), id="nul-in-type"),
        pytest.param(
            _event(data={"object": {"id": "in_1", "metadata": {"note": "a\u0000b"}}}),
            id="nul-deep-inside",
        ),
        pytest.param(_event(data={"object": {"id": "in_1", "k\u0000": 1}}), id="nul-in-a-key"),
        pytest.param(_event(id="evt_\nline"), id="control-char-in-id"),
        pytest.param(_event(data={}), id="invoice-event-without-object"),
        pytest.param(_event(data={"object": {"id": ["in_1"]}}), id="invoice-id-not-a-string"),
    ],
)
async def test_malformed_events_are_400_and_nothing_is_stored(
    api, sessions, event: dict[str, Any]
) -> None:
    response = await _post_event(api, json.dumps(event).encode())

    assert response.status_code == 400, response.text
    assert await _stored_events(sessions) == 0


async def test_an_event_id_of_255_chars_is_accepted(api, sessions) -> None:
    event = _event(id="evt_" + "x" * 251, type="customer.created", data={"object": {}})

    response = await _post_event(api, json.dumps(event).encode())

    assert response.status_code == 200
    assert response.json()["outcome"] == "IGNORED"
    assert await _stored_events(sessions) == 1


async def test_a_body_that_is_not_utf8_is_400(api) -> None:
    response = await _post_event(api, b'{"id": "evt_\xff", "type": "invoice.paid"}')

    assert response.status_code == 400


@pytest.mark.parametrize("offset", [301, 3600, 10**9])
async def test_a_timestamp_beyond_the_tolerance_in_the_future_is_refused(
    api, sessions, offset: int
) -> None:
    payload = json.dumps(_event(type="customer.created")).encode()

    # Rounded up: int() rounds down, and a request crossing the next second then came
    # within the tolerance (a 301 s offset checked as 300.x, accepted now and then).
    response = await _post_event(api, payload, timestamp=math.ceil(time.time()) + offset)

    assert response.status_code == 400
    assert "tolerance" in response.json()["error"]
    assert await _stored_events(sessions) == 0


async def test_a_timestamp_slightly_ahead_within_the_tolerance_is_accepted(api) -> None:
    payload = json.dumps(_event(type="customer.created")).encode()

    response = await _post_event(api, payload, timestamp=int(time.time()) + 200)

    assert response.status_code == 200


async def test_an_overlong_signature_header_is_refused_without_hashing(api) -> None:
    payload = json.dumps(_event()).encode()

    response = await api.client.post(
        "/webhooks/stripe",
        content=payload,
        headers={"Stripe-Signature": "t=1," + "v1=" + "a" * 64 * 100},
    )

    assert response.status_code == 400
