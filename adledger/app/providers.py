"""Which payment provider this process talks to: Stripe with a key, else the sandbox."""

from __future__ import annotations

from redis.asyncio import Redis

from adledger.app.settings import Settings
from adledger.payments.port import PaymentProvider
from adledger.payments.sandbox import SandboxProvider
from adledger.payments.stripe_provider import StripeProvider


def build_provider(settings: Settings, redis: Redis) -> PaymentProvider:
    if settings.stripe_api_key:
        return StripeProvider(
            settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            timeout_seconds=settings.stripe_timeout_seconds,
            max_network_retries=settings.stripe_max_network_retries,
        )
    return SandboxProvider(redis)


async def close_provider(provider: PaymentProvider) -> None:
    close = getattr(provider, "aclose", None)
    if close is not None:
        await close()
