"""Stripe webhook signatures: make them (sandbox, tests) and check them (the webhook route).

The sandbox signs its events with the same scheme Stripe uses, so a simulated
`invoice.paid` goes through exactly the verification a real one does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import stripe


class InvalidSignature(Exception):
    """The body is not a genuine, recent Stripe event: answer 400 and store nothing."""


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header value: `t=<unix time>,v1=<HMAC-SHA256 of "t.payload">`."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{signed_at}.".encode() + payload, hashlib.sha256)
    return f"t={signed_at},v1={digest.hexdigest()}"


def verify_event(
    payload: bytes, header: str | None, secret: str, tolerance: int = 300
) -> dict[str, Any]:
    """The event as plain JSON once its signature, age and shape are checked.

    The raw body is verified (never a re-serialisation of it); a signature older than
    `tolerance` seconds is refused so a captured request cannot be replayed later
    (Stripe's rule: a tolerance of 0 turns that check off).
    """
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise InvalidSignature(f"the body is not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise InvalidSignature("the body is not a JSON object")
    try:
        stripe.Webhook.construct_event(payload, header, secret, tolerance)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise InvalidSignature(str(exc)) from exc
    return event
