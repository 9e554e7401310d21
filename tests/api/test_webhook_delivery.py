"""The webhook delivery job (deliver-webhooks, issue 26) against real local receivers:
events queued per endpoint by its filter, posted signed so `standardwebhooks` verifies
them, retried on the backoff schedule, never delivered twice after a 2xx, one endpoint
hanging delays no other, an endpoint failing for 3 days is disabled and told, and an
address refused in production is never connected to."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError

from adledger import clock
from adledger.domain.events import EventType
from adledger.jobs.events import prune_events_job
from adledger.jobs.webhooks import deliver_webhooks_job
from adledger.schema.ids import db_id_of, to_global_id
from adledger.services.webhook_delivery import DeliveryOptions
from adledger.services.webhook_signing import generate_secret
from adledger.store import partitions
from adledger.store.models import Notification
from tests.helpers import create_center, subscribe, top_up
from tests.webhook_receivers import (
    Receiver,
    attempts,
    emit,
    endpoint,
    make_endpoint,
    messages,
    receiver,
)

FEED = """query($id: ID!, $types: [String!]) {
  businessCenter(id: $id) {
    events(first: 100, types: $types) { edges { node { id type sequence data } } }
  }
}"""


@pytest.fixture
async def center(api, users):
    return await create_center(api, await users.create("admin"))


def _id(center) -> int:
    found = db_id_of(center.id, "BusinessCenter")
    assert found is not None
    return found


def _ctx(jobs: dict[str, Any], **options: Any) -> dict[str, Any]:
    """A worker's ctx with the test's delivery options (http to 127.0.0.1 allowed, a
    short timeout so a hanging receiver costs the suite little)."""
    chosen = {"allow_private": True, "timeout_seconds": 2.0, **options}
    return {**jobs, "webhook_delivery": DeliveryOptions(**chosen)}


def _types(partner: Receiver) -> list[str]:
    """What a receiver got, in sequence order (a batch arrives in any order)."""
    return [r.json["type"] for r in sorted(partner.received, key=lambda r: r.json["sequence"])]


async def _feed(api, center, types: list[str] | None = None) -> list[dict[str, Any]]:
    data = await api.data(FEED, {"id": center.id, "types": types}, center.admin.token)
    nodes = [edge["node"] for edge in data["businessCenter"]["events"]["edges"]]
    return [{**node, "data": json.loads(node["data"])} for node in nodes]


# -- delivered and signed ------------------------------------------------------------------


async def test_real_events_arrive_signed_and_verify_with_standardwebhooks(
    api, center, users, jobs, sessions, webhooks
) -> None:
    # given an endpoint of every type, and a center that subscribed and paid a top-up
    with receiver() as partner:
        hook = await make_endpoint(sessions, _id(center), partner.url)
        await users.fund(center.wallet_id, "399.00")
        assert (await subscribe(api, center))["__typename"] == "SubscribeToPlanSuccess"
        made = await top_up(api, center.wallet_id, center.admin.token, amount="100.00")
        await webhooks.pay(made["topUp"]["invoice"]["paymentReference"])
        # when a pass runs
        report = await deliver_webhooks_job(_ctx(jobs), clock.now())
        # then each event of the feed arrived once, signed with the secret (4 at a time:
        # in any order among them; a partner orders by `sequence`)
        feed = await _feed(api, center)
        assert str(report) == "queued 5, delivered 5, failed 0, disabled 0 endpoints (1 endpoint)"
        arrived = sorted(partner.received, key=lambda r: r.json["sequence"])
        assert [r.json["type"] for r in arrived] == [e["type"] for e in feed]
        assert [r.headers["Webhook-Id"] for r in arrived] == [e["id"] for e in feed]
        for event, request in zip(feed, arrived, strict=True):
            body = Webhook(hook.secret).verify(request.body, request.headers)
            assert body["id"] == request.headers["Webhook-Id"] == event["id"]
            assert (body["sequence"], body["data"]) == (event["sequence"], event["data"])
            assert body["businessCenter"] == {"id": center.id}
        # and another pass sends nothing again
        again = await deliver_webhooks_job(_ctx(jobs), clock.now() + timedelta(hours=1))
        assert str(again) == "queued 0, delivered 0, failed 0, disabled 0 endpoints"
        assert len(partner.received) == 5
    assert {m.status for m in await messages(sessions)} == {"DELIVERED"}


async def test_after_a_rotation_both_secrets_verify_for_24_hours_then_only_the_new(
    center, jobs, sessions
) -> None:
    # given an endpoint whose secret was rotated an hour ago
    t0 = clock.now()
    with receiver() as partner:
        hook = await make_endpoint(
            sessions,
            _id(center),
            partner.url,
            previous_secret=(old := generate_secret()),
            rotated_at=t0 - timedelta(hours=1),
        )
        # when an event is delivered now, and another 24 hours after the rotation
        await emit(jobs["transact"], _id(center), EventType.CREDIT_ISSUED)
        await deliver_webhooks_job(_ctx(jobs), t0)
        await emit(jobs["transact"], _id(center), EventType.CARD_SAVED)
        await deliver_webhooks_job(_ctx(jobs), t0 + timedelta(hours=23))
        # then the first is signed by both secrets, the second by the new one only
        first, second = partner.received
        for secret in (hook.secret, old):
            assert Webhook(secret).verify(first.body, first.headers)["type"] == "credit.issued"
        assert len(first.headers["Webhook-Signature"].split(" ")) == 2
        assert Webhook(hook.secret).verify(second.body, second.headers)["type"] == "card.saved"
        assert len(second.headers["Webhook-Signature"].split(" ")) == 1
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(second.body, second.headers)


# -- retries -----------------------------------------------------------------------------


async def test_three_500s_then_a_200_deliver_on_the_fourth_attempt_and_never_again(
    center, jobs, sessions
) -> None:
    # given a receiver that answers 500 three times, then 200
    t0 = clock.now()
    with receiver() as partner:
        partner.answer(500, 500, 500)
        hook = await make_endpoint(sessions, _id(center), partner.url)
        await emit(jobs["transact"], _id(center), EventType.INVOICE_PAID)
        ctx = _ctx(jobs)
        # when passes run as time passes the schedule (5 s, 5 min, 30 min), with one early
        moments = [
            t0,
            t0 + timedelta(seconds=1),  # before the first retry is due: nothing
            t1 := t0 + timedelta(seconds=5),
            t2 := t1 + timedelta(minutes=5),
            t3 := t2 + timedelta(minutes=30),
        ]
        reports = [str(await deliver_webhooks_job(ctx, moment)) for moment in moments]
        # then the fourth attempt delivered it, and later passes send nothing more
        later = [await deliver_webhooks_job(ctx, t3 + timedelta(days=d)) for d in (1, 4)]
        assert [r.delivered + r.failed for r in later] == [0, 0]
        assert len(partner.received) == 4
        assert len(set(partner.ids())) == 1
    assert [r.split(" (")[0] for r in reports] == [
        "queued 1, delivered 0, failed 1, disabled 0 endpoints",
        "queued 0, delivered 0, failed 0, disabled 0 endpoints",
        "queued 0, delivered 0, failed 1, disabled 0 endpoints",
        "queued 0, delivered 0, failed 1, disabled 0 endpoints",
        "queued 0, delivered 1, failed 0, disabled 0 endpoints",
    ]
    log = await attempts(sessions)
    assert [(a.attempt, a.response_status, a.succeeded) for a in log] == [
        (1, 500, False),
        (2, 500, False),
        (3, 500, False),
        (4, 200, True),
    ]
    assert [a.attempted_at for a in log] == [t0, t1, t2, t3]
    assert [a.next_attempt_at for a in log] == [t1, t2, t3, None]
    assert [a.response_body for a in log] == ["answered 500"] * 3 + ["answered 200"]
    (message,) = await messages(sessions)
    assert (message.status, message.attempts, message.leased_until) == ("DELIVERED", 4, None)
    assert (await endpoint(sessions, hook.id)).failing_since is None


async def test_a_hanging_endpoint_delays_no_other_in_the_same_pass(center, jobs, sessions) -> None:
    # given two endpoints of the center, the first of which never answers
    with receiver() as slow, receiver() as quick:
        slow.hanging = True
        stuck = await make_endpoint(sessions, _id(center), slow.url)
        healthy = await make_endpoint(sessions, _id(center), quick.url)
        await emit(jobs["transact"], _id(center), EventType.TOP_UP_PAID)
        # when a pass runs with a 1 s timeout
        report = await deliver_webhooks_job(_ctx(jobs, timeout_seconds=1.0), clock.now())
    # then the healthy endpoint's delivery was recorded before the hanging one timed out
    assert (report.delivered, report.failed) == (1, 1)
    first, second = await attempts(sessions)
    assert (first.endpoint_id, first.succeeded, first.response_status) == (healthy.id, True, 200)
    assert (second.endpoint_id, second.succeeded) == (stuck.id, False)
    assert second.error == "no answer within 1 s"
    assert first.duration_ms is not None and first.duration_ms < second.duration_ms


async def test_an_endpoint_has_at_most_4_messages_in_flight_across_passes(
    center, jobs, sessions
) -> None:
    # given an endpoint that hangs, and 6 events for it
    now = clock.now()
    with receiver() as partner:
        partner.hanging = True
        await make_endpoint(sessions, _id(center), partner.url)
        for _ in range(6):
            await emit(jobs["transact"], _id(center), EventType.SPEND_APPLIED)
        ctx = _ctx(jobs, timeout_seconds=30.0)
        # when a pass is sending, and a second pass runs meanwhile
        first = asyncio.create_task(deliver_webhooks_job(ctx, now))
        assert await asyncio.to_thread(partner.wait_for, 4, 20.0)
        second = await deliver_webhooks_job(ctx, now)
        # then 4 are in flight and the second pass claims none; once they are answered
        # the first pass sends the last 2, and a third finds nothing left
        assert (len(partner.received), second.delivered + second.failed) == (4, 0)
        partner.hanging = False
        partner.release.set()
        assert (await first).delivered == 6
        third = await deliver_webhooks_job(ctx, now)
        assert third.delivered + third.failed == 0
    assert sorted(m.sequence for m in await messages(sessions)) == [1, 2, 3, 4, 5, 6]
    assert len(set(partner.ids())) == 6


async def test_an_endpoint_takes_at_most_its_share_of_a_pass(center, jobs, sessions) -> None:
    # given 7 events for an endpoint, and a pass that serves at most 5 per endpoint
    with receiver() as partner:
        await make_endpoint(sessions, _id(center), partner.url)
        for _ in range(7):
            await emit(jobs["transact"], _id(center), EventType.SPEND_APPLIED)
        ctx = _ctx(jobs, endpoint_messages=5)
        # when two passes run
        first = await deliver_webhooks_job(ctx, clock.now())
        second = await deliver_webhooks_job(ctx, clock.now())
    # then the first sent 5, the second the other 2
    assert (first.queued, first.delivered, second.delivered) == (7, 5, 2)
    assert len(set(partner.ids())) == 7


async def test_a_batch_that_all_failed_leaves_the_endpoints_rest_to_the_next_pass(
    center, jobs, sessions
) -> None:
    # given 6 events for an endpoint that answers 500
    with receiver() as partner:
        partner.answer(*[500] * 10)
        await make_endpoint(sessions, _id(center), partner.url)
        for _ in range(6):
            await emit(jobs["transact"], _id(center), EventType.SPEND_APPLIED)
        # when a pass runs
        report = await deliver_webhooks_job(_ctx(jobs), clock.now())
    # then it tried one batch of 4 and left 2 untried
    assert (report.delivered, report.failed, len(partner.received)) == (0, 4, 4)
    assert sorted(m.attempts for m in await messages(sessions)) == [0, 0, 1, 1, 1, 1]


async def test_a_late_2xx_after_the_lease_keeps_the_message_delivered_once(
    center, jobs, sessions
) -> None:
    # given a pass whose receiver holds its request past the message's 60 s lease
    t0 = clock.now()
    with receiver() as partner:
        partner.hanging = True
        await make_endpoint(sessions, _id(center), partner.url)
        await emit(jobs["transact"], _id(center), EventType.REFUND_SUCCEEDED)
        ctx = _ctx(jobs, timeout_seconds=30.0)
        slow = asyncio.create_task(deliver_webhooks_job(ctx, t0))
        assert await asyncio.to_thread(partner.wait_for, 1, 20.0)
        # when a pass after the lease sends it again (delivered), then the first answers
        partner.hanging = False
        retried = await deliver_webhooks_job(ctx, t0 + timedelta(minutes=2))
        partner.release.set()
        late = await slow
        # then both attempts are logged, the message delivered once, nothing sent after
        assert (retried.delivered, late.delivered, late.failed) == (1, 0, 0)
        assert (await deliver_webhooks_job(ctx, t0 + timedelta(hours=1))).delivered == 0
        assert len(partner.received) == 2
    log = await attempts(sessions)
    assert sorted((a.attempt, a.succeeded) for a in log) == [(1, True), (2, True)]
    (message,) = await messages(sessions)
    assert (message.status, message.attempts) == ("DELIVERED", 2)


# -- who gets what -----------------------------------------------------------------------


async def test_filters_a_ping_for_its_endpoint_only_and_nothing_for_a_disabled_one(
    center, jobs, sessions
) -> None:
    # given an endpoint for invoice.paid only, one for every type, and a disabled one
    with receiver() as only_paid, receiver() as every, receiver() as off:
        picky = await make_endpoint(sessions, _id(center), only_paid.url, types=("invoice.paid",))
        await make_endpoint(sessions, _id(center), every.url)
        await make_endpoint(sessions, _id(center), off.url, status="DISABLED")
        # when the center has an invoice paid, a top-up paid, and a ping for the picky one
        await emit(jobs["transact"], _id(center), EventType.INVOICE_PAID)
        await emit(jobs["transact"], _id(center), EventType.TOP_UP_PAID)
        await emit(
            jobs["transact"],
            _id(center),
            EventType.TEST_PING,
            subject_type="WebhookEndpoint",
            subject_id=picky.id,
        )
        report = await deliver_webhooks_job(_ctx(jobs), clock.now())
        # then each receives what its filter takes, the ping only its own endpoint
        assert _types(only_paid) == ["invoice.paid", "test.ping"]
        assert _types(every) == ["invoice.paid", "top_up.paid"]
        assert off.received == []
    assert (report.queued, report.delivered) == (4, 4)
    (pinged,) = [r.json for r in only_paid.received if r.json["type"] == "test.ping"]
    assert pinged["data"] == {"id": f"WebhookEndpoint:{picky.id}"}


async def test_an_endpoint_failing_for_3_days_is_disabled_notified_and_told_in_the_feed(
    api, center, jobs, sessions
) -> None:
    # given an endpoint that always answers 503, and a healthy one of the same center
    t0 = clock.now()
    with receiver() as broken, receiver() as healthy:
        broken.answer(*[503] * 50)
        failing = await make_endpoint(sessions, _id(center), broken.url)
        await make_endpoint(sessions, _id(center), healthy.url)
        await emit(jobs["transact"], _id(center), EventType.CREDIT_ISSUED)
        ctx = _ctx(jobs)
        # when passes run at each retry until the endpoint gives up
        now, passes = t0, 0
        while (await endpoint(sessions, failing.id)).status == "ENABLED" and passes < 30:
            await deliver_webhooks_job(ctx, now)
            passes += 1
            pending = [m for m in await messages(sessions) if m.endpoint_id == failing.id]
            now = pending[0].next_attempt_at
        # then it was disabled at the 3-day mark, after 13 attempts (5 s, 5 min, 30 min,
        # 2 h, 5 h, then every 10 h, the last drawn in to the mark)
        row = await endpoint(sessions, failing.id)
        assert (row.status, row.disabled_reason) == ("DISABLED", "failed for 3 days")
        log = [a for a in await attempts(sessions) if a.endpoint_id == failing.id]
        assert (len(log), log[-1].attempted_at, log[-1].next_attempt_at) == (
            13,
            t0 + timedelta(days=3),
            None,
        )
        (message,) = [m for m in await messages(sessions) if m.endpoint_id == failing.id]
        assert (message.status, message.leased_until) == ("FAILED", None)
        # and the center has a notification, and the event in its feed, which the healthy
        # endpoint receives on the next pass; the disabled one gets nothing more
        async with sessions() as session:
            (note,) = (await session.scalars(select(Notification))).all()
        assert (note.business_center_id, note.kind, note.campaign_id) == (
            _id(center),
            "WEBHOOK_ENDPOINT_DISABLED",
            None,
        )
        assert broken.url in note.message
        (told,) = await _feed(api, center, ["webhook_endpoint.disabled"])
        assert told["data"]["id"] == to_global_id("WebhookEndpoint", failing.id)
        assert (told["data"]["status"], told["data"]["disabledReason"]) == (
            "DISABLED",
            "failed for 3 days",
        )
        sent = len(broken.received)
        await emit(jobs["transact"], _id(center), EventType.CARD_SAVED)
        report = await deliver_webhooks_job(ctx, now + timedelta(minutes=1))
        assert _types(healthy) == [
            "credit.issued",
            "webhook_endpoint.disabled",
            "card.saved",
        ]
        assert (len(broken.received), report.delivered) == (sent, 2)


# -- production address rules -----------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("::1", "a loopback address"),
    ],
)
async def test_a_name_resolving_to_a_refused_address_since_saving_is_never_connected(
    center, jobs, sessions, address: str, reason: str
) -> None:
    # given an endpoint saved as https://hooks.partner.example, whose DNS now answers
    # a refused address, in production mode
    connections: list[httpx.Request] = []

    def transport(request: httpx.Request) -> httpx.Response:
        connections.append(request)
        return httpx.Response(200)

    async def resolver(host: str, port: int) -> list[str]:
        assert (host, port) == ("hooks.partner.example", 443)
        return [address]

    await make_endpoint(sessions, _id(center), "https://hooks.partner.example/hooks")
    await emit(jobs["transact"], _id(center), EventType.INVOICE_OPENED)
    now = clock.now()
    ctx = _ctx(
        jobs, allow_private=False, resolver=resolver, transport=httpx.MockTransport(transport)
    )
    # when a pass runs
    report = await deliver_webhooks_job(ctx, now)
    # then the attempt failed naming the refusal, no connection was made, and it is
    # retried on the schedule (DNS may change back)
    (attempt,) = await attempts(sessions)
    assert attempt.error == (
        f"the endpoint's host hooks.partner.example resolves to {address}, {reason}; "
        "a webhook endpoint must be reachable on the public internet"
    )
    assert (attempt.response_status, attempt.succeeded) == (None, False)
    assert connections == []
    assert report.failed == 1
    (message,) = await messages(sessions)
    assert (message.status, message.next_attempt_at) == ("PENDING", now + timedelta(seconds=5))


# -- pruning -----------------------------------------------------------------------------


async def test_prune_drops_a_months_webhook_messages_and_attempts_with_its_events(
    center, jobs, sessions
) -> None:
    # given an event of January 2020 delivered to an endpoint, and one of now
    async with sessions() as session:
        assert await partitions.ensure_month(session, "events", date(2020, 1, 1)) == "created"
        await session.commit()
    with receiver() as partner:
        await make_endpoint(sessions, _id(center), partner.url)
        old = datetime(2020, 1, 20, tzinfo=UTC)
        await emit(jobs["transact"], _id(center), EventType.INVOICE_PAID, at=old)
        await emit(jobs["transact"], _id(center), EventType.INVOICE_OPENED)
        assert (await deliver_webhooks_job(_ctx(jobs), clock.now())).delivered == 2
    # when prune-events runs in March 2020 with a 30-day retention
    ctx = {"sessions": sessions, "event_retention_days": 30}
    report = await prune_events_job(ctx, datetime(2020, 3, 15, tzinfo=UTC))
    # then January's message and its attempt went with the partition; now's stay
    assert report.dropped == ["events_y2020m01"]
    assert [m.event_created_at > old for m in await messages(sessions)] == [True]
    assert [a.event_created_at > old for a in await attempts(sessions)] == [True]
