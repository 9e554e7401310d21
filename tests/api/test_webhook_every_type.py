"""Issue 26, first "Done when": every published event type reaches a real receiver, signed,
and verifies with `standardwebhooks`; and what a partner receives is what the integration
guide (docs/integrations.md) shows for that type, key for key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from adledger import clock
from adledger.domain.events import EventType
from adledger.jobs.webhooks import deliver_webhooks_job
from adledger.services.webhook_delivery import DeliveryOptions
from tests.api.event_scenarios import EVERY_PRODUCED_TYPE, feed_events, produce_every_event_type
from tests.api.webhook_endpoint_fixtures import REPLAY, SEND_TEST, call, create_endpoint
from tests.webhook_receivers import Receiver, receiver

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"


def _ctx(jobs: dict[str, Any]) -> dict[str, Any]:
    options = DeliveryOptions(allow_private=True, timeout_seconds=2.0)
    return {**jobs, "webhook_delivery": options}


async def _deliver_everything(jobs: dict[str, Any]) -> None:
    """Passes until one has nothing left to queue or send (an endpoint takes at most its
    share of a pass)."""
    for _ in range(10):
        report = await deliver_webhooks_job(_ctx(jobs), clock.now())
        if not report.did_something:
            return
    raise AssertionError("the deliveries did not settle in 10 passes")


def _guide_examples() -> dict[str, dict[str, Any]]:
    blocks = GUIDE.read_text().split("```json\n")[1:]
    parsed = [json.loads(block.split("\n```", 1)[0]) for block in blocks]
    return {e["type"]: e for e in parsed if isinstance(e, dict) and "type" in e}


def _verified(partner: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every body the receiver got, each verified against its headers, in sequence order."""
    bodies = [Webhook(secret).verify(r.body, r.headers) for r in partner.received]
    for request, body in zip(partner.received, bodies, strict=True):
        assert request.headers["Webhook-Id"] == body["id"]
    return sorted(bodies, key=lambda b: b["sequence"])


async def test_every_event_type_is_delivered_signed_and_as_the_guide_shows_it(
    api, users, jobs, webhooks, sessions
) -> None:
    # given a center that went through every operation a partner hears of
    world = await produce_every_event_type(api, users, jobs, webhooks, sessions)
    feed = await feed_events(api, world.center.id, world.token)
    with receiver() as partner:
        # and an endpoint of every type made afterwards (it receives from now on), which
        # asks for the center's whole history and a test event
        made = await create_endpoint(api, world.center, world.token, url=partner.url)
        assert made["__typename"] == "CreateWebhookEndpointSuccess", made
        endpoint_id = made["endpoint"]["id"]
        replay = await call(api, REPLAY, world.token, endpointId=endpoint_id, after=None)
        assert (replay["queued"], replay["hasMore"]) == (len(feed), False), replay
        ping = await call(api, SEND_TEST, world.token, endpointId=endpoint_id)
        assert ping["__typename"] == "WebhookEndpointSuccess", ping
        # when the worker delivers
        await _deliver_everything(jobs)
        # then every event of the feed arrived once, signed with the endpoint's secret, as
        # the feed shows it, and the test event after them
        bodies = _verified(partner, made["secret"])
    assert [b["id"] for b in bodies[:-1]] == [e["id"] for e in feed]
    assert [(b["type"], b["data"]) for b in bodies[:-1]] == [(e["type"], e["data"]) for e in feed]
    assert bodies[-1]["type"] == EventType.TEST_PING
    assert {b["type"] for b in bodies} == EVERY_PRODUCED_TYPE | {EventType.TEST_PING}
    # and each type's payload has the keys the guide's example shows (nothing the guide
    # omits, nothing it promises missing)
    examples = _guide_examples()
    for body in bodies:
        example = examples[body["type"]]
        assert set(body) == set(example), body["type"]
        assert set(body["data"]) == set(example["data"]), body["type"]
