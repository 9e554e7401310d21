"""Partner webhook endpoints through GraphQL (issue 26): ADMIN and FINANCE_MANAGER create,
change, disable, delete them, rotate their secret, send a test event, redeliver one event
or replay the feed; the finance roles and staff read them and their delivery log; nobody
else does, and nobody of another center learns they exist."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from adledger import clock
from adledger.domain.webhooks import signing_secrets
from adledger.schema.ids import to_cursor, to_global_id
from adledger.services import webhook_endpoints as service
from adledger.services.webhook_endpoints import TargetRules
from adledger.store.webhook_models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from tests.api.webhook_endpoint_fixtures import (
    DELETE,
    DELIVERIES,
    ENDPOINTS,
    MANAGED_FIELDS,
    NODE,
    PUBLIC,
    REDELIVER,
    REPLAY,
    ROTATE,
    SEND_TEST,
    UPDATE,
    Dns,
    an_endpoint,
    call,
    count_statements,
    create_endpoint,
    endpoint_row,
    error_of,
    insert_attempts,
    insert_message,
    manage_all,
    messages_of,
    read_feed,
)
from tests.helpers import add_member, create_center, subscribe, top_up


@pytest.fixture
def dns(app: Any) -> Dns:
    """The app's URL checks resolve through a stub; private targets allowed, as the suite
    runs (WEBHOOK_ALLOW_PRIVATE_TARGETS)."""
    stub = Dns()
    app.state.adledger.webhook_targets = TargetRules(allow_private=True, resolver=stub)
    return stub


@pytest.fixture
def production(app: Any, dns: Dns) -> Dns:
    """Production's rules: https only, public addresses only."""
    app.state.adledger.webhook_targets = TargetRules(allow_private=False, resolver=dns)
    return dns


@pytest.fixture
async def center(api, users, dns):
    """A center on the PRO plan paid from its balance: its feed holds invoice.opened and
    invoice.paid (sequences 1 and 2)."""
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, "399.00")
    assert (await subscribe(api, center))["__typename"] == "SubscribeToPlanSuccess"
    return center


# -- create -----------------------------------------------------------------------------


async def test_an_admin_creates_an_endpoint_and_sees_its_secret_once(api, center, sessions) -> None:
    # given a center whose feed holds two events
    # when its admin creates an endpoint for two event types
    made = await create_endpoint(
        api,
        center,
        url="https://Hooks.Example.com/partner?x=1",
        eventTypes=["invoice.paid", "top_up.paid", "invoice.paid"],
        description="  Our   ledger  ",
    )
    # then it is enabled, its URL written the one way it is stored, its types each once
    assert made["__typename"] == "CreateWebhookEndpointSuccess"
    endpoint = made["endpoint"]
    assert {k: v for k, v in endpoint.items() if k not in ("id", "createdAt")} == {
        "url": "https://hooks.example.com/partner?x=1",
        "description": "Our ledger",
        "eventTypes": ["invoice.paid", "top_up.paid"],
        "status": "ENABLED",
        "disabledReason": None,
    }
    # and the secret is a Standard Webhooks one, stored, and no field of the endpoint
    assert made["secret"].startswith("whsec_") and len(made["secret"]) == 6 + 44
    row = await endpoint_row(sessions, endpoint["id"])
    assert row is not None and row.secret == made["secret"]
    listed = await api.data(ENDPOINTS, {"id": center.id}, center.admin.token)
    assert listed["businessCenter"]["webhookEndpoints"] == [endpoint]
    fields = await api.data('{ __type(name: "WebhookEndpoint") { fields { name } } }')
    assert "secret" not in {f["name"] for f in fields["__type"]["fields"]}
    # and it receives the events from now on: its cursor is the center's last sequence
    assert (row.cursor, row.created_by_user_id is not None) == (2, True)


async def test_no_event_types_means_every_type(api, center) -> None:
    endpoint = await an_endpoint(api, center)

    assert endpoint["eventTypes"] == []


async def test_the_eleventh_endpoint_of_a_center_is_refused(api, center, sessions) -> None:
    # given a center with 10 endpoints
    for index in range(10):
        await an_endpoint(api, center, url=f"https://hooks.example.com/{index}")
    # when an 11th is created
    answer = await create_endpoint(api, center, url="https://hooks.example.com/11")
    # then it is refused, saying why, and there are still 10
    assert error_of(answer) == ("InvalidInputError", "INVALID_INPUT", ["input", "businessCenterId"])
    assert "at most 10 webhook endpoints" in answer["message"]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 10


