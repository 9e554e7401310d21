"""Configuration from the environment (ADLEDGER_-less names, as a twelve-factor app expects)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adledger.services.config import DEFAULT_PLAN_PRICES, BillingConfig

# Signs the sandbox's own events; real Stripe events are checked with STRIPE_WEBHOOK_SECRET.
SANDBOX_WEBHOOK_SECRET = "whsec_adledger_sandbox"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(default=None, description="postgresql+asyncpg://...")
    redis_url: str | None = Field(default=None, description="redis://host:port/db")
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

    data_dir: Path = Path(".adledger")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None

    db_pool_size: int = 10
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
    graphiql: bool = True

    @property
    def uses_sandbox(self) -> bool:
        """No Stripe key: invoices go to the local sandbox provider."""
        return not self.stripe_api_key

    @property
    def webhook_secret(self) -> str | None:
        if self.stripe_webhook_secret:
            return self.stripe_webhook_secret
        return SANDBOX_WEBHOOK_SECRET if self.uses_sandbox else None

    def billing_config(self) -> BillingConfig:
        return BillingConfig(
            min_top_up=self.min_top_up,
            days_until_due=self.invoice_days_until_due,
            plan_prices=self.plan_prices or DEFAULT_PLAN_PRICES,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
