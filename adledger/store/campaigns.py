"""Campaigns, their ledger accounts and spend events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.domain.campaigns import Interval
from adledger.domain.ledger import CAMPAIGN_KINDS, AccountKind, AccountState
from adledger.store import raw
from adledger.store.locks import Level, register, register_owned
from adledger.store.models import (
    AdAccount,
    BusinessCenter,
    Campaign,
    CampaignDeliveryInterval,
    Invoice,
    LedgerAccount,
    Membership,
    SpendEvent,
)
from adledger.store.pagination import pages_by_parent


async def insert_campaign(session: AsyncSession, campaign: Campaign) -> Campaign:
    """The campaign with its three ledger accounts, created together."""
    session.add(campaign)
    await session.flush()
    session.add_all(
        LedgerAccount(
            key=f"campaign:{campaign.id}:{kind.value}",
            kind=kind.value,
            currency=campaign.currency,
            wallet_id=campaign.wallet_id,
            campaign_id=campaign.id,
            balance=0,
        )
        for kind in CAMPAIGN_KINDS
    )
    await session.flush()
    return campaign


# -- the hot path of createCampaign and launchCampaign: plain statements (store/raw.py) --


@dataclass(frozen=True, slots=True)
class AccountForCampaign:
    """An ad account as a new campaign needs it, with its center's allocation mode, its
    wallet and the caller's role in its center (None: not a member)."""

    id: int
    business_center_id: int
    currency: str
    billing_option: str
    allocation_mode: str
    wallet_id: int | None
    role: str | None


async def account_for_campaign(
    session: AsyncSession, user_id: int, ad_account_id: int
) -> AccountForCampaign | None:
    """One statement for what createCampaign reads before it writes."""
    row = await raw.fetchrow(session, _ACCOUNT_FOR_CAMPAIGN, ad_account_id, user_id)
    return None if row is None else AccountForCampaign(*row)


_ACCOUNT_FOR_CAMPAIGN = (
    "SELECT a.id, a.business_center_id, a.currency, a.billing_option, c.allocation_mode, "
    "w.id, m.role FROM ad_accounts a "
    "JOIN business_centers c ON c.id = a.business_center_id "
    "LEFT JOIN wallets w ON w.ad_account_id = a.id "
    "LEFT JOIN memberships m ON m.business_center_id = a.business_center_id AND m.user_id = $2 "
    "WHERE a.id = $1"
)


async def insert_campaign_row(session: AsyncSession, values: dict[str, Any]) -> raw.Row:
    """`insert_campaign` in one plain statement: the campaign (`values`, its columns) with
    its ledger accounts; answers the row as written (every column: the answer reads it)."""
    now = clock.now()
    given = {**_NEW_ROW_DEFAULTS, "price": values["budget"], "created_at": now, **values}
    args = [given[column] for column in _INSERTED]
    row = await raw.fetchrow(session, _INSERT_CAMPAIGN, *args, _CAMPAIGN_KIND_VALUES, now)
    if row is None:
        raise LookupError("INSERT ... RETURNING answers its row")
    return row


_NEW_ROW_DEFAULTS: dict[str, Any] = {
    "taken": 0,
    "spent": 0,
    "credited": 0,
    "forfeited": 0,
    "made_good_reserve": 0,
    "made_good_revenue": 0,
    "impressions": 0,
    "paused_at_end": False,
    "booked_impressions": None,
    "created_by_user_id": None,
}
_INSERTED = (
    "ad_account_id",
    "business_center_id",
    "wallet_id",
    "name",
    "status",
    "delivery_type",
    "payment_plan",
    "currency",
    "budget",
    "price",
    "taken",
    "spent",
    "credited",
    "forfeited",
    "made_good_reserve",
    "made_good_revenue",
    "impressions",
    "starts_at",
    "ends_at",
    "paused_at_end",
    "booked_impressions",
    "created_by_user_id",
    "created_at",
)
_CAMPAIGN_KIND_VALUES = [kind.value for kind in CAMPAIGN_KINDS]
_n = len(_INSERTED)
# The accounts go in CAMPAIGN_KINDS order, as `insert_campaign` adds them (ids ascending).
_INSERT_CAMPAIGN = (
    f"WITH c AS (INSERT INTO campaigns ({', '.join(_INSERTED)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, _n + 1))}) RETURNING *), "
    "accounts AS (INSERT INTO ledger_accounts "
    "(key, kind, currency, wallet_id, campaign_id, balance, created_at) "
    "SELECT 'campaign:' || c.id || ':' || k.kind, k.kind, c.currency, c.wallet_id, c.id, 0, "
    f"${_n + 2}::timestamptz FROM c, unnest(${_n + 1}::varchar[]) WITH ORDINALITY AS k(kind, n) "
    "ORDER BY k.n) "
    "SELECT * FROM c"
)