async def test_an_unknown_event_type_is_named(api, center, sessions) -> None:
    answer = await create_endpoint(api, center, eventTypes=["invoice.paid", "invoice.exploded"])

    assert error_of(answer) == ("InvalidInputError", "INVALID_INPUT", ["input", "eventTypes", "1"])
    assert "'invoice.exploded'" in answer["message"]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


async def test_a_description_longer_than_500_characters_is_refused(api, center) -> None:
    answer = await create_endpoint(api, center, description="x" * 501)

    assert error_of(answer) == ("InvalidInputError", "INVALID_INPUT", ["input", "description"])
    assert "500" in answer["message"]


# -- the URL in production ----------------------------------------------------------------


async def test_production_refuses_an_http_url(api, center, production) -> None:
    answer = await create_endpoint(api, center, url="http://hooks.example.com/a")

    assert error_of(answer) == ("InvalidInputError", "INVALID_INPUT", ["input", "url"])
    assert "https" in answer["message"]
    assert production.asked == []  # refused before any DNS


REFUSED = [
    ("127.0.0.1", "loopback"),
    ("10.0.0.1", "private"),
    ("169.254.169.254", "metadata"),
    ("::1", "loopback"),
]


@pytest.mark.parametrize(("address", "reason"), REFUSED, ids=[a for a, _ in REFUSED])
async def test_production_refuses_a_host_resolving_to_a_local_address(
    api, center, production, address, reason
) -> None:
    # given a host that resolves to a local address
    production.answers["inside.example.com"] = [PUBLIC, address]
    # when an endpoint is created for it
    answer = await create_endpoint(api, center, url="https://inside.example.com/hooks")
    # then it is refused, naming the address and why
    assert error_of(answer) == ("InvalidInputError", "INVALID_INPUT", ["input", "url"])
    assert address in answer["message"] and reason in answer["message"]


@pytest.mark.parametrize(("address", "reason"), REFUSED, ids=[a for a, _ in REFUSED])
async def test_production_refuses_a_url_whose_dns_changed_when_it_is_saved_again(
    api, center, production, sessions, address, reason
) -> None:
    # given an endpoint saved while its host was public
    endpoint = await an_endpoint(api, center, url="https://moving.example.com/hooks")
    # when its host now resolves to a local address and the URL is saved again
    production.answers["moving.example.com"] = [address]
    answer = await call(
        api,
        UPDATE,
        center.admin.token,
        endpointId=endpoint["id"],
        url="https://moving.example.com/v2",
    )
    # then it is refused and the endpoint keeps its URL
    assert error_of(answer) == ("InvalidInputError", "INVALID_INPUT", ["input", "url"])
    assert address in answer["message"] and reason in answer["message"]
    assert (await endpoint_row(sessions, endpoint["id"])).url == "https://moving.example.com/hooks"


async def test_production_refuses_a_literal_loopback_address(api, center, production) -> None:
    answer = await create_endpoint(api, center, url="https://[::1]:8443/hooks")

    assert error_of(answer) == ("InvalidInputError", "INVALID_INPUT", ["input", "url"])
    assert "loopback" in answer["message"]


async def test_production_takes_a_public_https_url(api, center, production) -> None:
    endpoint = await an_endpoint(api, center, url="https://hooks.example.com/ok")

    assert endpoint["url"] == "https://hooks.example.com/ok"
    assert production.asked == ["hooks.example.com"]


# -- update, disable, enable ----------------------------------------------------------------


async def test_an_update_changes_only_what_it_gives(api, center, sessions) -> None:
    # given an endpoint with a description and one type
    endpoint = await an_endpoint(api, center, eventTypes=["invoice.paid"], description="first")
    # when its URL and types change, then its description is cleared
    changed = await call(
        api,
        UPDATE,
        center.admin.token,
        endpointId=endpoint["id"],
        url="https://hooks.example.com/b",
        eventTypes=["top_up.paid", "credit.issued"],
    )
    cleared = await call(
        api, UPDATE, center.admin.token, endpointId=endpoint["id"], description=None
    )
    # then each call changed what it gave and kept the rest
    assert changed["endpoint"] | {"createdAt": None} == endpoint | {
        "url": "https://hooks.example.com/b",
        "eventTypes": ["top_up.paid", "credit.issued"],
        "createdAt": None,
    }
    assert cleared["endpoint"] == changed["endpoint"] | {"description": None}


