"""Per-request DataLoaders: every relation of a page of N objects costs one statement."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import date, datetime
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from adledger.domain.access import Role
from adledger.domain.billing import TopUpStatus
from adledger.domain.budgets import day_of
from adledger.domain.errors import InvalidInput
from adledger.domain.runway import Runway
from adledger.schema.pages import PageArgs
from adledger.services import runway as runway_service
from adledger.services import statements
from adledger.services.actor import Actor
from adledger.services.statements import Snapshot
from adledger.store import (
    audit,
    auto_recharge,
    billing,
    budgets,
    campaigns,
    events,
    invitations,
    invoice_pages,
    makegoods,
    plan_adjustments,
    refunds,
    users,
    wallets,
    webhook_endpoints,
)
from adledger.store import balance_alerts as alert_repo
from adledger.store import business_centers as centers

K = TypeVar("K", bound=Hashable)
H = TypeVar("H", bound=Hashable)
T = TypeVar("T")
# The request's reads: one statement at a time on its session (RequestContext.read).
Read = Callable[[Callable[[AsyncSession], Awaitable[T]]], Awaitable[T]]


def _by_key(rows: Sequence[Any], keys: Sequence[Any], attr: str) -> list[Any]:
    found = {getattr(row, attr): row for row in rows}
    return [found.get(key) for key in keys]


class Loaders:
    """Built per request from what the loaders need of it: how it reads, its clock, its
    caller (not the request context itself, which builds them). Each DataLoader is made
    on first use: a request uses a few of the forty (a money mutation's answer, one)."""

    def __init__(
        self,
        read: Read[Any],
        now: Callable[[], datetime],
        actor: Callable[[], Awaitable[Actor | None]],
    ) -> None:
        self._read = read
        self._now = now
        self._actor = actor

    @cached_property
    def center(self) -> DataLoader[int, Any]:
        return self._rows(centers.business_centers_by_ids, "id")

    @cached_property
    def ad_account(self) -> DataLoader[int, Any]:
        return self._rows(centers.ad_accounts_by_ids, "id")

    @cached_property
    def wallet(self) -> DataLoader[int, Any]:
        return self._rows(wallets.wallets_by_ids, "id")

    @cached_property
    def auto_recharge_rule(self) -> DataLoader[int, Any]:
        return self._rows(auto_recharge.rules_by_wallet, "wallet_id")

    @cached_property
    def center_wallet(self) -> DataLoader[int, Any]:
        return self._rows(wallets.wallets_of_centers, "business_center_id")

    @cached_property
    def account_wallet(self) -> DataLoader[int, Any]:
        return self._rows(wallets.wallets_of_ad_accounts, "ad_account_id")

    @cached_property
    def transaction(self) -> DataLoader[int, Any]:
        return self._rows(wallets.transactions_by_ids, "id")

    @cached_property
    def invoice(self) -> DataLoader[int, Any]:
        return self._rows(billing.invoices_by_ids, "id")

    @cached_property
    def top_up(self) -> DataLoader[int, Any]:
        return self._rows(billing.top_ups_by_ids, "id")

    @cached_property
    def subscription(self) -> DataLoader[int, Any]:
        return self._rows(billing.subscriptions_by_center, "business_center_id")

    @cached_property
    def campaign(self) -> DataLoader[int, Any]:
        return self._rows(campaigns.campaigns_by_ids, "id")

    @cached_property
    def pending_refunds(self) -> DataLoader[int, int]:
        return DataLoader(self._pending_refunds)

    @cached_property
    def refunds_of_request(self) -> DataLoader[int, list[Any]]:
        return DataLoader(self._refunds_of)

    @cached_property
    def cancellation_request(self) -> DataLoader[int, Any]:
        return self._rows(plan_adjustments.requests_of_campaigns, "campaign_id")

    @cached_property
    def campaign_page(self) -> DataLoader[tuple[int, PageArgs, str | None], list[Any]]:
        return DataLoader(self._campaign_pages)

    @cached_property
    def campaign_invoice_page(self) -> DataLoader[tuple[int, PageArgs], list[Any]]:
        return DataLoader(self._campaign_invoice_pages)

    @cached_property
    def center_invoice_page(
        self,
    ) -> DataLoader[tuple[int, PageArgs, str | None, str | None], list[Any]]:
        return DataLoader(self._center_invoice_pages)

    @cached_property
    def invoice_lines(self) -> DataLoader[int, list[tuple[str, int]]]:
        return DataLoader(self._invoice_lines)

    @cached_property
    def pending_top_ups(self) -> DataLoader[int, list[Any]]:
        return DataLoader(self._pending_top_ups)

    @cached_property
    def balances(self) -> DataLoader[int, dict[str, int]]:
        return DataLoader(self._balances)

    @cached_property
    def members(self) -> DataLoader[int, list[tuple[str, str]]]:
        return DataLoader(self._members)

    @cached_property
    def center_invitations(self) -> DataLoader[int, list[Any]]:
        return DataLoader(self._invitations)

    @cached_property
    def viewer_role(self) -> DataLoader[int, Role | None]:
        return DataLoader(self._viewer_roles)

    @cached_property
    def ad_account_page(self) -> DataLoader[tuple[int, PageArgs], list[Any]]:
        return DataLoader(self._ad_account_pages)

    @cached_property
    def budget_changes_today(self) -> DataLoader[int, int]:
        return DataLoader(self._budget_changes_today)

    @cached_property
    def budget_change_page(self) -> DataLoader[tuple[int, PageArgs], list[Any]]:
        return DataLoader(self._budget_change_pages)

    @cached_property
    def user_email(self) -> DataLoader[int, str | None]:
        return DataLoader(self._user_emails)

    @cached_property
    def audit_page(self) -> DataLoader[tuple[int, PageArgs], list[Any]]:
        return DataLoader(self._audit_pages)

    @cached_property
    def notification_page(self) -> DataLoader[tuple[int, PageArgs], list[Any]]:
        return DataLoader(self._notification_pages)

    @cached_property
    def campaign_notifications(self) -> DataLoader[int, list[Any]]:
        return DataLoader(self._campaign_notifications)

    @cached_property
    def makegood_offers(self) -> DataLoader[int, list[Any]]:
        return DataLoader(self._makegood_offers)

    @cached_property
    def event(self) -> DataLoader[int, Any]:
        return self._rows(events.events_by_ids, "id")

    @cached_property
    def event_page(self) -> DataLoader[tuple[int, PageArgs, tuple[str, ...] | None], list[Any]]:
        return DataLoader(self._event_pages)

    @cached_property
    def webhook_endpoint(self) -> DataLoader[int, Any]:
        return self._rows(webhook_endpoints.endpoints_by_ids, "id")

    @cached_property
    def center_webhook_endpoints(self) -> DataLoader[int, list[Any]]:
        return DataLoader(self._center_webhook_endpoints)

    @cached_property
    def webhook_delivery_page(self) -> DataLoader[tuple[int, PageArgs], list[Any]]:
        return DataLoader(self._webhook_delivery_pages)

    @cached_property
    def transaction_page(
        self,
    ) -> DataLoader[tuple[int, PageArgs, tuple[str, ...] | None], list[Any]]:
        return DataLoader(self._transaction_pages)

    @cached_property
    def runway(self) -> DataLoader[int, Runway | None]:
        return DataLoader(self._runways)

    @cached_property
    def balance_alerts(self) -> DataLoader[int, list[Any]]:
        return DataLoader(self._balance_alerts)

    async def _runways(self, keys: list[int]) -> list[Runway | None]:
        found = await self._read(lambda s: runway_service.runways(s, keys, self._now()))
        return [found.get(key) for key in keys]

    async def _balance_alerts(self, keys: list[int]) -> list[list[Any]]:
        found = await self._read(lambda s: alert_repo.alerts_by_wallet(s, keys))
        return [found.get(key, []) for key in keys]

    @cached_property
    def balance_at(self) -> DataLoader[tuple[int, datetime], Snapshot]:
        """(wallet id, instant): one read per instant asked, for all its wallets."""

        async def load(keys: list[tuple[int, datetime]]) -> list[Any]:
            return await self._per_wallet(
                keys, lambda s, ids, at: statements.snapshots_at(s, ids, at, self._now())
            )

        return DataLoader(load)

    @cached_property
    def statement(self) -> DataLoader[tuple[int, str], Any]:
        """(wallet id, month as asked): one read per month asked, for all its wallets."""

        async def load(keys: list[tuple[int, str]]) -> list[Any]:
            return await self._per_wallet(
                keys, lambda s, ids, month: statements.statements(s, ids, month, self._now())
            )

        return DataLoader(load)

    @cached_property
    def statement_lines(self) -> DataLoader[tuple[int, tuple[date, int | None, int]], Any]:
        """(wallet id, (month, after, how many)): one read per page asked, for all wallets."""

        async def load(keys: list[tuple[int, tuple[date, int | None, int]]]) -> list[Any]:
            return await self._per_wallet(
                keys, lambda s, ids, page: statements.lines(s, ids, *page)
            )

        return DataLoader(load)

    async def _per_wallet(
        self,
        keys: list[tuple[int, H]],
        fetch: Callable[[AsyncSession, list[int], H], Awaitable[dict[int, Any]]],
    ) -> list[Any]:
        """Keys (wallet id, what is asked of it): one read per distinct ask, for all the
        wallets asked it; an ask refused as bad input answers its refusal to each of them."""
        by_ask: dict[H, list[int]] = defaultdict(list)
        for wallet_id, ask in keys:
            by_ask[ask].append(wallet_id)
        found: dict[tuple[int, H], Any] = {}
        for ask, ids in by_ask.items():
            try:
                answers = await self._read(lambda s, a=ask, ids=ids: fetch(s, ids, a))
            except InvalidInput as refused:
                answers = {wallet_id: refused for wallet_id in ids}
            found.update({(w, ask): answer for w, answer in answers.items()})
        return [found[key] for key in keys]

    def _rows(
        self, fetch: Callable[[Any, Sequence[int]], Awaitable[Sequence[Any]]], attr: str
    ) -> DataLoader[int, Any]:
        async def load(keys: list[int]) -> list[Any]:
            rows = await self._read(lambda session: fetch(session, keys))
            return _by_key(rows, keys, attr)

        return DataLoader(load)

    async def _budget_changes_today(self, keys: list[int]) -> list[int]:
        since = day_of(self._now()).start
        counts = await self._read(lambda s: budgets.user_changes_since(s, keys, since))
        return [counts.get(key, 0) for key in keys]

    async def _budget_change_pages(self, keys: list[tuple[int, PageArgs]]) -> list[list[Any]]:
        async def fetch(group: tuple[Any, ...], parents: list[int]) -> dict[int, list[Any]]:
            (args,) = group
            return await self._read(
                lambda s: budgets.change_pages(s, parents, limit=args.fetch, after_id=args.after_id)
            )

        return await _grouped_pages(keys, fetch)

    async def _audit_pages(self, keys: list[tuple[int, PageArgs]]) -> list[list[Any]]:
        async def fetch(group: tuple[Any, ...], parents: list[int]) -> dict[int, list[Any]]:
            (args,) = group
            return await self._read(
                lambda s: audit.event_pages(s, parents, limit=args.fetch, after_id=args.after_id)
            )

        return await _grouped_pages(keys, fetch)

    async def _notification_pages(self, keys: list[tuple[int, PageArgs]]) -> list[list[Any]]:
        async def fetch(group: tuple[Any, ...], parents: list[int]) -> dict[int, list[Any]]:
            (args,) = group
            return await self._read(
                lambda s: makegoods.notification_pages(
                    s, parents, limit=args.fetch, after_id=args.after_id
                )
            )

        return await _grouped_pages(keys, fetch)

    async def _campaign_notifications(self, keys: list[int]) -> list[list[Any]]:
        found = await self._read(lambda s: makegoods.notifications_of_campaigns(s, keys))
        return [found.get(key, []) for key in keys]

    async def _makegood_offers(self, keys: list[int]) -> list[list[Any]]:
        found = await self._read(lambda s: makegoods.offers_of_campaigns(s, keys))
        return [found.get(key, []) for key in keys]

    async def _user_emails(self, keys: list[int]) -> list[str | None]:
        emails = await self._read(lambda s: users.emails_by_ids(s, keys))
        return [emails.get(key) for key in keys]

    async def _invoice_lines(self, keys: list[int]) -> list[list[tuple[str, int]]]:
        lines = await self._read(lambda s: billing.lines_by_invoice(s, keys))
        return [lines.get(key, []) for key in keys]

    async def _pending_top_ups(self, keys: list[int]) -> list[list[Any]]:
        pending = TopUpStatus.AWAITING_PAYMENT.value
        found = await self._read(lambda s: billing.top_ups_by_wallet(s, keys, pending))
        return [found.get(key, []) for key in keys]

    async def _balances(self, keys: list[int]) -> list[dict[str, int]]:
        sums = await self._read(lambda s: wallets.balances_by_wallet(s, keys))
        return [sums.get(key, {}) for key in keys]

    async def _pending_refunds(self, keys: list[int]) -> list[int]:
        found = await self._read(lambda s: refunds.pending_by_wallet(s, keys))
        return [found.get(key, 0) for key in keys]

    async def _refunds_of(self, keys: list[int]) -> list[list[Any]]:
        rows = await self._read(lambda s: refunds.refunds_of_requests(s, keys))
        grouped: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            grouped[row.refund_request_id].append(row)
        return [grouped.get(key, []) for key in keys]

    async def _members(self, keys: list[int]) -> list[list[tuple[str, str]]]:
        members = await self._read(lambda s: centers.members_by_center(s, keys))
        return [members.get(key, []) for key in keys]

    async def _invitations(self, keys: list[int]) -> list[list[Any]]:
        now = self._now()
        found = await self._read(lambda s: invitations.pending_for_centers(s, keys, now))
        return [found.get(key, []) for key in keys]

    async def _viewer_roles(self, keys: list[int]) -> list[Role | None]:
        actor = await self._actor()
        if actor is None:
            return [None for _ in keys]
        roles = await self._read(lambda s: centers.roles_of_user(s, actor.user_id, keys))
        return [Role(roles[key]) if key in roles else None for key in keys]

    async def _ad_account_pages(self, keys: list[tuple[int, PageArgs]]) -> list[list[Any]]:
        async def fetch(group: tuple[Any, ...], parents: list[int]) -> dict[int, list[Any]]:
            (args,) = group
            return await self._read(
                lambda s: centers.ad_account_pages(
                    s, parents, limit=args.fetch, after_id=args.after_id
                )
            )

        return await _grouped_pages(keys, fetch)

    async def _campaign_pages(
        self, keys: list[tuple[int, PageArgs, str | None]]
    ) -> list[list[Any]]:
        async def fetch(group: tuple[Any, ...], parents: list[int]) -> dict[int, list[Any]]:
            args, status = group
            return await self._read(
                lambda s: campaigns.campaign_pages(
                    s, parents, limit=args.fetch, after_id=args.after_id, status=status
                )
            )

        return await _grouped_pages(keys, fetch)

    async def _campaign_invoice_pages(self, keys: list[tuple[int, PageArgs]]) -> list[list[Any]]:
        async def fetch(group: tuple[Any, ...], parents: list[int]) -> dict[int, list[Any]]:
            (args,) = group
            return await self._read(
                lambda s: campaigns.invoice_pages(
                    s, parents, limit=args.fetch, after_id=args.after_id
                )
            )

        return await _grouped_pages(keys, fetch)

    async def _center_invoice_pages(
        self, keys: list[tuple[int, PageArgs, str | None, str | None]]
    ) -> list[list[Any]]:
        async def fetch(group: tuple[Any, ...], parents: list[int]) -> dict[int, list[Any]]:
            args, status, kind = group
            return await self._read(
                lambda s: invoice_pages.center_invoice_pages(
                    s, parents, limit=args.fetch, after_id=args.after_id, status=status, kind=kind
                )
            )

        return await _grouped_pages(keys, fetch)

    async def _event_pages(
        self, keys: list[tuple[int, PageArgs, tuple[str, ...] | None]]
    ) -> list[list[Any]]:
        async def fetch(group: tuple[Any, ...], parents: list[int]) -> dict[int, list[Any]]:
            args, types = group
            return await self._read(
                lambda s: events.feed_pages(
                    s, parents, after=args.after_id, limit=args.fetch, types=types
                )
            )

        return await _grouped_pages(keys, fetch)

    async def _center_webhook_endpoints(self, keys: list[int]) -> list[list[Any]]:
        found = await self._read(lambda s: webhook_endpoints.endpoints_of_centers(s, keys))
        return [found.get(key, []) for key in keys]

    async def _webhook_delivery_pages(self, keys: list[tuple[int, PageArgs]]) -> list[list[Any]]:
        async def fetch(group: tuple[Any, ...], parents: list[int]) -> dict[int, list[Any]]:
            (args,) = group
            return await self._read(
                lambda s: webhook_endpoints.delivery_pages(
                    s, parents, limit=args.fetch, after_id=args.after_id
                )
            )

        return await _grouped_pages(keys, fetch)

    async def _transaction_pages(
        self, keys: list[tuple[int, PageArgs, tuple[str, ...] | None]]
    ) -> list[list[Any]]:
        async def fetch(group: tuple[Any, ...], parents: list[int]) -> dict[int, list[Any]]:
            args, kinds = group
            return await self._read(
                lambda s: wallets.transaction_pages(
                    s, parents, limit=args.fetch, after_id=args.after_id, kinds=kinds
                )
            )

        return await _grouped_pages(keys, fetch)


async def _grouped_pages(
    keys: Sequence[tuple[Any, ...]],
    fetch: Callable[[tuple[Any, ...], list[int]], Awaitable[dict[int, list[Any]]]],
) -> list[list[Any]]:
    """Keys are (parent id, *page arguments): one query per distinct page arguments,
    which in a list of N parents is exactly one."""
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for key in keys:
        groups[key[1:]].append(key[0])
    results: dict[tuple[Any, ...], list[Any]] = {}
    for group, parents in groups.items():
        pages = await fetch(group, parents)
        for parent in parents:
            results[(parent, *group)] = pages.get(parent, [])
    return [results[key] for key in keys]