@dataclass(frozen=True, slots=True)
class CampaignAccess:
    """What a campaign's writers check before they lock it: its center, wallet and
    currency, the caller's role there (None: not a member), the center's plan
    subscription status (None: none) and its allocation mode (read without a lock)."""

    id: int
    business_center_id: int
    wallet_id: int
    currency: str
    role: str | None
    subscription_status: str | None
    allocation_mode: str


async def campaign_access(
    session: AsyncSession, user_id: int, campaign_id: int
) -> CampaignAccess | None:
    row = await raw.fetchrow(session, _CAMPAIGN_ACCESS, campaign_id, user_id)
    return None if row is None else CampaignAccess(*row)


_CAMPAIGN_ACCESS = (
    "SELECT c.id, c.business_center_id, c.wallet_id, c.currency, m.role, s.status, "
    "b.allocation_mode FROM campaigns c "
    "JOIN business_centers b ON b.id = c.business_center_id "
    "LEFT JOIN memberships m ON m.business_center_id = c.business_center_id AND m.user_id = $2 "
    "LEFT JOIN plan_subscriptions s ON s.business_center_id = c.business_center_id "
    "WHERE c.id = $1"
)


@dataclass(frozen=True, slots=True)
class FundingAccounts:
    """A campaign's own ledger accounts and its wallet's cash and vouchers, held: their
    ids by kind, and their states by id (post_entry's `locked`)."""

    ids: dict[AccountKind, int]
    states: dict[int, AccountState]


async def lock_funding_accounts(
    session: AsyncSession, wallet_id: int, campaign_id: int
) -> FundingAccounts:
    """The wallet's cash and vouchers and the campaign's own accounts, found by their keys
    and locked in one statement, in ascending id order (the campaign row is held: its own
    accounts may be taken in any order, the wallet's are taken by id)."""
    keys = [
        f"wallet:{wallet_id}:{AccountKind.CASH.value}",
        f"wallet:{wallet_id}:{AccountKind.VOUCHERS.value}",
        *(f"campaign:{campaign_id}:{kind.value}" for kind in CAMPAIGN_KINDS),
    ]
    register_owned(session, Level.CAMPAIGNS)
    rows = await raw.fetch(session, _LOCK_FUNDING_ACCOUNTS, keys)
    kinds = {row["id"]: AccountKind(row["kind"]) for row in rows}
    register(
        session, Level.LEDGER_ACCOUNTS, [i for i, k in kinds.items() if k not in CAMPAIGN_KINDS]
    )
    return FundingAccounts(
        {kind: account_id for account_id, kind in kinds.items()},
        {
            row["id"]: AccountState(
                kinds[row["id"]], row["balance"], row["currency"], row["credit_limit"]
            )
            for row in rows
        },
    )


_LOCK_FUNDING_ACCOUNTS = (
    "SELECT a.id, a.kind, a.balance, a.currency, COALESCE(w.credit_limit, 0) AS credit_limit "
    "FROM ledger_accounts a LEFT JOIN wallets w ON w.id = a.wallet_id "
    "WHERE a.key = ANY($1::varchar[]) ORDER BY a.id FOR NO KEY UPDATE OF a"
)


async def campaigns_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[Campaign]:
    stmt = select(Campaign).where(Campaign.id.in_(ids))
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def campaigns_with_accounts(
    session: AsyncSession, ids: Sequence[int]
) -> tuple[list[Campaign], dict[int, AdAccount]]:
    """Campaigns and their ad accounts, read without a lock in one statement (a spend
    batch's first read: the accounts' caps tell it which campaigns to lock)."""
    stmt = select(Campaign, AdAccount).join(AdAccount, AdAccount.id == Campaign.ad_account_id)
    rows = await session.execute(
        stmt.where(Campaign.id.in_(ids)).execution_options(populate_existing=True)
    )
    pairs = [(campaign, account) for campaign, account in rows]
    return [campaign for campaign, _ in pairs], {account.id: account for _, account in pairs}


async def campaign(session: AsyncSession, campaign_id: int) -> Campaign | None:
    found = await campaigns_by_ids(session, [campaign_id])
    return found[0] if found else None