async def test_an_update_with_a_bad_type_changes_nothing(api, center, sessions) -> None:
    endpoint = await an_endpoint(api, center, eventTypes=["invoice.paid"])

    answer = await call(
        api,
        UPDATE,
        center.admin.token,
        endpointId=endpoint["id"],
        url="https://hooks.example.com/b",
        eventTypes=["nope"],
    )

    assert error_of(answer) == ("InvalidInputError", "INVALID_INPUT", ["input", "eventTypes", "0"])
    row = await endpoint_row(sessions, endpoint["id"])
    assert (row.url, row.event_types) == ("https://hooks.example.com/a", ["invoice.paid"])


async def test_disabled_then_enabled_it_receives_events_from_then_on(
    api, center, sessions, time_travel
) -> None:
    # given an endpoint (cursor 2) with a message still pending, due in an hour
    endpoint = await an_endpoint(api, center)
    events = await read_feed(api, center)
    await insert_message(sessions, endpoint["id"], events[1], due_in=timedelta(hours=1))
    # when a member disables it, the center tops up meanwhile, and it is enabled again
    disabled = await call(
        api, UPDATE, center.admin.token, endpointId=endpoint["id"], status="DISABLED"
    )
    await top_up(api, center.wallet_id, center.admin.token, amount="100.00")
    last = len(await read_feed(api, center))
    enabled = await call(
        api, UPDATE, center.admin.token, endpointId=endpoint["id"], status="ENABLED"
    )
    # then it was disabled by a member, and once enabled takes events after the top-up's
    assert (disabled["endpoint"]["status"], disabled["endpoint"]["disabledReason"]) == (
        "DISABLED",
        "disabled by a member",
    )
    assert (enabled["endpoint"]["status"], enabled["endpoint"]["disabledReason"]) == (
        "ENABLED",
        None,
    )
    row = await endpoint_row(sessions, endpoint["id"])
    assert (last, row.cursor, row.failing_since) == (3, 3, None)
    # and its pending message is due now
    (message,) = await messages_of(sessions, endpoint["id"])
    assert message.status == "PENDING"
    assert message.next_attempt_at <= clock.now()


# -- rotate and delete ----------------------------------------------------------------------


async def test_a_rotated_secret_is_new_and_the_old_one_signs_for_24_hours(
    api, center, sessions
) -> None:
    made = await create_endpoint(api, center)
    endpoint_id = made["endpoint"]["id"]

    rotated = await call(api, ROTATE, center.admin.token, endpointId=endpoint_id)

    assert rotated["__typename"] == "RotateWebhookSecretSuccess"
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
    row = await endpoint_row(sessions, endpoint_id)
    assert (row.secret, row.previous_secret) == (rotated["secret"], made["secret"])
    assert row.rotated_at is not None
    later = row.rotated_at + timedelta(hours=23)
    assert signing_secrets(row.secret, row.previous_secret, row.rotated_at, later) == (
        rotated["secret"],
        made["secret"],
    )


async def test_a_deleted_endpoint_goes_with_its_log_and_is_answered_as_it_was(
    api, center, sessions
) -> None:
    # given an endpoint with a message and an attempt
    endpoint = await an_endpoint(api, center, description="going")
    events = await read_feed(api, center)
    message = await insert_message(sessions, endpoint["id"], events[0])
    await insert_attempts(sessions, message, 1)
    # when it is deleted
    answer = await call(api, DELETE, center.admin.token, endpointId=endpoint["id"])
    # then the answer shows it as it was, and it, its messages and attempts are gone
    assert answer == {"__typename": "WebhookEndpointSuccess", "endpoint": endpoint}
    listed = await api.data(ENDPOINTS, {"id": center.id}, center.admin.token)
    assert listed["businessCenter"]["webhookEndpoints"] == []
    async with sessions() as session:
        for model in (WebhookEndpoint, WebhookMessage, WebhookAttempt):
            assert await session.scalar(select(func.count()).select_from(model)) == 0
    again = await call(api, DELETE, center.admin.token, endpointId=endpoint["id"])
    assert error_of(again) == ("NotFoundError", "NOT_FOUND", ["input", "endpointId"])


# -- sending by hand --------------------------------------------------------------------------


