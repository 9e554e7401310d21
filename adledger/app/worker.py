"""The arq worker process: its engine, its Redis, and the jobs it runs.

Wiring lives here rather than in `jobs/` because it reads the settings and builds the
engine; arq imports WorkerSettings by itself, so it must stand ready at import.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC

from arq import cron, func
from arq.connections import RedisSettings
from arq.worker import async_check_health
from redis.asyncio import Redis

from adledger.app.logs import quiet_job_lines
from adledger.app.providers import build_provider, close_provider
from adledger.app.settings import Settings, get_settings
from adledger.jobs.billing import (
    issue_pending_invoices_cron,
    renew_subscriptions_cron,
    retry_webhook_events_cron,
)
from adledger.jobs.budgets import roll_budget_periods_cron
from adledger.jobs.campaigns import (
    complete_campaigns_cron,
    credit_sweep_cron,
    start_campaigns_cron,
)
from adledger.jobs.credit_line import close_credit_line_cycles_cron
from adledger.jobs.events import prune_events_cron
from adledger.jobs.installments import issue_invoices_cron
from adledger.jobs.ledger import (
    Ctx,
    close_ledger_months_cron,
    create_partitions_cron,
    verify_ledger_cron,
    verify_ledger_job,
)
from adledger.jobs.outbox import run_outbox_cron
from adledger.jobs.refunds import send_refunds_cron
from adledger.jobs.webhooks import deliver_webhooks_cron
from adledger.services import balance_guard
from adledger.store.db import make_engine, make_sessionmaker, transaction_runner


async def startup(ctx: Ctx) -> None:
    """One engine per worker process. `adledger dev` hands its settings in through ctx
    (its database may be an embedded one the environment knows nothing about)."""
    quiet_job_lines()  # also under arq's own CLI, which sets up logging itself
    settings: Settings = ctx.setdefault("settings", get_settings())
    if not settings.database_url:
        raise RuntimeError("the worker needs DATABASE_URL")
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    ctx["engine"] = engine
    ctx["sessions"] = make_sessionmaker(engine)
    ctx["transact"] = transaction_runner(ctx["sessions"], before_commit=balance_guard.settle)
    ctx["billing"] = settings.billing_config()
    ctx["event_retention_days"] = settings.event_retention_days
    if settings.redis_url:
        ctx["app_redis"] = Redis.from_url(settings.redis_url)
        ctx["provider"] = build_provider(settings, ctx["app_redis"])


async def shutdown(ctx: Ctx) -> None:
    provider = ctx.pop("provider", None)
    if provider is not None:
        await close_provider(provider)
    redis = ctx.pop("app_redis", None)
    if redis is not None:
        await redis.aclose()
    engine = ctx.pop("engine", None)
    if engine is not None:
        await engine.dispose()


def redis_settings_for(url: str | None) -> RedisSettings:
    return RedisSettings.from_dsn(url) if url else RedisSettings()


# Each worker host (container) records its own health, so `adledger worker --check` in a
# container reports on the worker of that container, not on any worker of the queue.
HEALTH_CHECK_KEY = f"adledger:worker-health:{socket.gethostname()}"
HEALTH_CHECK_SECONDS = 30


async def check_worker_health(settings: Settings) -> bool:
    if not settings.redis_url:
        return False
    return await async_check_health(redis_settings_for(settings.redis_url), HEALTH_CHECK_KEY) == 0


class WorkerSettings:
    """Read by `adledger worker` (and by arq's own CLI, hence class attributes)."""

    functions = [func(verify_ledger_job, name="verify_ledger")]
    cron_jobs = [
        cron(verify_ledger_cron, name="verify_ledger_hourly", minute=0, second=0),
        # Daily, months ahead: see services/partitions.py.
        cron(create_partitions_cron, name="create_partitions", hour=3, minute=20, second=0),
        # Hourly: a month is closed once its postings are all committed (services/closings.py).
        cron(close_ledger_months_cron, name="close_ledger_months", minute=15, second=0),
        # Daily: partner events older than EVENT_RETENTION_DAYS, a whole month at a time.
        cron(prune_events_cron, name="prune_events", hour=3, minute=40, second=0),
        cron(renew_subscriptions_cron, name="renew_subscriptions", minute={5, 35}, second=0),
        cron(issue_pending_invoices_cron, name="issue_pending_invoices", second=15),
        # Every 10 seconds: effects a process left undone after its commit (the outbox).
        cron(run_outbox_cron, name="run_outbox", second=set(range(2, 60, 10))),
        # Every 5 seconds: partner webhooks queued, sent and retried (jobs/webhooks.py).
        cron(deliver_webhooks_cron, name="deliver_webhooks", second=set(range(0, 60, 5))),
        cron(retry_webhook_events_cron, name="retry_webhook_events", second=45),
        cron(start_campaigns_cron, name="start_campaigns", second=5),
        cron(complete_campaigns_cron, name="complete_campaigns", second=25),
        # Every 10 minutes: with a settlement window of at most 23 h, every ended
        # campaign is credited within 24 h of its end.
        cron(credit_sweep_cron, name="credit_sweep", minute=set(range(0, 60, 10)), second=35),
        # Hourly, so a cycle is closed soon after it ends; at :10, when spend committed
        # around midnight has its postings in. Closing is idempotent, so each run is.
        cron(close_credit_line_cycles_cron, name="close_credit_line_cycles", minute=10, second=0),
        # Every 5 minutes: a DAILY or MONTHLY cap that rolled over at midnight UTC lets its
        # stopped campaigns deliver again within minutes (spend itself rolls the counter).
        # Every minute: installments due are issued and charged, declined ones retried.
        cron(issue_invoices_cron, name="issue_invoices", second=20),
        # Every minute: approved refunds the provider did not take yet.
        cron(send_refunds_cron, name="send_refunds", second=40),
        cron(
            roll_budget_periods_cron,
            name="roll_budget_periods",
            minute=set(range(0, 60, 5)),
            second=50,
        ),
    ]
    on_startup = startup
    on_shutdown = shutdown
    health_check_key = HEALTH_CHECK_KEY
    health_check_interval = HEALTH_CHECK_SECONDS
    # Only for arq's own CLI; `adledger worker` passes the validated settings' URL. Read
    # raw here so that importing this module never fails on an unrelated bad setting.
    redis_settings = redis_settings_for(os.environ.get("REDIS_URL"))
    timezone = UTC