async def lock_campaigns(session: AsyncSession, ids: Sequence[int]) -> dict[int, Campaign]:
    """Campaigns locked in ascending id order, the order every writer takes them in."""
    register(session, Level.CAMPAIGNS, ids)
    stmt = (
        select(Campaign)
        .where(Campaign.id.in_(sorted(set(ids))))
        .order_by(Campaign.id)
        .with_for_update(key_share=True)
    )
    rows = await session.scalars(stmt.execution_options(populate_existing=True))
    return {row.id: row for row in rows}


async def lock_campaign(session: AsyncSession, campaign_id: int) -> Campaign | None:
    return (await lock_campaigns(session, [campaign_id])).get(campaign_id)


async def waiting_campaign_ids(session: AsyncSession, wallet_id: int) -> list[int]:
    """Campaigns of the wallet waiting for its money, read without a lock (a campaign paid
    by card waits for its first invoice instead)."""
    return [row[0] for row in await raw.fetch(session, _WAITING_CAMPAIGNS, wallet_id)]


# Every money arrival asks it (a transfer, a top-up paid): a plain statement.
_WAITING_CAMPAIGNS = (
    "SELECT id FROM campaigns WHERE wallet_id = $1 AND status = 'PENDING_FUNDS' "
    "AND payment_plan = 'CREDIT_BALANCE'"
)


async def save(session: AsyncSession, row: Campaign) -> None:
    session.add(row)
    await session.flush()


def add_delivery_interval(session: AsyncSession, campaign_id: int, interval: Interval) -> None:
    """A delivering interval that just closed, written with the campaign's next flush."""
    session.add(
        CampaignDeliveryInterval(
            campaign_id=campaign_id, opened_at=interval.opened_at, closed_at=interval.closed_at
        )
    )


async def delivery_intervals(
    session: AsyncSession, campaign_ids: Sequence[int], since: datetime, until: datetime
) -> dict[int, list[Interval]]:
    """The closed delivering intervals of these campaigns that overlap [since, until]."""
    table = CampaignDeliveryInterval
    stmt = select(table.campaign_id, table.opened_at, table.closed_at).where(
        table.campaign_id.in_(campaign_ids), table.closed_at >= since, table.opened_at <= until
    )
    found: dict[int, list[Interval]] = defaultdict(list)
    for campaign_id, opened_at, closed_at in (await session.execute(stmt)).all():
        found[campaign_id].append(Interval(opened_at, closed_at))
    return found


async def campaign_accounts(
    session: AsyncSession, campaign_ids: Sequence[int]
) -> dict[int, dict[AccountKind, int]]:
    """Ledger account ids of each campaign, by kind."""
    stmt = select(LedgerAccount.campaign_id, LedgerAccount.kind, LedgerAccount.id).where(
        LedgerAccount.campaign_id.in_(campaign_ids)
    )
    found: dict[int, dict[AccountKind, int]] = defaultdict(dict)
    for campaign_id, kind, account_id in (await session.execute(stmt)).all():
        if campaign_id is not None:
            found[campaign_id][AccountKind(kind)] = account_id
    return found


@dataclass(frozen=True, slots=True)
class LockedReserves:
    accounts: dict[int, dict[AccountKind, int]]
    """Campaign id → its locked accounts' ids by kind (its hold is not among them)."""
    states: dict[int, AccountState]
    """Those accounts' states, and the platform accounts' found (`AccountState.platform`)."""
    revenue: dict[str, int]
    """Currency → the platform's revenue account, for those that exist."""


async def lock_reserves(
    session: AsyncSession, campaign_ids: Sequence[int], currencies: Sequence[str]
) -> LockedReserves:
    """The campaigns' own ledger accounts but their holds, locked in ascending id (their
    campaign rows are held: store/locks.py), with the platform's revenue accounts of these
    currencies (read, never locked), in one statement: a spend batch's money of reserves,
    whatever the number of its campaigns."""
    register_owned(session, Level.CAMPAIGNS)
    keys = [f"platform:{AccountKind.REVENUE.value}:{currency}" for currency in currencies]
    rows = await raw.fetch(session, _LOCK_RESERVES, list(campaign_ids), keys)
    found = LockedReserves(defaultdict(dict), {}, {})
    for row in rows:
        kind = AccountKind(row["kind"])
        if row["key"] is not None:
            found.revenue[row["currency"]] = row["id"]
            found.states[row["id"]] = AccountState.platform(kind, row["currency"])
        else:
            found.accounts[row["campaign_id"]][kind] = row["id"]
            limit = row["credit_limit"] or 0
            found.states[row["id"]] = AccountState(kind, row["balance"], row["currency"], limit)
    return found