async def test_a_test_event_is_recorded_for_the_endpoint_and_in_the_feed(api, center) -> None:
    endpoint = await an_endpoint(api, center)

    answer = await call(api, SEND_TEST, center.admin.token, endpointId=endpoint["id"])

    assert answer["__typename"] == "WebhookEndpointSuccess"
    ping = (await read_feed(api, center))[-1]
    assert ping["type"] == "test.ping"
    assert ping["data"]["endpoint"]["id"] == endpoint["id"]
    assert ping["data"]["endpoint"]["url"] == endpoint["url"]
    assert "secret" not in json.dumps(ping["data"])
    assert ping["data"]["message"] == service.TEST_MESSAGE


async def test_a_disabled_endpoint_gets_no_test_event(api, center) -> None:
    endpoint = await an_endpoint(api, center)
    await call(api, UPDATE, center.admin.token, endpointId=endpoint["id"], status="DISABLED")

    answer = await call(api, SEND_TEST, center.admin.token, endpointId=endpoint["id"])

    assert error_of(answer) == ("InvalidInputError", "INVALID_INPUT", ["input", "endpointId"])
    assert [e["type"] for e in await read_feed(api, center)] == ["invoice.opened", "invoice.paid"]


async def test_an_event_is_redelivered_with_its_attempts_counted_on(api, center, sessions) -> None:
    # given an endpoint to which the center's first event was delivered after 2 attempts
    endpoint = await an_endpoint(api, center)
    events = await read_feed(api, center)
    await insert_message(sessions, endpoint["id"], events[0], status="DELIVERED", attempts=2)
    # when it and the second event are redelivered
    for event in events:
        answer = await call(
            api, REDELIVER, center.admin.token, endpointId=endpoint["id"], eventId=event["id"]
        )
        assert answer["__typename"] == "WebhookEndpointSuccess", answer
    # then both are pending, due now, the first keeping its count
    messages = await messages_of(sessions, endpoint["id"])
    assert [(m.sequence, m.status, m.attempts, m.leased_until) for m in messages] == [
        (1, "PENDING", 2, None),
        (2, "PENDING", 0, None),
    ]
    assert all(m.next_attempt_at <= clock.now() for m in messages)


async def test_another_centers_event_is_not_redelivered(api, users, center, sessions) -> None:
    other = await create_center(api, await users.create("other"), name="Other")
    await users.fund(other.wallet_id, "399.00")
    await subscribe(api, other)
    foreign = (await read_feed(api, other))[0]["id"]
    endpoint = await an_endpoint(api, center)

    answers = [
        await call(api, REDELIVER, center.admin.token, endpointId=endpoint["id"], eventId=gid)
        for gid in (foreign, to_global_id("Event", 987654321))
    ]

    assert [error_of(a) for a in answers] == [
        ("NotFoundError", "NOT_FOUND", ["input", "eventId"])
    ] * 2
    assert await messages_of(sessions, endpoint["id"]) == []


async def test_replay_queues_the_events_the_endpoint_takes_page_by_page(
    api, center, sessions, monkeypatch
) -> None:
    # given a center with 5 events (2 invoices opened, 2 paid, a top-up paid) and a test
    # ping of another endpoint, and an endpoint for invoices and test pings
    await top_up(api, center.wallet_id, center.admin.token, amount="100.00")
    other = await an_endpoint(api, center, url="https://hooks.example.com/other")
    await call(api, SEND_TEST, center.admin.token, endpointId=other["id"])
    endpoint = await an_endpoint(
        api, center, eventTypes=["invoice.opened", "invoice.paid", "test.ping"]
    )
    feed = await read_feed(api, center)
    invoices = [e for e in feed if e["type"].startswith("invoice.")]
    assert len(invoices) == 3
    # when it replays from the start, two events a call
    monkeypatch.setattr(service, "REPLAY_BATCH", 2)
    first = await call(api, REPLAY, center.admin.token, endpointId=endpoint["id"])
    second = await call(
        api, REPLAY, center.admin.token, endpointId=endpoint["id"], after=first["endCursor"]
    )
    # then the first call queued two and says there is more, the second the last one
    assert (first["queued"], first["hasMore"]) == (2, True)
    assert first["endCursor"] == invoices[1]["cursor"]
    assert (second["queued"], second["endCursor"], second["hasMore"]) == (
        1,
        invoices[2]["cursor"],
        False,
    )
    # and the endpoint's messages are those three invoice events, in order, due now
    messages = await messages_of(sessions, endpoint["id"])
    assert [to_cursor(m.sequence) for m in messages] == [e["cursor"] for e in invoices]
    assert {m.status for m in messages} == {"PENDING"}
    # and a call after the last one queues nothing
    done = await call(
        api, REPLAY, center.admin.token, endpointId=endpoint["id"], after=second["endCursor"]
    )
    assert (done["queued"], done["endCursor"], done["hasMore"]) == (0, None, False)


