"""Webhook endpoints in the API tests (tests/api/test_webhook_endpoints.py): the GraphQL
documents, a stub DNS, calls and the rows the delivery job would write."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from adledger import clock
from adledger.schema.ids import db_id_of
from adledger.store.models import Event
from adledger.store.webhook_models import WebhookAttempt, WebhookEndpoint, WebhookMessage

PUBLIC = "93.184.216.34"

ENDPOINT = "id url description eventTypes status disabledReason createdAt"
ERROR = "... on UserError { code message field }"

CREATE = f"""mutation($input: CreateWebhookEndpointInput!) {{
  createWebhookEndpoint(input: $input) {{
    __typename
    ... on CreateWebhookEndpointSuccess {{ secret endpoint {{ {ENDPOINT} }} }}
    {ERROR}
  }}
}}"""

UPDATE = f"""mutation($input: UpdateWebhookEndpointInput!) {{
  updateWebhookEndpoint(input: $input) {{
    __typename ... on WebhookEndpointSuccess {{ endpoint {{ {ENDPOINT} }} }} {ERROR}
  }}
}}"""


def on_endpoint(name: str, input_type: str = "WebhookEndpointInput") -> str:
    return f"""mutation($input: {input_type}!) {{
  {name}(input: $input) {{
    __typename ... on WebhookEndpointSuccess {{ endpoint {{ {ENDPOINT} }} }} {ERROR}
  }}
}}"""


DELETE = on_endpoint("deleteWebhookEndpoint")
SEND_TEST = on_endpoint("sendTestWebhookEvent")
REDELIVER = on_endpoint("redeliverWebhookEvent", "RedeliverWebhookEventInput")

ROTATE = f"""mutation($input: WebhookEndpointInput!) {{
  rotateWebhookSecret(input: $input) {{
    __typename ... on RotateWebhookSecretSuccess {{ secret endpoint {{ id }} }} {ERROR}
  }}
}}"""

REPLAY = f"""mutation($input: ReplayWebhookEventsInput!) {{
  replayWebhookEvents(input: $input) {{
    __typename
    ... on ReplayWebhookEventsSuccess {{ queued endCursor hasMore endpoint {{ id }} }}
    {ERROR}
  }}
}}"""

ENDPOINTS = f"""query($id: ID!) {{
  businessCenter(id: $id) {{ webhookEndpoints {{ {ENDPOINT} }} }}
}}"""

NODE = f"""query($id: ID!) {{ node(id: $id) {{ id ... on WebhookEndpoint {{ {ENDPOINT} }} }} }}"""

DELIVERIES = """query($id: ID!, $first: Int, $after: String) {
  node(id: $id) {
    ... on WebhookEndpoint {
      deliveries(first: $first, after: $after) {
        edges { cursor node {
          id attempt attemptedAt responseStatus durationMs succeeded nextAttemptAt
          responseBody error event { id type sequence }
        } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}"""

FEED = """query($id: ID!) {
  businessCenter(id: $id) { events(first: 100) { edges { cursor node { id type data } } } }
}"""


class Dns:
    """The resolver the service asks (never the real DNS): an IP address is itself (as
    getaddrinfo answers), a host's addresses as set here, any other host a public one."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            return self.answers.get(host, [PUBLIC])


async def create_endpoint(api, center, token=None, **fields: Any) -> dict[str, Any]:
    variables = {"input": {"businessCenterId": center.id, "url": "https://hooks.example.com/a"}}
    variables["input"].update(fields)
    return (await api.data(CREATE, variables, token or center.admin.token))["createWebhookEndpoint"]


async def an_endpoint(api, center, **fields: Any) -> dict[str, Any]:
    made = await create_endpoint(api, center, **fields)
    assert made["__typename"] == "CreateWebhookEndpointSuccess", made
    return made["endpoint"]


async def call(api, document: str, token: str, **fields: Any) -> dict[str, Any]:
    data = await api.data(document, {"input": fields}, token)
    return next(iter(data.values()))


async def endpoint_row(sessions, endpoint_gid: str) -> WebhookEndpoint | None:
    async with sessions() as session:
        return await session.get(WebhookEndpoint, db_id_of(endpoint_gid, "WebhookEndpoint"))


async def read_feed(api, center) -> list[dict[str, Any]]:
    data = await api.data(FEED, {"id": center.id}, center.admin.token)
    edges = data["businessCenter"]["events"]["edges"]
    return [
        {**e["node"], "cursor": e["cursor"], "data": json.loads(e["node"]["data"])} for e in edges
    ]


async def messages_of(sessions, endpoint_gid: str) -> list[WebhookMessage]:
    endpoint_id = db_id_of(endpoint_gid, "WebhookEndpoint")
    async with sessions() as session:
        stmt = (
            select(WebhookMessage)
            .where(WebhookMessage.endpoint_id == endpoint_id)
            .order_by(WebhookMessage.sequence)
        )
        return list(await session.scalars(stmt))


def error_of(answer: dict[str, Any]) -> tuple[str, str, list[str]]:
    return answer["__typename"], answer["code"], answer["field"]


# -- reads and calls of the access and cost tests ------------------------------------


ENDPOINTS_AND_LOGS = """query($id: ID!) {
  businessCenter(id: $id) {
    webhookEndpoints { id deliveries(first: 5) { edges { node { id event { id type } } } } }
  }
}"""


async def count_statements(api, statements, center) -> tuple[int, list[Any]]:
    await api.data("{ viewer { email } }", token=center.admin.token)  # the caller seen
    statements.count = 0
    data = await api.data(ENDPOINTS_AND_LOGS, {"id": center.id}, center.admin.token)
    return statements.count, data["businessCenter"]["webhookEndpoints"]


MANAGED_FIELDS = {"create": "businessCenterId"} | {
    name: "endpointId" for name in ("update", "delete", "rotate", "test", "redeliver", "replay")
}


def managing_calls(endpoint_id: str, event_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    target = {"endpointId": endpoint_id}
    return {
        "update": (UPDATE, {**target, "status": "DISABLED"}),
        "delete": (DELETE, target),
        "rotate": (ROTATE, target),
        "test": (SEND_TEST, target),
        "redeliver": (REDELIVER, {**target, "eventId": event_id}),
        "replay": (REPLAY, target),
    }


async def manage_all(
    api, center, token: str, endpoint_id: str, event_id: str
) -> dict[str, tuple[str, str]]:
    """Every managing mutation by `token`: each answer's type and code, and the field."""
    answers = {"create": error_of(await create_endpoint(api, center, token=token))}
    for name, (document, fields) in managing_calls(endpoint_id, event_id).items():
        answers[name] = error_of(await call(api, document, token, **fields))
    return {name: (kind, code, "/".join(field)) for name, (kind, code, field) in answers.items()}


# -- rows the delivery job would write ------------------------------------------------------


async def insert_message(
    sessions,
    endpoint_gid: str,
    event: dict[str, Any],
    *,
    status: str = "PENDING",
    attempts: int = 0,
    due_in: timedelta = timedelta(0),
) -> WebhookMessage:
    now = clock.now()
    async with sessions() as session:
        row = await session.scalar(select(Event).where(Event.id == db_id_of(event["id"], "Event")))
        assert row is not None
        message = WebhookMessage(
            endpoint_id=db_id_of(endpoint_gid, "WebhookEndpoint"),
            event_id=row.id,
            event_created_at=row.created_at,
            sequence=row.sequence,
            status=status,
            attempts=attempts,
            next_attempt_at=now + due_in,
            created_at=now,
        )
        session.add(message)
        await session.commit()
        return message


async def insert_attempts(sessions, message: WebhookMessage, count: int) -> list[int]:
    """`count` attempts: each failed with a 500 but the last, which succeeded."""
    start = clock.now()
    ids = []
    async with sessions() as session:
        for number in range(1, count + 1):
            last = number == count
            attempt = WebhookAttempt(
                message_id=message.id,
                endpoint_id=message.endpoint_id,
                event_id=message.event_id,
                event_created_at=message.event_created_at,
                attempt=number,
                attempted_at=start + timedelta(minutes=number),
                response_status=200 if last else 500,
                duration_ms=10 + number,
                succeeded=last,
                response_body="ok" if last else f"oops {number}",
                next_attempt_at=None if last else start + timedelta(hours=number),
            )
            session.add(attempt)
            await session.flush()
            ids.append(attempt.id)
        await session.commit()
    return ids
