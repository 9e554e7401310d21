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

# Stripe's ids are far shorter; the column holds 255. Types fit the column of 100.
MAX_EVENT_ID_LENGTH = 255
MAX_EVENT_TYPE_LENGTH = 100
MAX_SIGNATURE_HEADER_LENGTH = 4096
# Events whose data object must name the invoice they are about.
INVOICE_EVENT_PREFIX = "invoice."


class InvalidSignature(Exception):
    """The body is not a genuine, recent, well-formed Stripe event: answer 400, store nothing."""


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header value: `t=<unix time>,v1=<HMAC-SHA256 of "t.payload">`."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{signed_at}.".encode() + payload, hashlib.sha256)
    return f"t={signed_at},v1={digest.hexdigest()}"


def verify_event(
    payload: bytes,
    header: str | None,
    secret: str,
    tolerance: int = 300,
    now: float | None = None,
) -> dict[str, Any]:
    """The event as plain JSON once its signature, age and shape are checked.

    The raw bytes are verified before any JSON is parsed (a forged body costs one HMAC).
    A signature more than `tolerance` seconds in the past or in the future is refused,
    so a captured request cannot be replayed later, nor one signed ahead of time
    (Stripe's rule: a tolerance of 0 turns that check off).
    """
    text = _verify_signature(payload, header, secret, tolerance, now)
    event = _decode(text)
    _check_shape(event)
    return event


def _verify_signature(
    payload: bytes, header: str | None, secret: str, tolerance: int, now: float | None
) -> str:
    if not header:
        raise InvalidSignature("no Stripe-Signature header")
    if len(header) > MAX_SIGNATURE_HEADER_LENGTH:
        raise InvalidSignature("the Stripe-Signature header is too long")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSignature("the body is not UTF-8") from exc
    signed_at = _timestamp(header)
    current = time.time() if now is None else now
    if tolerance > 0 and abs(current - signed_at) > tolerance:
        raise InvalidSignature("the signature's timestamp is outside the tolerance zone")
    try:
        stripe.WebhookSignature.verify_header(text, header, secret, tolerance or None)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise InvalidSignature(str(exc)) from exc
    return text


def _timestamp(header: str) -> int:
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            return int(value)
    raise InvalidSignature("the Stripe-Signature header has no timestamp")


def _decode(text: str) -> dict[str, Any]:
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidSignature("the body is not JSON (or is nested too deeply)") from exc
    if not isinstance(event, dict):
        raise InvalidSignature("the body is not a JSON object")
    return event


def _check_shape(event: dict[str, Any]) -> None:
    """What storing and processing the event rely on, checked before either."""
    _require_text(event.get("id"), "id", MAX_EVENT_ID_LENGTH)
    event_type = _require_text(event.get("type"), "type", MAX_EVENT_TYPE_LENGTH)
    if _has_nul(event):
        raise InvalidSignature("the event contains a NUL character")
    if event_type.startswith(INVOICE_EVENT_PREFIX):
        data = event.get("data")
        invoice = data.get("object") if isinstance(data, dict) else None
        found = invoice.get("id") if isinstance(invoice, dict) else None
        _require_text(found, "data.object.id", MAX_EVENT_ID_LENGTH)


def _require_text(value: object, name: str, max_length: int) -> str:
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise InvalidSignature(f"the event's {name} must be a string of 1 to {max_length} chars")
    if not value.isprintable():
        raise InvalidSignature(f"the event's {name} contains control characters")
    return value


def _has_nul(document: object) -> bool:
    """PostgreSQL cannot store U+0000 in text or JSONB; walk without recursion."""
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