async def test_replay_after_a_bad_cursor_is_invalid_input(api, center) -> None:
    endpoint = await an_endpoint(api, center)

    answer = await call(api, REPLAY, center.admin.token, endpointId=endpoint["id"], after="x")

    assert error_of(answer) == ("InvalidInputError", "INVALID_INPUT", ["input", "after"])


# -- the delivery log -----------------------------------------------------------------------


async def test_deliveries_are_listed_newest_first_page_by_page(api, center, sessions) -> None:
    # given three attempts at the center's first event: two failed, then one succeeded
    endpoint = await an_endpoint(api, center)
    events = await read_feed(api, center)
    message = await insert_message(sessions, endpoint["id"], events[0])
    attempts = await insert_attempts(sessions, message, 3)
    # when the log is read two at a time
    variables = {"id": endpoint["id"], "first": 2}
    first = (await api.data(DELIVERIES, variables, center.admin.token))["node"]["deliveries"]
    after = first["pageInfo"]["endCursor"]
    rest = await api.data(DELIVERIES, {**variables, "after": after}, center.admin.token)
    second = rest["node"]["deliveries"]
    # then the newest comes first, each with what the endpoint answered
    nodes = [e["node"] for e in first["edges"] + second["edges"]]
    assert [n["id"] for n in nodes] == [
        to_global_id("WebhookDelivery", a) for a in reversed(attempts)
    ]
    assert first["pageInfo"]["hasNextPage"] is True
    assert second["pageInfo"]["hasNextPage"] is False
    newest, _, oldest = nodes
    assert {k: newest[k] for k in ("attempt", "responseStatus", "succeeded", "nextAttemptAt")} == {
        "attempt": 3,
        "responseStatus": 200,
        "succeeded": True,
        "nextAttemptAt": None,
    }
    assert (oldest["responseStatus"], oldest["responseBody"], oldest["error"]) == (
        500,
        "oops 1",
        None,
    )
    assert oldest["durationMs"] == 11 and oldest["nextAttemptAt"] is not None
    assert newest["event"] == {"id": events[0]["id"], "type": "invoice.opened", "sequence": 1}


async def test_ten_endpoints_with_their_logs_cost_what_one_costs(
    api, center, sessions, statements
) -> None:
    # given one endpoint with two attempts
    events = await read_feed(api, center)
    first = await an_endpoint(api, center, url="https://hooks.example.com/0")
    await insert_attempts(sessions, await insert_message(sessions, first["id"], events[0]), 2)
    one, listed_one = await count_statements(api, statements, center)
    # when nine more, each with two attempts, are read with it
    for index in range(1, 10):
        endpoint = await an_endpoint(api, center, url=f"https://hooks.example.com/{index}")
        message = await insert_message(sessions, endpoint["id"], events[index % 2])
        await insert_attempts(sessions, message, 2)
    ten, listed_ten = await count_statements(api, statements, center)
    # then it costs the same statements
    assert (len(listed_one), len(listed_ten)) == (1, 10)
    assert one == ten, statements.statements
    assert {len(e["deliveries"]["edges"]) for e in listed_ten} == {2}


async def test_concurrent_creates_stop_at_ten(api, center, sessions) -> None:
    # given a center with 8 endpoints
    for index in range(8):
        await an_endpoint(api, center, url=f"https://hooks.example.com/{index}")
    # when 4 more are created at once
    answers = await asyncio.gather(
        *(create_endpoint(api, center, url=f"https://hooks.example.com/new{i}") for i in range(4))
    )
    # then exactly 2 were made, and the center has 10
    kinds = sorted(a["__typename"] for a in answers)
    assert kinds == ["CreateWebhookEndpointSuccess"] * 2 + ["InvalidInputError"] * 2
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 10


# -- who may -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["ADMIN", "FINANCE_MANAGER", "FINANCE_ANALYST"])
async def test_the_finance_roles_read_endpoints_and_their_deliveries(
    api, users, center, role
) -> None:
    endpoint = await an_endpoint(api, center)
    member = await users.create("member")
    await add_member(api, center, member, role)

    listed = await api.data(ENDPOINTS, {"id": center.id}, member.token)
    node = await api.data(NODE, {"id": endpoint["id"]}, member.token)
    log = await api.data(DELIVERIES, {"id": endpoint["id"]}, member.token)

    assert listed["businessCenter"]["webhookEndpoints"] == [endpoint]
    assert node["node"] == endpoint
    assert log["node"]["deliveries"]["edges"] == []