_LOCK_RESERVES = (
    "WITH own AS (SELECT a.id, a.campaign_id, a.kind, a.balance, a.currency, w.credit_limit "
    "FROM ledger_accounts a LEFT JOIN wallets w ON w.id = a.wallet_id "
    "WHERE a.campaign_id = ANY($1::bigint[]) AND a.kind <> 'hold' "
    "ORDER BY a.id FOR NO KEY UPDATE OF a) "
    "SELECT id, campaign_id, kind, balance, currency, credit_limit, NULL AS key FROM own "
    "UNION ALL SELECT id, NULL, kind, 0, currency, NULL, key FROM ledger_accounts "
    "WHERE key = ANY($2::varchar[])"
)


async def campaign_balances(
    session: AsyncSession, campaign_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    stmt = select(LedgerAccount.campaign_id, LedgerAccount.kind, LedgerAccount.balance).where(
        LedgerAccount.campaign_id.in_(campaign_ids)
    )
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for campaign_id, kind, balance in (await session.execute(stmt)).all():
        if campaign_id is not None:
            found[campaign_id][kind] = balance
    return found


async def campaign_pages(
    session: AsyncSession,
    ad_account_ids: Sequence[int],
    *,
    limit: int,
    after_id: int | None,
    status: str | None,
) -> dict[int, list[Campaign]]:
    where = [] if status is None else [Campaign.status == status]
    return await pages_by_parent(
        session,
        Campaign,
        Campaign.ad_account_id,
        ad_account_ids,
        limit=limit,
        after_id=after_id,
        descending=True,
        where=where,
    )


async def invoice_pages(
    session: AsyncSession, campaign_ids: Sequence[int], *, limit: int, after_id: int | None
) -> dict[int, list[Invoice]]:
    return await pages_by_parent(
        session,
        Invoice,
        Invoice.campaign_id,
        campaign_ids,
        limit=limit,
        after_id=after_id,
        descending=True,
    )


async def delivering_ids(
    session: AsyncSession, account_ids: Sequence[int], center_ids: Sequence[int]
) -> list[int]:
    """Delivering campaigns that a cap of these accounts, or the balance of these centers
    (campaigns drawing on it), may stop: read without a lock, locked by the caller."""
    drawn = and_(
        Campaign.business_center_id.in_(center_ids),
        Campaign.payment_plan == "BUSINESS_CENTER_BALANCE",
    )
    stmt = select(Campaign.id).where(
        Campaign.status == "ACTIVE", or_(Campaign.ad_account_id.in_(account_ids), drawn)
    )
    return list(await session.scalars(stmt))


async def stopped_ids(
    session: AsyncSession,
    reason: str,
    *,
    center_id: int | None = None,
    account_id: int | None = None,
) -> list[int]:
    """Campaigns of a center or an account stopped for `reason`, read without a lock."""
    stmt = select(Campaign.id).where(
        Campaign.status == "BUDGET_EXHAUSTED", Campaign.stop_reason == reason
    )
    if center_id is not None:
        stmt = stmt.where(Campaign.business_center_id == center_id)
    if account_id is not None:
        stmt = stmt.where(Campaign.ad_account_id == account_id)
    return list(await session.scalars(stmt))


async def balance_funded_counts(
    session: AsyncSession, account_ids: Sequence[int]
) -> dict[int, int]:
    """Campaigns per account whose budget came from the account's balance and is not yet
    settled: switching to automatic allocation would strand their money."""
    stmt = (
        select(Campaign.ad_account_id, func.count())
        .where(
            Campaign.ad_account_id.in_(account_ids),
            Campaign.payment_plan == "CREDIT_BALANCE",
            Campaign.status != "DRAFT",
            Campaign.settled_at.is_(None),
        )
        .group_by(Campaign.ad_account_id)
    )
    return {account_id: count for account_id, count in (await session.execute(stmt)).all()}


# -- the jobs' candidates: read without locks, each handled in a transaction of its own ----


async def center_names_of_member(session: AsyncSession, member_user_id: int) -> set[str]:
    stmt = (
        select(BusinessCenter.name)
        .join(Membership, Membership.business_center_id == BusinessCenter.id)
        .where(Membership.user_id == member_user_id)
    )
    return set(await session.scalars(stmt))


async def due_to_start(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    return await _ids(session, [Campaign.status == "SCHEDULED", Campaign.starts_at <= now], limit)


async def due_to_complete(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    ending = Campaign.status.in_(["SCHEDULED", "ACTIVE", "PAUSED", "PENDING_FUNDS"])
    return await _ids(session, [ending, Campaign.ends_at <= now], limit)


async def due_to_settle(session: AsyncSession, ended_before: datetime, limit: int) -> list[int]:
    unsettled = and_(
        Campaign.settled_at.is_(None),
        Campaign.status.not_in(["DRAFT", "CANCELED", "REJECTED"]),
    )
    return await _ids(session, [unsettled, Campaign.ends_at <= ended_before], limit)


async def _ids(
    session: AsyncSession, where: Sequence[ColumnElement[bool]], limit: int
) -> list[int]:
    stmt = select(Campaign.id).where(*where).order_by(Campaign.ends_at, Campaign.id).limit(limit)
    return list(await session.scalars(stmt))


# -- spend events ---------------------------------------------------------------------


async def insert_new_events(
    session: AsyncSession, rows: Sequence[dict[str, Any]], recorded_at: datetime
) -> dict[str, int]:
    """Insert the events never seen; answers the event ids inserted now, with their row
    ids. A concurrent batch holding the same id makes this wait for its commit, then skip
    the id.

    The ids are claimed first of all the batch takes (the lock order's first level), so a
    batch waiting for another's id holds nothing that one may need. One statement over
    arrays, whatever the batch size: a multi-row VALUES would be
    compiled anew for every size, which cost more than the insert itself. Rows go in
    event-id order, so two batches sharing ids wait on each other instead of deadlocking."""
    if not rows:
        return {}
    register(session, Level.SUBJECT)  # a concurrent batch's same id is waited for
    ordered = sorted(rows, key=lambda row: str(row["event_id"]))
    columns = [[row[name] for row in ordered] for name in _EVENT_COLUMNS]
    found = await raw.fetch(session, _INSERT_EVENTS, *columns, recorded_at)
    return {row[0]: row[1] for row in found}


_EVENT_COLUMNS = ("event_id", "campaign_id", "amount", "impressions", "occurred_at")
# recorded_at is the service's clock, the one account budget periods are counted on.
_INSERT_EVENTS = (
    "WITH given AS (SELECT * FROM unnest("
    "$1::varchar[], $2::bigint[], $3::bigint[], "
    "$4::bigint[], $5::timestamptz[]) "
    "WITH ORDINALITY AS t(e, c, a, i, o, n)), "
    # The once-ever claim: spend_events is partitioned by month, so it cannot hold it.
    "taken AS (INSERT INTO spend_event_ids (event_id, recorded_at) "
    "SELECT e, $6::timestamptz FROM given ORDER BY n "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id) "
    "INSERT INTO spend_events "
    "(event_id, campaign_id, amount, refused, impressions, occurred_at, recorded_at) "
    "SELECT e, c, a, 0, i, o, $6::timestamptz "
    "FROM given JOIN taken ON taken.event_id = given.e RETURNING event_id, id"
)


async def record_refusals(
    session: AsyncSession, refusals: Sequence[tuple[int, int, str]], recorded_at: datetime
) -> None:
    """(event row id, amount not applied, reason) of the events this batch only partly
    applied; the batch's `recorded_at` completes their key (and names their partition)."""
    if not refusals:
        return
    table = SpendEvent.__table__
    stmt = (
        update(SpendEvent.__table__)  # type: ignore[arg-type]
        .where(table.c.id == bindparam("i"), table.c.recorded_at == recorded_at)
        .values(refused=bindparam("b_refused"), refusal=bindparam("b_refusal"))
    )
    await session.execute(
        stmt,
        [{"i": i, "b_refused": amount, "b_refusal": why} for i, amount, why in refusals],
    )


def _superseded() -> ColumnElement[bool]:
    """An open shortfall invoice whose campaign no longer waits on it."""
    return and_(
        Invoice.status == "OPEN",
        or_(Campaign.status != "PENDING_FUNDS", Campaign.shortfall_invoice_id != Invoice.id),
    )


async def superseded_shortfall_ids(session: AsyncSession, limit: int) -> list[int]:
    """Shortfall invoices to void here or at the provider (a void that failed there)."""
    stmt = (
        select(Invoice.id)
        .join(Campaign, Campaign.id == Invoice.campaign_id)
        .where(Invoice.kind == "CAMPAIGN_SHORTFALL", or_(_superseded(), Invoice.void_pending))
        .order_by(Invoice.id)
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def shortfall_superseded(session: AsyncSession, invoice: Invoice) -> bool:
    stmt = select(Campaign.id).where(Campaign.id == invoice.campaign_id)
    stmt = stmt.join(Invoice, Invoice.id == invoice.id).where(_superseded())
    return await session.scalar(stmt) is not None
