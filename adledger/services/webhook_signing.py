"""Partner webhook signatures, as the Standard Webhooks specification says, made by its own
reference package (`standardwebhooks`), so a partner verifying with it (in any language)
checks exactly what we signed.

A delivery carries `webhook-id` (the event's id: the same on every retry, for the partner's
deduplication), `webhook-timestamp` (Unix seconds when this attempt was signed) and
`webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one entry per secret
in force, separated by spaces (two for 24 hours after a rotation).
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

from adledger.domain.errors import InvariantBroken

SECRET_PREFIX = "whsec_"
# 32 random bytes: the HMAC-SHA256 key's full strength (the specification asks 24 to 64).
SECRET_BYTES = 32
# The specification's limit on a message id, and what every header value may hold.
MAX_MESSAGE_ID_LENGTH = 255


def generate_secret() -> str:
    """A new signing secret, `whsec_` and the key in base64: shown to the partner once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(msg_id: str, timestamp: int, body: bytes, signing_secrets: Sequence[str]) -> str:
    """The `webhook-signature` header: one `v1,...` entry per secret, space-separated."""
    if not signing_secrets:
        raise InvariantBroken("a webhook is signed with at least one secret")
    _check_message_id(msg_id)
    signed_at = datetime.fromtimestamp(timestamp, UTC)
    return " ".join(Webhook(secret).sign(msg_id, signed_at, body) for secret in signing_secrets)


def signed_headers(
    msg_id: str, body: bytes, signing_secrets: Sequence[str], timestamp: int | None = None
) -> dict[str, str]:
    """The three headers of a delivery. The timestamp is real time, never the business
    clock (adledger/clock.py): the partner checks it against its own clock."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(signed_at),
        "webhook-signature": sign(msg_id, signed_at, body, signing_secrets),
    }


def _check_message_id(msg_id: str) -> None:
    # It goes into a header as it is; the signature entries are split on spaces.
    if not (
        1 <= len(msg_id) <= MAX_MESSAGE_ID_LENGTH
        and msg_id.isascii()
        and msg_id.isprintable()
        and " " not in msg_id
    ):
        raise InvariantBroken(f"{msg_id[:40]!r} cannot be a webhook message id")
