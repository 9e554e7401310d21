"""What a partner receives for an event (the webhook body, the listener's body too) and
the snapshot of a webhook endpoint (the `webhook_endpoint.disabled` and `test.ping`
events). One envelope for every delivery of an event: its `id` is the `webhook-id`
header too, the same on every retry, so a partner dedupes by it."""

from __future__ import annotations

from typing import Any

from adledger.domain.ids import to_global_id
from adledger.services.event_data import Data, instant


def envelope(event: Any) -> Data:
    """An `events` row as it is posted: the event's id, type, sequence, time, API version,
    its center, and its snapshot (`data`). Keys as the GraphQL API names them."""
    return {
        "id": to_global_id("Event", event.id),
        "type": event.type,
        "sequence": event.sequence,
        "createdAt": instant(event.created_at),
        "apiVersion": event.api_version,
        "businessCenter": {"id": to_global_id("BusinessCenter", event.business_center_id)},
        "data": event.data,
    }


def endpoint(row: Any) -> Data:
    """`WebhookEndpoint`, from a webhook_endpoints row; never its secret."""
    return {
        "id": to_global_id("WebhookEndpoint", row.id),
        "url": row.url,
        "description": row.description,
        "eventTypes": list(row.event_types),
        "status": row.status,
        "disabledReason": row.disabled_reason,
        "createdAt": instant(row.created_at),
    }
