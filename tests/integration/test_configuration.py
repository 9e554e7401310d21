"""Configuration as hosting platforms hand it out: DATABASE_URL in every common form, and
payments that never fall back to the sandbox unless it is chosen."""

from __future__ import annotations

import logging
import re

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from adledger.app import providers
from adledger.app.asgi import create_app
from adledger.app.settings import PaymentsNotConfigured, Settings
from adledger.payments.sandbox import SandboxProvider
from adledger.payments.stripe_provider import StripeProvider
from adledger.store.db import DatabaseUrlError, asyncpg_url, make_engine


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "postgres://u:pw@db.example.com:5432/app",
            "postgresql+asyncpg://u:pw@db.example.com:5432/app",
        ),
        ("postgresql://u:pw@db.example.com/app", "postgresql+asyncpg://u:pw@db.example.com/app"),
        ("postgresql+asyncpg://u@h/app", "postgresql+asyncpg://u@h/app"),
        (
            "postgresql://u@/app?host=/var/run/postgresql",
            "postgresql+asyncpg://u@/app?host=%2Fvar%2Frun%2Fpostgresql",
        ),
        ("postgresql://u:p%40ss@h/app", "postgresql+asyncpg://u:p%40ss@h/app"),
        ("postgresql://u@h/app?sslmode=require", "postgresql+asyncpg://u@h/app?ssl=require"),
        (
            "postgresql://u@h/app?sslmode=verify-full&channel_binding=require",
            "postgresql+asyncpg://u@h/app?ssl=verify-full",
        ),
        ("  postgres://u@h/app\n", "postgresql+asyncpg://u@h/app"),
    ],
)
def test_platform_urls_become_asyncpg_urls(given: str, expected: str) -> None:
    assert asyncpg_url(given) == expected
    assert Settings(database_url=given).database_url == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("mysql://u@h/app", "must start with postgresql:// or postgres://"),
        ("postgresql+psycopg2://u@h/app", "not postgresql+psycopg2://"),
        ("not a url", "is not a URL"),
        ("postgresql://u@h/app?connect_timeout=5", "does not take: connect_timeout"),
    ],
)
def test_urls_we_cannot_use_are_refused_with_the_reason(given: str, message: str) -> None:
    with pytest.raises(DatabaseUrlError, match=re.escape(message)):
        asyncpg_url(given)


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+asyncpg"])
async def test_each_form_connects_to_the_test_database(database_url: str, scheme: str) -> None:
    url = make_url(database_url).set(drivername=scheme).render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            assert (
                await conn.scalar(text("SELECT current_database()"))
                == make_url(database_url).database
            )
    finally:
        await engine.dispose()


async def test_a_unix_socket_directory_in_the_host_parameter_connects(database_url: str) -> None:
    """The form Cloud SQL and local sockets use: no host in the authority, `?host=/dir`."""
    url = make_url(database_url)
    socket_dir = url.query.get("host") or "/var/run/postgresql"
    plain = f"postgresql://{url.username}@/{url.database}?host={socket_dir}"
    if url.port:
        plain += f"&port={url.port}"
    engine = make_engine(plain, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()


# Payments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "chosen"),
    [
        ({"payment_provider": "sandbox"}, "sandbox"),
        ({"payment_provider": "sandbox", "stripe_api_key": "sk_test_1"}, "sandbox"),
        (
            {
                "payment_provider": None,
                "stripe_api_key": "sk_1",
                "stripe_webhook_secret": "whsec_1",
            },
            "stripe",
        ),
        (
            {
                "payment_provider": "stripe",
                "stripe_api_key": "sk_1",
                "stripe_webhook_secret": "whsec_1",
            },
            "stripe",
        ),
    ],
)
def test_the_provider_is_stripe_with_both_keys_or_the_sandbox_when_chosen(
    values: dict[str, str | None], chosen: str
) -> None:
    assert Settings(**values).chosen_payment_provider() == chosen


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"payment_provider": None}, "STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET"),
        ({"payment_provider": None, "stripe_api_key": "sk_1"}, "set STRIPE_WEBHOOK_SECRET,"),
        ({"payment_provider": "stripe", "stripe_webhook_secret": "whsec_1"}, "set STRIPE_API_KEY,"),
    ],
)
def test_no_half_configured_stripe_falls_back_to_the_sandbox(
    values: dict[str, str | None], missing: str
) -> None:
    with pytest.raises(PaymentsNotConfigured, match=missing):
        Settings(**values).chosen_payment_provider()


async def test_the_app_does_not_start_without_a_chosen_provider(
    database_url: str, redis_url: str
) -> None:
    app = create_app(
        Settings(database_url=database_url, redis_url=redis_url, payment_provider=None)
    )

    with pytest.raises(PaymentsNotConfigured):
        async with app.router.lifespan_context(app):
            pass


async def test_the_sandbox_warns_when_the_app_starts(
    database_url: str,
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(providers, "_sandbox_announced", False)  # a new process
    app = create_app(
        Settings(database_url=database_url, redis_url=redis_url, payment_provider="sandbox")
    )

    with caplog.at_level(logging.WARNING, logger="adledger.app.providers"):
        async with app.router.lifespan_context(app):
            provider = app.state.adledger.provider

    assert isinstance(provider, SandboxProvider)
    assert "PAYMENT_PROVIDER=sandbox" in caplog.text
    assert "no real payment is taken" in caplog.text


async def test_the_sandbox_is_announced_once_a_process(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(providers, "_sandbox_announced", False)
    settings = Settings(payment_provider="sandbox")
    redis = Redis()  # never connected: building a provider talks to nobody

    with caplog.at_level(logging.WARNING, logger="adledger.app.providers"):
        for _ in range(4):  # the API, the worker and the demo's seeding, in `adledger dev`
            providers.build_provider(settings, redis)

    assert caplog.text.count("PAYMENT_PROVIDER=sandbox") == 1


async def test_with_both_keys_the_app_talks_to_stripe(database_url: str, redis_url: str) -> None:
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        payment_provider=None,
        stripe_api_key="sk_test_configured",
        stripe_webhook_secret="whsec_configured",
    )
    app = create_app(settings)

    async with app.router.lifespan_context(app):
        assert isinstance(app.state.adledger.provider, StripeProvider)
        assert app.state.adledger.webhook_secret == "whsec_configured"


def test_webhooks_go_only_to_public_https_endpoints_unless_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WEBHOOK_ALLOW_PRIVATE_TARGETS")  # the suite sets it

    production = Settings(_env_file=None)

    assert production.webhook_allow_private_targets is False
    assert production.for_development().webhook_allow_private_targets is True


def test_dev_keeps_a_private_targets_setting_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")

    assert Settings(_env_file=None).for_development().webhook_allow_private_targets is False


def test_the_test_suite_allows_private_targets() -> None:
    assert Settings(_env_file=None).webhook_allow_private_targets is True
