"""Migration 0016 gives the campaigns that existed before it their delivering intervals,
from what their rows kept (launch, pause, completion, settlement, cancellation request),
and from then on the database refuses a status written without its interval. Run on a
database of its own, migrated to the revision before 0016."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adledger.store.migrate import alembic_config, upgrade
from tests.conftest import TEST_DATABASE

DATABASE = f"{TEST_DATABASE}_backfill"
LAUNCH = datetime(2026, 3, 1, 9, tzinfo=UTC)
PAUSE = LAUNCH + timedelta(hours=5)
END = LAUNCH + timedelta(days=10)
SETTLED = END + timedelta(hours=12)
REQUESTED = LAUNCH + timedelta(days=2)


@pytest.fixture
async def before_0016(servers: tuple[str, str, str]) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """A database migrated to the revision 0016 follows, and an engine on it."""
    admin_url = servers[0]
    url = make_url(admin_url).set(database=DATABASE).render_as_string(False)
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    previous = ScriptDirectory.from_config(alembic_config(url)).get_revision("0016").down_revision
    assert isinstance(previous, str)
    await asyncio.to_thread(upgrade, url, previous)
    engine = create_async_engine(url)
    try:
        yield url, engine
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        await admin.dispose()


# name → (status, columns it kept), and the interval the migration gives it
CAMPAIGNS: dict[str, tuple[str, dict[str, Any]]] = {
    "active": ("ACTIVE", {}),
    "scheduled": ("SCHEDULED", {}),
    "paused": ("PAUSED", {"paused_at": PAUSE}),
    "completed": ("COMPLETED", {"completed_at": END, "settled_at": SETTLED}),
    "completed paused": (
        "COMPLETED",
        {"paused_at": PAUSE, "paused_at_end": True, "completed_at": END},
    ),
    "stopped and settled": ("BUDGET_EXHAUSTED", {"settled_at": SETTLED, "spent": 100}),
    "canceled after delivery": ("CANCELED", {"settled_at": SETTLED, "spent": 100}),
    "canceled for billing": ("CANCELED", {"spent": 100}),
    "canceled unspent": ("CANCELED", {"settled_at": SETTLED}),
    "waiting": ("PENDING_FUNDS", {}),
    "draft": ("DRAFT", {"launched_at": None}),
}
EXPECTED: dict[str, tuple[datetime | None, list[tuple[datetime, datetime]]]] = {
    "active": (LAUNCH, []),
    "scheduled": (LAUNCH, []),
    "paused": (None, [(LAUNCH, PAUSE)]),
    "completed": (None, [(LAUNCH, END)]),
    "completed paused": (None, [(LAUNCH, PAUSE)]),
    "stopped and settled": (None, [(LAUNCH, SETTLED)]),
    "canceled after delivery": (None, [(LAUNCH, SETTLED)]),
    "canceled for billing": (None, [(LAUNCH, REQUESTED)]),
    "canceled unspent": (None, []),
    "waiting": (None, []),
    "draft": (None, []),
}


async def test_the_migration_gives_existing_campaigns_their_delivering_intervals(
    before_0016: tuple[str, AsyncEngine],
) -> None:
    # given campaigns in every status, as the rows before 0016 kept them
    url, engine = before_0016
    async with engine.begin() as conn:
        ids = await _campaigns(conn)
        await conn.execute(
            text(
                "INSERT INTO cancellation_requests "
                "(campaign_id, business_center_id, requested_at, status) "
                "SELECT id, business_center_id, :at, 'OPEN' FROM campaigns WHERE id = :id"
            ),
            {"at": REQUESTED, "id": ids["canceled for billing"]},
        )

    # when the database is migrated
    await asyncio.to_thread(upgrade, url, "0016")

    # then each campaign delivers, or delivered, from its launch to when its row says it stopped
    async with engine.connect() as conn:
        since = dict((await conn.execute(text("SELECT id, delivering_since FROM campaigns"))).all())  # fmt: skip
        rows = await conn.execute(
            text("SELECT campaign_id, opened_at, closed_at FROM campaign_delivery_intervals")
        )
        closed: dict[int, list[tuple[datetime, datetime]]] = {}
        for campaign_id, opened_at, closed_at in rows:
            closed.setdefault(campaign_id, []).append((opened_at, closed_at))
    found = {name: (since[i], closed.get(i, [])) for name, i in ids.items()}
    assert found == EXPECTED


async def _campaigns(conn: Any) -> dict[str, int]:
    center = await conn.scalar(
        text(
            "INSERT INTO business_centers (name, currency, allocation_mode) "
            "VALUES ('Old', 'USD', 'MANUAL') RETURNING id"
        )
    )
    wallet = await conn.scalar(
        text(
            "INSERT INTO wallets (business_center_id, currency, credit_limit) "
            "VALUES (:c, 'USD', 0) RETURNING id"
        ),
        {"c": center},
    )
    account = await conn.scalar(
        text(
            "INSERT INTO ad_accounts (business_center_id, name, currency, billing_option, "
            "account_type) VALUES (:c, 'Old', 'USD', 'PREPAID', 'AUCTION') RETURNING id"
        ),
        {"c": center},
    )
    ids = {}
    for name, (status, kept) in CAMPAIGNS.items():
        columns = {"launched_at": LAUNCH, "spent": 0, "paused_at_end": False, **kept}
        ids[name] = await conn.scalar(
            text(
                "INSERT INTO campaigns (ad_account_id, business_center_id, wallet_id, name, "
                "status, delivery_type, payment_plan, currency, budget, price, taken, spent, "
                "credited, forfeited, impressions, starts_at, ends_at, launched_at, paused_at, "
                "paused_at_end, completed_at, settled_at) VALUES (:a, :c, :w, :name, :status, "
                "'IF_AVAILABLE', 'CREDIT_BALANCE', 'USD', 10000, 10000, 10000, :spent, 0, 0, 0, "
                ":starts, :ends, :launched_at, :paused_at, :paused_at_end, :completed_at, "
                ":settled_at) RETURNING id"
            ),
            {
                "a": account,
                "c": center,
                "w": wallet,
                "name": name,
                "status": status,
                "starts": LAUNCH - timedelta(hours=1),
                "ends": END,
                "paused_at": None,
                "completed_at": None,
                "settled_at": None,
                **columns,
            },
        )
    return ids


async def test_a_status_written_without_its_delivering_interval_is_refused(
    before_0016: tuple[str, AsyncEngine],
) -> None:
    # given a migrated database with a draft and an active campaign
    url, engine = before_0016
    async with engine.begin() as conn:
        ids = await _campaigns(conn)
    await asyncio.to_thread(upgrade, url, "0016")

    # when a status is written by hand, as a change forgetting services/delivery.py would
    for name, status in (("draft", "ACTIVE"), ("active", "PAUSED")):
        async with engine.begin() as conn:
            # then the database refuses it
            with pytest.raises(IntegrityError, match="ck_campaigns_delivering_since"):
                await conn.execute(
                    text("UPDATE campaigns SET status = :s WHERE id = :id"),
                    {"s": status, "id": ids[name]},
                )
