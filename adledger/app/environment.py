"""Which environment variables each command reads, for its `--help` (and a test checks
that every setting is named by at least one command)."""

from __future__ import annotations

# Each group: the variables, and what they are for. Settings are read from the
# environment and from ./.env; docs/operations.md has the full reference.
GROUPS: dict[str, dict[str, str]] = {
    "database": {
        "DATABASE_URL": "PostgreSQL URL (postgresql://, postgres:// or postgresql+asyncpg://)",
        "DB_POOL_SIZE": "connections kept per process (10)",
        "DB_MAX_OVERFLOW": "extra connections under load (20)",
        "LOCK_ORDER_CHECK": "tests and debugging: a row lock taken out of the lock order raises "
        "LockOrderViolation (false)",
    },
    "redis": {"REDIS_URL": "Redis URL for jobs and wallet notifications (redis://host:6379/0)"},
    "embedded": {
        "DATA_DIR": "where embedded PostgreSQL/Redis keep their data when the URLs are unset "
        "(.adledger)",
    },
    "payments": {
        "PAYMENT_PROVIDER": "stripe or sandbox; without Stripe keys only sandbox starts",
        "STRIPE_API_KEY": "Stripe secret key",
        "STRIPE_WEBHOOK_SECRET": "signing secret of the Stripe webhook endpoint",
        "STRIPE_API_BASE": "another Stripe API address (a test fake)",
        "STRIPE_TIMEOUT_SECONDS": "Stripe request timeout (10)",
        "STRIPE_MAX_NETWORK_RETRIES": "Stripe retries per request (1)",
    },
    "billing": {
        "MIN_TOP_UP": "smallest top-up (10.00)",
        "INVOICE_DAYS_UNTIL_DUE": "net terms of invoices (30)",
        "PLAN_PRICES": "JSON prices per plan and currency",
        "MIN_CAMPAIGN_BUDGET": "smallest campaign budget (50.00)",
        "MIN_CREDIT": "an ended campaign's unspent rest at or below this is forfeited (1.00)",
        "SETTLEMENT_WINDOW_HOURS": "late spend reports taken until endsAt plus this (12, "
        "at most 23)",
        "INSTALLMENT_THRESHOLD": "a card plan's price under this is one invoice (250.00)",
        "CHARGE_RETRY_DAYS": "JSON days between charges of a declined installment ([1, 3, 5])",
        "SPEND_CLOCK_SKEW_SECONDS": "a spend event dated later than now by more than this is "
        "refused as IN_THE_FUTURE (300)",
        "EVENT_RETENTION_DAYS": "partner events are kept this many days at least, then "
        "prune-events drops their whole months (30, at least 30)",
    },
    "logs": {
        "LOG_FORMAT": "text (one line for a terminal) or json (one JSON object a line) (text)",
        "LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR (INFO; DEBUG adds each job run)",
    },
    "http": {
        "HOST": "interface to listen on (127.0.0.1)",
        "PORT": "port to listen on (8000)",
        "PUBLIC_URL": "the address users reach the API at, for printed links",
        "GRAPHIQL": "serve GraphiQL at GET /graphql (true)",
        "MAX_QUERY_DEPTH": "deepest GraphQL selection (10)",
        "MAX_ALIASES": "most aliases in one document (30)",
        "MAX_TOKENS": "most tokens in one document (2000)",
        "MAX_PAGE_SIZE": "largest page of a connection (100)",
        "MAX_QUERY_NODES": "selections in a document once its fragments are expanded (2000)",
        "MAX_FRAGMENT_SPREADS": "fragment spreads once expanded (500)",
        "MAX_FIELD_REPEATS": "times one field may repeat in one selection set (50)",
        "MAX_QUERY_COST": "nodes one query's answer could hold, computed before it runs (100000)",
        "RATE_LIMIT_POINTS": "points a member's requests may cost per window, all processes "
        "(500000)",
        "RATE_LIMIT_INTEGRATION_POINTS": "the same for the ad server's integration token (5000000)",
        "RATE_LIMIT_WINDOW_SECONDS": "the points budget's window, refilled whole at its end (60)",
        "MAX_GRAPHQL_BODY_BYTES": "largest /graphql request body (1048576)",
        "MAX_WEBHOOK_BODY_BYTES": "largest webhook request body (262144)",
        "WEBHOOK_TOLERANCE_SECONDS": "how far a webhook signature may be from now (300)",
        "TOKEN_CACHE_SECONDS": "how long a process trusts a token it found: a revoked token "
        "works that long at most (5; 0: look every token up)",
        "WS_MAX_CONNECTIONS_PER_TOKEN": "open WebSockets per API token, all processes (5)",
        "WS_MAX_SUBSCRIPTIONS_PER_CONNECTION": "operations in flight per WebSocket (20)",
        "WS_CONNECTION_INIT_TIMEOUT_SECONDS": "time a WebSocket has to send connection_init (10)",
        "EXPORT_SIGNING_SECRET": "signs CSV export links; one value shared by every API "
        "process (unset: random per process)",
    },
    "webhooks": {
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "partner webhook endpoints may be http and reach "
        "loopback and private addresses (false; dev turns it on)",
    },
}

EVERYTHING = tuple(GROUPS)


def names(*groups: str) -> list[str]:
    return [name for group in groups for name in GROUPS[group]]


def describe(*groups: str) -> str:
    """The `--help` epilog: every variable the command reads, one per line."""
    if not groups:
        return "environment variables: none"
    lines = ["environment variables (also read from ./.env):"]
    for group in groups:
        for name, meaning in GROUPS[group].items():
            lines.append(f"  {name:<36} {meaning}")
    return "\n".join(lines)
