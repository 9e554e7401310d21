"""Configuration from the environment (ADLEDGER_-less names, as a twelve-factor app expects)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adledger.services.config import DEFAULT_PLAN_PRICES, BillingConfig
from adledger.store import locks
from adledger.store.db import asyncpg_url

# Signs the sandbox's own events; real Stripe events are checked with STRIPE_WEBHOOK_SECRET.
SANDBOX_WEBHOOK_SECRET = "whsec_adledger_sandbox"


class PaymentsNotConfigured(ValueError):
    """Neither Stripe keys nor an explicit PAYMENT_PROVIDER=sandbox: refuse to start."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, description="postgresql://, postgres:// or postgresql+asyncpg://"
    )
    redis_url: str | None = Field(default=None, description="redis://host:port/db")
    # Which provider takes payments: "stripe" needs both Stripe keys; "sandbox" (local
    # runs, tests, demos) must be chosen explicitly, so a missing key never turns a
    # production deployment into one that takes no money.
    payment_provider: Literal["stripe", "sandbox"] | None = None
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    # A request waits on Stripe while the customer waits on us: keep both short; the
    # idempotency keys make a client's retry safe.
    stripe_timeout_seconds: float = 10.0
    stripe_max_network_retries: int = 1

    # Billing: see BillingConfig for what each means.
    min_top_up: str = "10.00"
    invoice_days_until_due: int = 30
    plan_prices: dict[str, dict[str, str]] | None = None
    min_campaign_budget: str = "50.00"
    min_credit: str = "1.00"
    # The sweep credits every ended campaign within 24 h of its end: the window leaves
    # it at least an hour to run (it runs every 10 minutes).
    settlement_window_hours: int = Field(default=12, ge=0, le=23)
    # Card plans (DESIGN §8): a price under this is one invoice at launch; a declined
    # installment is charged again this many days after each failure, then the campaign
    # is paused.
    installment_threshold: str = "250.00"
    charge_retry_days: list[int] = Field(default=[1, 3, 5], min_length=0, max_length=10)
    # A spend event dated more than this ahead of our clock is refused (IN_THE_FUTURE).
    spend_clock_skew_seconds: int = Field(default=300, ge=0, le=3600)
    # Partner events are kept at least 30 days (the feed a partner catches up from);
    # prune-events drops whole months older than this.
    event_retention_days: int = Field(default=30, ge=30, le=36_500)

    data_dir: Path = Path(".adledger")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None

    # How long a process trusts a token it found (a revoked token works that much longer
    # at most); 0: every request looks its token up.
    token_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    db_pool_size: int = 10
    # Tests and debugging: a row lock taken out of the one lock order (store/locks.py)
    # raises LockOrderViolation instead of risking a deadlock under load. Off: no check.
    lock_order_check: bool = False
    db_max_overflow: int = 20
    max_query_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2000
    # Checked right after parsing, before any validation rule expands a fragment: selections
    # (fields, inline fragments) and fragment spreads counted once every spread is expanded,
    # and how often one field may be selected in one selection set (validation compares
    # those pairwise).
    max_query_nodes: int = 2000
    max_fragment_spreads: int = 500
    max_field_repeats: int = 50
    max_page_size: int = 100
    # Query cost (schema/cost.py): the nodes an answer could hold, computed before any
    # resolver runs. GitHub allows 500 000; ours stops a query that could hold 100 000
    # (GraphiQL's introspection holds about 42 000, the demo's and docs' queries at most a
    # few thousand; issue 24's 20 aliases of nested first:100 pages 602 000).
    max_query_cost: int = Field(default=100_000, ge=1)
    # The points budget each caller spends its queries' cost from, shared by every API
    # process (Redis), refilled every window. A member's SPA spends a few hundred points a
    # screen: 500 000 a minute is dozens of screens a second, or five max-cost queries;
    # GraphiQL's introspection is 42 000. The ad server's integration token is charged at
    # least a point per spend event: 5 000 000 a minute is far past what one ledger applies.
    rate_limit_points: int = Field(default=500_000, ge=1)
    rate_limit_integration_points: int = Field(default=5_000_000, ge=1)
    rate_limit_window_seconds: int = Field(default=60, ge=1, le=86_400)
    graphiql: bool = True
    # Long-running processes (serve, worker, dev): `json` writes one JSON object a line.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # WebSockets (graphql-transport-ws): open sockets per API token, across all processes;
    # operations in flight per socket; seconds a socket may wait before connection_init.
    ws_max_connections_per_token: int = Field(default=5, ge=1)
    ws_max_subscriptions_per_connection: int = Field(default=20, ge=1)
    ws_connection_init_timeout_seconds: float = Field(default=10.0, gt=0)

    # Hostile input costs little: bodies past these sizes answer 413 before being read.
    max_graphql_body_bytes: int = 1024 * 1024
    max_webhook_body_bytes: int = 256 * 1024
    # A signed webhook older or newer than this (seconds) is refused: no replays later,
    # no events signed ahead of time.
    webhook_tolerance_seconds: int = 300
    # Partner webhook endpoints (docs/integrations.md) must be https and resolve to public
    # addresses only; this lets them be http://localhost and the like: `adledger dev` and
    # the tests turn it on, production never should.
    webhook_allow_private_targets: bool = False
    # Signs the short-lived CSV export links createExport answers (HMAC-SHA256). Unset, each
    # process makes a random one when it starts: a link then opens only on the process that
    # made it, so several API processes (`serve --workers N`, replicas) need one shared value.
    export_signing_secret: str | None = Field(default=None, min_length=32)

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        return value.lower() if info.field_name == "log_format" else value.upper()

    @field_validator("database_url")
    @classmethod
    def _asyncpg_database_url(cls, value: str | None) -> str | None:
        return asyncpg_url(value) if value else None

    @property
    def uses_sandbox(self) -> bool:
        """Invoices go to the local sandbox provider (PAYMENT_PROVIDER=sandbox)."""
        return self.chosen_payment_provider() == "sandbox"

    def chosen_payment_provider(self) -> Literal["stripe", "sandbox"]:
        """The provider this process must use; raises PaymentsNotConfigured rather than
        fall back to the sandbox when Stripe is half set up or not at all."""
        if self.payment_provider == "sandbox":
            return "sandbox"
        missing = [
            name
            for name, value in (
                ("STRIPE_API_KEY", self.stripe_api_key),
                ("STRIPE_WEBHOOK_SECRET", self.stripe_webhook_secret),
            )
            if not value
        ]
        if missing:
            raise PaymentsNotConfigured(
                f"payments are not configured: set {' and '.join(missing)}, "
                "or PAYMENT_PROVIDER=sandbox to take no real payments"
            )
        return "stripe"

    def for_local_run(self) -> Settings:
        """`adledger dev` and commands on embedded servers are local by definition: with
        no provider chosen and no Stripe key, they use the sandbox (and say so)."""
        if self.payment_provider is None and not self.stripe_api_key:
            return self.model_copy(update={"payment_provider": "sandbox"})
        return self

    def for_development(self) -> Settings:
        """`adledger dev`: partner webhooks may go to the developer's own machine
        (http://localhost:3000/hooks), unless WEBHOOK_ALLOW_PRIVATE_TARGETS says otherwise."""
        if "webhook_allow_private_targets" in self.model_fields_set:
            return self
        return self.model_copy(update={"webhook_allow_private_targets": True})

    @property
    def webhook_secret(self) -> str | None:
        if self.stripe_webhook_secret:
            return self.stripe_webhook_secret
        return SANDBOX_WEBHOOK_SECRET if self.payment_provider == "sandbox" else None

    def billing_config(self) -> BillingConfig:
        return BillingConfig(
            min_top_up=self.min_top_up,
            days_until_due=self.invoice_days_until_due,
            plan_prices=self.plan_prices or DEFAULT_PLAN_PRICES,
            min_campaign_budget=self.min_campaign_budget,
            min_credit=self.min_credit,
            settlement_window_hours=self.settlement_window_hours,
            installment_threshold=self.installment_threshold,
            charge_retry_days=tuple(self.charge_retry_days),
            spend_clock_skew_seconds=self.spend_clock_skew_seconds,
        )


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once at its start (which turns the lock-order guard on
    when LOCK_ORDER_CHECK is set)."""
    settings = Settings()
    if settings.lock_order_check:
        locks.configure(True)
    return settings