async def test_staff_read_any_centers_endpoints(api, users, center) -> None:
    endpoint = await an_endpoint(api, center)
    staff = await users.create("staff", staff=True)

    listed = await api.data(ENDPOINTS, {"id": center.id}, staff.token)
    node = await api.data(NODE, {"id": endpoint["id"]}, staff.token)

    assert listed["businessCenter"]["webhookEndpoints"] == [endpoint]
    assert node["node"] == endpoint


async def test_a_standard_member_reads_no_endpoint(api, users, center) -> None:
    endpoint = await an_endpoint(api, center)
    member = await users.create("member")
    await add_member(api, center, member, "STANDARD")

    listed = await api.post(ENDPOINTS, {"id": center.id}, member.token)
    node = await api.post(NODE, {"id": endpoint["id"]}, member.token)
    log = await api.post(DELIVERIES, {"id": endpoint["id"]}, member.token)

    assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert listed["errors"][0]["path"] == ["businessCenter", "webhookEndpoints"]
    for answer in (node, log):
        assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert answer["data"] == {"node": None}


async def test_another_centers_admin_sees_no_endpoint(api, users, center) -> None:
    endpoint = await an_endpoint(api, center)
    stranger = await users.create("stranger")
    await create_center(api, stranger, name="Other")

    listed = await api.data(ENDPOINTS, {"id": center.id}, stranger.token)
    node = await api.data(NODE, {"id": endpoint["id"]}, stranger.token)
    log = await api.data(DELIVERIES, {"id": endpoint["id"]}, stranger.token)

    assert listed == {"businessCenter": None}
    assert node == {"node": None}
    assert log == {"node": None}


@pytest.mark.parametrize("role", ["STANDARD", "FINANCE_ANALYST"])
async def test_a_member_who_may_not_manage_webhooks_is_forbidden(
    api, users, center, sessions, role
) -> None:
    # given an endpoint and a member whose role does not manage webhooks
    endpoint = await an_endpoint(api, center)
    event_id = (await read_feed(api, center))[0]["id"]
    member = await users.create("member")
    await add_member(api, center, member, role)
    before = await endpoint_row(sessions, endpoint["id"])
    # when they try every managing mutation
    answers = await manage_all(api, center, member.token, endpoint["id"], event_id)
    # then each is forbidden, and nothing changed
    assert answers == {
        name: ("ForbiddenError", "FORBIDDEN", f"input/{field}")
        for name, field in MANAGED_FIELDS.items()
    }
    after = await endpoint_row(sessions, endpoint["id"])
    assert (after.status, after.secret, after.updated_at) == (
        before.status,
        before.secret,
        before.updated_at,
    )
    assert await messages_of(sessions, endpoint["id"]) == []
    assert len(await read_feed(api, center)) == 2


async def test_another_centers_admin_finds_nothing_to_manage(api, users, center, sessions) -> None:
    endpoint = await an_endpoint(api, center)
    event_id = (await read_feed(api, center))[0]["id"]
    stranger = await users.create("stranger")
    await create_center(api, stranger, name="Other")

    answers = await manage_all(api, center, stranger.token, endpoint["id"], event_id)

    assert answers == {
        name: ("NotFoundError", "NOT_FOUND", f"input/{field}")
        for name, field in MANAGED_FIELDS.items()
    }
    assert (await endpoint_row(sessions, endpoint["id"])).status == "ENABLED"


async def test_a_finance_manager_manages_endpoints(api, users, center) -> None:
    manager = await users.create("manager")
    await add_member(api, center, manager, "FINANCE_MANAGER")

    made = await create_endpoint(api, center, token=manager.token)
    endpoint_id = made["endpoint"]["id"]
    tested = await call(api, SEND_TEST, manager.token, endpointId=endpoint_id)
    deleted = await call(api, DELETE, manager.token, endpointId=endpoint_id)

    assert [a["__typename"] for a in (made, tested, deleted)] == [
        "CreateWebhookEndpointSuccess",
        "WebhookEndpointSuccess",
        "WebhookEndpointSuccess",
    ]
