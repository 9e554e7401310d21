"""Which payment provider this process talks to: Stripe, or the sandbox when chosen."""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from adledger.app.settings import Settings
from adledger.payments.port import PaymentProvider
from adledger.payments.sandbox import SandboxProvider
from adledger.payments.stripe_provider import StripeProvider

log = logging.getLogger(__name__)
# The sandbox is announced once a process: `adledger dev` builds a provider for the API,
# the worker and the demo's seeding, and four copies of the line buried its banner.
_sandbox_announced = False


def build_provider(settings: Settings, redis: Redis) -> PaymentProvider:
    """Raises PaymentsNotConfigured unless Stripe is fully configured or the sandbox was
    chosen explicitly: payments never fall back silently."""
    if settings.chosen_payment_provider() == "sandbox":
        _announce_sandbox()
        return SandboxProvider(redis)
    assert settings.stripe_api_key is not None  # chosen_payment_provider checked it
    return StripeProvider(
        settings.stripe_api_key,
        api_base=settings.stripe_api_base,
        timeout_seconds=settings.stripe_timeout_seconds,
        max_network_retries=settings.stripe_max_network_retries,
    )


def _announce_sandbox() -> None:
    global _sandbox_announced
    if not _sandbox_announced:
        _sandbox_announced = True
        log.warning(
            "PAYMENT_PROVIDER=sandbox: invoices go to the local sandbox provider; "
            "no real payment is taken"
        )


async def close_provider(provider: PaymentProvider) -> None:
    close = getattr(provider, "aclose", None)
    if close is not None:
        await close()
