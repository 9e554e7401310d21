"""POST /webhooks/stripe: verified against the raw body, answered 2xx once stored."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from adledger.app.state import AppState
from adledger.payments.signing import InvalidSignature, verify_event
from adledger.services import effects
from adledger.services.webhooks import process_event
from adledger.store import billing

log = logging.getLogger(__name__)


async def receive_stripe_event(state: AppState, request: Request) -> JSONResponse:
    """The body arrives already capped in size (app.limits); it is verified as raw bytes,
    then parsed and its shape checked. Anything refused is a 400 that Stripe will not retry,
    never a 500 that it would retry for days."""
    if not state.webhook_secret:
        return JSONResponse({"error": "webhooks are not configured"}, status_code=503)
    payload = await request.body()
    header = request.headers.get("stripe-signature")
    try:
        event = verify_event(payload, header, state.webhook_secret, state.webhook_tolerance)
    except InvalidSignature as err:
        return JSONResponse({"error": str(err)}, status_code=400)
    outcome = await deliver(state, event)
    return JSONResponse({"received": True, "outcome": outcome})


async def deliver(state: AppState, event: dict[str, Any]) -> str:
    """The one path every verified event takes, from Stripe or from the sandbox's
    `adledger payments simulate`. A failure is stored for the retry job, never lost."""
    # Its commits number the events they recorded at once, as a request's do.
    transact = effects.transaction_runner(state.sessions)
    try:
        result = await process_event(transact, state.provider, event, state.now())
    except Exception as err:
        log.exception("webhook event %s failed", event.get("id"))
        detail = f"{type(err).__name__}: {err}"
        await transact(
            lambda s: billing.record_failed_event(
                s, str(event["id"]), str(event["type"]), event, detail
            )
        )
        return "FAILED"
    if result.wallet_id is not None:
        state.nudges.nudge([result.wallet_id])
    return result.status
