"""Logs an operator can use (issue 24, seen 5): a client's mistake is one INFO line with no
traceback; an unexpected error is one ERROR with its traceback and the request id the
client also gets (X-Request-Id, extensions.requestId); one access line per request."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest

from adledger.resolvers.context import RequestContext
from adledger.schema.ids import to_global_id
from tests.helpers import CREATE_ACCOUNT, Api, UserFactory

REQUEST_ID = re.compile(r"^req_[A-Za-z0-9]{20,}$")
CLIENT_MISTAKES = {
    "missing token": ("{ viewer { email } }", {}),
    "bad enum": (
        "query($s: RefundRequestStatus!) { refundRequests(status: $s) { pageInfo { hasNextPage } } }",
        {"s": "NOPE"},
    ),
    "missing variable": ("query($id: ID!) { wallet(id: $id) { id } }", {}),
    "unknown field": ("{ viewer { nope } }", {}),
}


def _graphql_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("strawberry", "adledger.graphql"))]


@pytest.mark.parametrize("mistake", sorted(CLIENT_MISTAKES))
async def test_a_client_mistake_is_one_info_line_without_traceback(
    api: Api, caplog: pytest.LogCaptureFixture, mistake: str
) -> None:
    # given a client that makes a mistake of its own
    query, variables = CLIENT_MISTAKES[mistake]
    caplog.set_level(logging.DEBUG)
    # when it sends the request
    body = await api.post(query, variables)
    # then it gets its error, and the log holds one INFO line without a traceback
    assert body["errors"], body
    records = _graphql_records(caplog)
    assert [(r.levelname, r.exc_info) for r in records] == [("INFO", None)]
    # (a variable's message is cut before the value the client sent)
    assert body["errors"][0]["message"].split(":")[0] in records[0].getMessage()
    assert "\n" not in records[0].getMessage()


async def test_an_unexpected_error_is_logged_with_its_traceback_and_the_clients_request_id(
    api: Api, users: UserFactory, caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    # given a resolver that fails as nobody meant it to
    async def broken(self: RequestContext) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(RequestContext, "require_actor", broken)
    caplog.set_level(logging.DEBUG)
    # when a client asks
    response = await api.client.post("/graphql", json={"query": "query Me { viewer { email } }"})
    # then the client gets a masked error carrying the request id of its response
    request_id = response.headers["x-request-id"]
    assert REQUEST_ID.match(request_id)
    (error,) = response.json()["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL_ERROR", "requestId": request_id}
    # and the log has the original exception at ERROR, with its traceback and that id
    (logged,) = [r for r in _graphql_records(caplog) if r.levelno >= logging.ERROR]
    assert logged.exc_info is not None and logged.exc_info[0] is RuntimeError
    assert logged.request_id == request_id  # type: ignore[attr-defined]
    assert logged.operation == "Me"  # type: ignore[attr-defined]


async def test_every_response_carries_a_request_id(api: Api) -> None:
    first = await api.client.get("/healthz")
    second = await api.client.post("/graphql", json={"query": "{ __typename }"})

    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(REQUEST_ID.match(i) for i in ids) and ids[0] != ids[1]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("trace-7f3a_B.1", True),
        ("x" * 65, False),
        ("bad id", False),
        ("evil\u00e9", False),
        ("", False),
    ],
)
async def test_a_clients_request_id_is_kept_only_when_short_and_safe(
    api: Api, sent: str, kept: bool
) -> None:
    response = await api.client.get("/healthz", headers={"X-Request-Id": sent.encode()})

    answered = response.headers["x-request-id"]
    assert (answered == sent) is kept
    assert kept or REQUEST_ID.match(answered)


async def test_one_access_line_per_request_names_the_operation(
    api: Api, users: UserFactory, caplog: pytest.LogCaptureFixture
) -> None:
    user = await users.create()
    caplog.set_level(logging.DEBUG)

    response = await api.client.post(
        "/graphql",
        json={"query": "query WhoAmI { viewer { email } }"},
        headers={"Authorization": f"Bearer {user.token}"},
    )

    (line,) = [r for r in caplog.records if r.name == "adledger.access"]
    assert line.levelname == "INFO"
    assert line.getMessage().startswith("POST /graphql 200 ")
    fields = {name: getattr(line, name) for name in ("request_id", "operation", "status")}
    assert fields == {
        "request_id": response.headers["x-request-id"],
        "operation": "WhoAmI",
        "status": 200,
    }
    assert isinstance(line.duration_ms, float)  # type: ignore[attr-defined]


async def test_a_path_cannot_forge_a_log_line(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    # given a path whose percent-encoding decodes to a newline and a fake line, and a long one
    forged = "/graphql%0A2026-01-01 00:00:00,000 ERROR adledger: forged%1B[31m"
    caplog.set_level(logging.DEBUG)
    # when they are requested
    await api.client.get(forged)
    await api.client.get("/" + "x" * 5000)
    # then each access line is one line of printable text, of bounded length
    lines = [r.getMessage() for r in caplog.records if r.name == "adledger.access"]
    assert len(lines) == 2
    assert lines[0].startswith(
        "GET /graphql\\n2026-01-01 00:00:00,000 ERROR adledger: forged\\x1b[31m 404 "
    )
    assert all(line.isprintable() and len(line) < 400 for line in lines)


async def test_json_lines_never_hold_a_token_a_card_or_the_variables(
    api: Api, users: UserFactory, caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    from adledger.app.logs import JsonFormatter, RequestFields

    # given a client with a token, sending a card number in its variables, and a failure
    user = await users.create()
    card = "4242424242424242"

    async def broken(self: RequestContext) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(RequestContext, "require_actor", broken)
    caplog.set_level(logging.DEBUG)
    # when the request is logged as JSON lines
    await api.client.post(
        "/graphql",
        json={
            "query": "query Card($number: ID!) { viewer { email } wallet(id: $number) { id } }",
            "variables": {"number": card},
        },
        headers={"Authorization": f"Bearer {user.token}"},
    )
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    # then each is one JSON object with the fields an operator filters on
    parsed = [json.loads(line) for line in lines]
    access = next(p for p in parsed if p["logger"] == "adledger.access")
    assert set(RequestFields.__annotations__) <= set(access)
    assert access["operation"] == "Card" and access["status"] == 200
    assert access["time"].endswith("Z") and access["level"] == "INFO"
    assert any(p["level"] == "ERROR" and "Traceback" in p.get("exc_info", "") for p in parsed)
    # and none holds the token, the card or the variables
    assert all("\n" not in line for line in lines)
    text = "\n".join(lines)
    assert user.token not in text and card not in text and user.token[:12] not in text


async def test_a_user_error_answer_is_one_info_line_with_its_code_not_its_input(
    api: Api, users: UserFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # given a member asking for an account in a center that does not exist
    user = await users.create()
    variables = {
        "input": {
            "businessCenterId": to_global_id("BusinessCenter", 987654),
            "name": "secret-name-4242",
            "billingOption": "PREPAID",
        }
    }
    caplog.set_level(logging.DEBUG)
    # when the mutation answers its UserError
    data = await api.data(CREATE_ACCOUNT, variables, user.token)
    # then one INFO line names the mutation and the code, and nothing it was sent
    assert data["createAdAccount"]["__typename"] == "NotFoundError"
    (line,) = _graphql_records(caplog)
    assert (line.levelname, line.exc_info) == ("INFO", None)
    assert line.getMessage().startswith("createAdAccount answered NOT_FOUND")
    assert "secret-name" not in line.getMessage()


async def test_a_variables_value_never_reaches_the_log(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    body = await api.post(
        "query($first: Int) { refundRequests(first: $first) { pageInfo { hasNextPage } } }",
        {"first": "4242424242424242"},
    )

    assert "4242424242424242" in body["errors"][0]["message"]  # the client sees its own value
    (line,) = _graphql_records(caplog)
    assert "4242" not in line.getMessage()
    assert line.getMessage() == "client error GRAPHQL_ERROR: Variable '$first' has invalid value"


def test_a_text_line_names_its_request_before_any_traceback() -> None:
    from adledger.app.logs import TextFormatter
    from adledger.request_scope import close_scope, open_scope

    _, token = open_scope("req_0123456789abcdef01234567")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
        text = TextFormatter().format(record)
    finally:
        close_scope(token)

    first, _, rest = text.partition("\n")
    assert first.endswith(" ERROR x: failed [req_0123456789abcdef01234567]")
    assert rest.startswith("Traceback")
