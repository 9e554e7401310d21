"""Object types of the contract. Relations resolve through the request's DataLoaders
(`info.context.loaders`) and read permissions through `info.context.authorize`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from adledger.domain.access import Permission
from adledger.domain.access import Role as DomainRole
from adledger.domain.budgets import changes_remaining
from adledger.domain.cards import SavedCard, card_of
from adledger.domain.errors import InvalidInput, InvariantBroken
from adledger.domain.events import check_types
from adledger.domain.ledger import AccountKind, TransactionKind
from adledger.domain.money import Currency
from adledger.schema.billing import PlanSubscription, TopUp
from adledger.schema.budgets import AccountBudget, AccountBudgetChangeConnection, cap_of
from adledger.schema.campaigns import (
    CampaignConnection,
    CampaignStatus,
    InvoiceConnection,
)
from adledger.schema.enums import (
    AdAccountType,
    AllocationMode,
    BillingOption,
    CurrencyCode,
    InvoiceKind,
    InvoiceStatus,
    Role,
    WalletTransactionKind,
)
from adledger.schema.events import EventConnection
from adledger.schema.guard import BalanceAlert, Runway
from adledger.schema.ids import to_cursor, to_global_id
from adledger.schema.invitations import BusinessCenterInvitation
from adledger.schema.makegoods import NotificationConnection
from adledger.schema.money import Money
from adledger.schema.node import Node
from adledger.schema.pages import PageArgs, PageInfo
from adledger.schema.readable import needs
from adledger.schema.recharge import AutoRechargeRule
from adledger.schema.refunds import AuditEventConnection
from adledger.schema.statements import (
    BalanceSnapshot,
    CenterBalanceSnapshot,
    Statement,
    refusing_bad_input,
)
from adledger.schema.wallet_parts import (
    WalletBalance,
    WalletTransactionConnection,
)
from adledger.schema.webhooks import WebhookEndpoint
from adledger.services import statements


@strawberry.type
class Member:
    email: str
    role: Role


@strawberry.type
class BusinessCenter(Node):
    db_id: strawberry.Private[int]
    name: str
    currency_code: CurrencyCode
    allocation_mode: AllocationMode
    allocation_mode_changed_at: datetime | None
    card: strawberry.Private[PaymentMethod | None]

    @classmethod
    def from_row(cls, row: Any) -> BusinessCenter:
        card = card_of(row)
        return cls(
            id=strawberry.ID(to_global_id("BusinessCenter", row.id)),
            db_id=row.id,
            name=row.name,
            currency_code=Currency(row.currency),
            allocation_mode=AllocationMode(row.allocation_mode),
            allocation_mode_changed_at=row.allocation_mode_changed_at,
            card=None if card is None else PaymentMethod.of(card),
        )

    @strawberry.field(
        description=(
            "The card INSTALLMENTS and PREPAY campaigns are charged to (createCardSetup); "
            "null without one, and for members who may not read money."
        )
    )
    async def payment_method(self, info: Info) -> PaymentMethod | None:
        if self.card is None or not await info.context.can(self.db_id, Permission.READ_MONEY):
            return None
        return self.card

    @strawberry.field(
        description="The center's own wallet and its ad accounts' wallets (summed) as they "
        "stood at `at`, for any instant since the center was opened, up to now."
    )
    @needs(Permission.READ_MONEY)
    async def balance_at(self, info: Info, at: datetime) -> CenterBalanceSnapshot:
        await info.context.authorize(self.db_id, Permission.READ_MONEY)
        now, currency = info.context.state.now(), self.currency_code.value
        own, accounts = await refusing_bad_input(
            lambda: info.context.read(lambda s: statements.center_snapshots(s, self.db_id, at, now))
        )
        return CenterBalanceSnapshot(
            own=BalanceSnapshot.of(own, currency),
            ad_accounts=BalanceSnapshot.of(accounts, currency),
        )

    @strawberry.field(description="The shared business center balance.")
    async def wallet(self, info: Info) -> Wallet:
        return Wallet.from_row(await info.context.loaders.center_wallet.load(self.db_id))

    @strawberry.field(
        description=(
            "The center's own wallet and, under automatic allocation, everything its "
            "accounts draw on it."
        )
    )
    @needs(Permission.READ_MONEY)
    async def runway(self, info: Info) -> Runway:
        await info.context.authorize(self.db_id, Permission.READ_MONEY)
        wallet = await info.context.loaders.center_wallet.load(self.db_id)
        return await _runway(info, wallet.id, wallet.currency)

    @strawberry.field
    async def subscription(self, info: Info) -> PlanSubscription | None:
        row = await info.context.loaders.subscription.load(self.db_id)
        return None if row is None else PlanSubscription.from_row(row)

    @strawberry.field
    async def viewer_role(self, info: Info) -> Role | None:
        return await info.context.loaders.viewer_role.load(self.db_id)

    @strawberry.field
    async def members(self, info: Info) -> list[Member]:
        rows = await info.context.loaders.members.load(self.db_id)
        return [Member(email=email, role=DomainRole(role)) for email, role in rows]

    @strawberry.field(description="Pending invitations; only admins and staff see them.")
    async def invitations(self, info: Info) -> list[BusinessCenterInvitation]:
        if not await info.context.can(self.db_id, Permission.MANAGE_MEMBERS):
            return []
        rows = await info.context.loaders.center_invitations.load(self.db_id)
        return [BusinessCenterInvitation.from_row(row, name) for row, name in rows]

    @strawberry.field
    async def ad_accounts(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> AdAccountConnection:
        args = PageArgs.parse(first, after)
        rows = await info.context.loaders.ad_account_page.load((self.db_id, args))
        return AdAccountConnection.build(args, rows)

    @strawberry.field(
        description=(
            "What the platform told the center (a campaign likely to under-deliver, a "
            "makegood offered), newest first."
        )
    )
    async def notifications(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> NotificationConnection:
        args = PageArgs.parse(first, after)
        if not await info.context.can(self.db_id, Permission.READ):
            return NotificationConnection.build(args, [])
        rows = await info.context.loaders.notification_page.load((self.db_id, args))
        return NotificationConnection.build(args, rows)

    @strawberry.field(
        description=(
            "What was done to the center's money (refunds, cancellations, invoices adjusted "
            "by hand), newest first. Empty for members who may not read money."
        )
    )
    async def audit_trail(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> AuditEventConnection:
        args = PageArgs.parse(first, after)
        if not await info.context.can(self.db_id, Permission.READ_MONEY):
            return AuditEventConnection.build(args, [])
        rows = await info.context.loaders.audit_page.load((self.db_id, args))
        return AuditEventConnection.build(args, rows)

    @strawberry.field(
        description=(
            "Every invoice of the business center (top-ups, campaign shortfalls and "
            "installments, credit-line statements, plan subscriptions, automatic "
            "recharges), newest first, "
            "optionally only those of one status and/or one kind. Empty for members who may "
            "not read money."
        )
    )
    async def invoices(
        self,
        info: Info,
        status: InvoiceStatus | None = None,
        kind: InvoiceKind | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> InvoiceConnection:
        args = PageArgs.parse(first, after)
        if not await info.context.can(self.db_id, Permission.READ_MONEY):
            return InvoiceConnection.build(args, [])
        status_key = None if status is None else status.value
        kind_key = None if kind is None else kind.value
        key = (self.db_id, args, status_key, kind_key)
        rows = await info.context.loaders.center_invoice_page.load(key)
        return InvoiceConnection.build(args, rows)

    @strawberry.field(
        description="Every event of this center in sequence order (ADMIN and finance roles)."
    )
    @needs(Permission.READ_MONEY)
    async def events(
        self,
        info: Info,
        first: int | None = 50,
        after: str | None = None,
        types: list[str] | None = None,
    ) -> EventConnection:
        await info.context.authorize(self.db_id, Permission.READ_MONEY)
        args = PageArgs.parse(first, after)
        # No list, or an empty one: every type (as a webhook endpoint's empty list is).
        wanted = tuple(sorted(_event_types(types or []))) or None
        rows = await info.context.loaders.event_page.load((self.db_id, args, wanted))
        return EventConnection.build(args, rows)

    @strawberry.field(
        description="Where the center's events are posted (ADMIN and finance roles), oldest first."
    )
    @needs(Permission.READ_MONEY)
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        await info.context.authorize(self.db_id, Permission.READ_MONEY)
        rows = await info.context.loaders.center_webhook_endpoints.load(self.db_id)
        return [WebhookEndpoint.from_row(row) for row in rows]


def _event_types(names: list[str]) -> list[str]:
    """The published types the filter names; an unknown one is INVALID_INPUT naming it."""
    try:
        return [t.value for t in check_types(names)]
    except InvalidInput as err:
        raise GraphQLError(err.message, extensions={"code": "INVALID_INPUT"}) from None


@strawberry.type
class AdAccount(Node):
    db_id: strawberry.Private[int]
    center_id: strawberry.Private[int]
    row: strawberry.Private[Any]
    name: str
    currency_code: CurrencyCode
    billing_option: BillingOption
    account_type: AdAccountType

    @classmethod
    def from_row(cls, row: Any) -> AdAccount:
        return cls(
            id=strawberry.ID(to_global_id("AdAccount", row.id)),
            db_id=row.id,
            center_id=row.business_center_id,
            row=row,
            name=row.name,
            currency_code=Currency(row.currency),
            billing_option=BillingOption(row.billing_option),
            account_type=AdAccountType(row.account_type),
        )

    @strawberry.field
    async def business_center(self, info: Info) -> BusinessCenter:
        return BusinessCenter.from_row(await info.context.loaders.center.load(self.center_id))

    @strawberry.field(
        description="The account's own balance: cash and vouchers held by this account."
    )
    async def wallet(self, info: Info) -> Wallet:
        return Wallet.from_row(await info.context.loaders.account_wallet.load(self.db_id))

    @strawberry.field
    @needs(Permission.READ)
    async def budget(self, info: Info) -> AccountBudget:
        await info.context.authorize(self.center_id, Permission.READ)
        return AccountBudget.of(self.row, info.context.state.now())

    @strawberry.field(
        description="Budget changes the account may still make today (UTC); at most 10 a day."
    )
    @needs(Permission.READ)
    async def budget_changes_remaining_today(self, info: Info) -> int:
        await info.context.authorize(self.center_id, Permission.READ)
        return changes_remaining(await info.context.loaders.budget_changes_today.load(self.db_id))

    @strawberry.field(description="Changes of the budget cap, newest first.")
    @needs(Permission.READ)
    async def budget_changes(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> AccountBudgetChangeConnection:
        await info.context.authorize(self.center_id, Permission.READ)
        args = PageArgs.parse(first, after)
        rows = await info.context.loaders.budget_change_page.load((self.db_id, args))
        actors = {r.actor_user_id for r in rows if r.actor_user_id is not None}
        found = await info.context.loaders.user_email.load_many(sorted(actors))
        emails = {a: e for a, e in zip(sorted(actors), found, strict=True) if e is not None}
        return AccountBudgetChangeConnection.build(args, rows, self.row.currency, emails)

    @strawberry.field(
        description=(
            "What the account can spend now from every source its allocation mode allows, "
            "capped by its budget."
        )
    )
    @needs(Permission.READ_MONEY)
    async def available_to_spend(self, info: Info) -> Money:
        await info.context.authorize(self.center_id, Permission.READ_MONEY)
        loaders = info.context.loaders
        wallet = await loaders.account_wallet.load(self.db_id)
        total = _spendable(await loaders.balances.load(wallet.id), wallet.credit_limit, True)
        center = await loaders.center.load(self.center_id)
        if center.allocation_mode == "AUTOMATIC":
            shared = await loaders.center_wallet.load(self.center_id)
            sums = await loaders.balances.load(shared.id)
            total += _spendable(sums, shared.credit_limit, False)
        left = cap_of(self.row, info.context.state.now()).left
        return Money.of(max(total if left is None else min(total, left), 0), self.row.currency)

    @strawberry.field(description="Newest first.")
    async def campaigns(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        status: CampaignStatus | None = None,
    ) -> CampaignConnection:
        args = PageArgs.parse(first, after)
        wanted = None if status is None else status.value
        rows = await info.context.loaders.campaign_page.load((self.db_id, args, wanted))
        return CampaignConnection.build(args, rows)


async def _runway(info: Info, wallet_id: int, currency: str) -> Runway:
    found = await info.context.loaders.runway.load(wallet_id)
    if found is None:
        raise InvariantBroken("a wallet the API shows has a runway")
    return Runway.of(found, currency)


WalletOwner = Annotated[BusinessCenter | AdAccount, strawberry.union("WalletOwner")]


@strawberry.type
class Wallet(Node):
    db_id: strawberry.Private[int]
    center_id: strawberry.Private[int]
    ad_account_id: strawberry.Private[int | None]
    row: strawberry.Private[Any]
    currency_code: CurrencyCode

    @classmethod
    def from_row(cls, row: Any) -> Wallet:
        return cls(
            id=strawberry.ID(to_global_id("Wallet", row.id)),
            db_id=row.id,
            center_id=row.business_center_id,
            ad_account_id=row.ad_account_id,
            row=row,
            currency_code=Currency(row.currency),
        )

    @strawberry.field
    async def owner(self, info: Info) -> WalletOwner:
        loaders = info.context.loaders
        if self.ad_account_id is None:
            return BusinessCenter.from_row(await loaders.center.load(self.center_id))
        account = await loaders.ad_account.load(self.ad_account_id)
        return AdAccount.from_row(account)

    @strawberry.field
    @needs(Permission.READ_MONEY)
    async def balance(self, info: Info) -> WalletBalance:
        await info.context.authorize(self.center_id, Permission.READ_MONEY)
        return await WalletBalance.load(info, self.row)

    @strawberry.field(
        description="The wallet's automatic recharge; null when it has none (or it is disabled)."
    )
    @needs(Permission.READ_MONEY)
    async def auto_recharge(self, info: Info) -> AutoRechargeRule | None:
        await info.context.authorize(self.center_id, Permission.READ_MONEY)
        row = await info.context.loaders.auto_recharge_rule.load(self.db_id)
        return AutoRechargeRule.from_row(row, self.row.currency, info.context.state.now())

    @strawberry.field(
        description="Top-ups whose invoice is not paid yet. Their amounts are not in the balance."
    )
    @needs(Permission.READ_MONEY)
    async def pending_top_ups(self, info: Info) -> list[TopUp]:
        await info.context.authorize(self.center_id, Permission.READ_MONEY)
        rows = await info.context.loaders.pending_top_ups.load(self.db_id)
        return [TopUp.from_row(row) for row in rows]

    @strawberry.field
    @needs(Permission.READ_MONEY)
    async def transactions(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        kinds: list[WalletTransactionKind] | None = None,
    ) -> WalletTransactionConnection:
        await info.context.authorize(self.center_id, Permission.READ_MONEY)
        args = PageArgs.parse(first, after)
        kind_key = None if kinds is None else tuple(sorted(TransactionKind(k).value for k in kinds))
        rows = await info.context.loaders.transaction_page.load((self.db_id, args, kind_key))
        return WalletTransactionConnection.build(args, rows, self.row.currency)

    @strawberry.field
    @needs(Permission.READ_MONEY)
    async def runway(self, info: Info) -> Runway:
        await info.context.authorize(self.center_id, Permission.READ_MONEY)
        return await _runway(info, self.db_id, self.row.currency)

    @strawberry.field
    @needs(Permission.READ_MONEY)
    async def balance_alerts(self, info: Info) -> list[BalanceAlert]:
        await info.context.authorize(self.center_id, Permission.READ_MONEY)
        rows = await info.context.loaders.balance_alerts.load(self.db_id)
        return [BalanceAlert.from_row(row, self.row.currency) for row in rows]

    @strawberry.field(
        description="Every bucket as it stood at `at` (postings at it included), for any "
        "instant since the wallet was opened, up to now."
    )
    @needs(Permission.READ_MONEY)
    async def balance_at(self, info: Info, at: datetime) -> BalanceSnapshot:
        await info.context.authorize(self.center_id, Permission.READ_MONEY)
        snapshot = await refusing_bad_input(
            lambda: info.context.loaders.balance_at.load((self.db_id, at))
        )
        return BalanceSnapshot.of(snapshot, self.row.currency)

    @strawberry.field(
        description='The statement of a month ("2026-11", UTC) the wallet existed in.'
    )
    @needs(Permission.READ_MONEY)
    async def statement(self, info: Info, month: str) -> Statement:
        await info.context.authorize(self.center_id, Permission.READ_MONEY)
        data = await refusing_bad_input(
            lambda: info.context.loaders.statement.load((self.db_id, month))
        )
        return Statement.of(data, self.row.currency)


@strawberry.type(description="A card saved at the payment provider.")
class PaymentMethod:
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    @classmethod
    def of(cls, card: SavedCard) -> PaymentMethod:
        return cls(
            brand=card.brand, last4=card.last4, exp_month=card.exp_month, exp_year=card.exp_year
        )


@strawberry.type
class BusinessCenterEdge:
    cursor: str
    node: BusinessCenter


@strawberry.type
class BusinessCenterConnection:
    edges: list[BusinessCenterEdge]
    page_info: PageInfo

    @classmethod
    def build(cls, args: PageArgs, rows: list[Any]) -> BusinessCenterConnection:
        shown = rows[: args.first]
        edges = [
            BusinessCenterEdge(cursor=to_cursor(r.id), node=BusinessCenter.from_row(r))
            for r in shown
        ]
        return cls(edges=edges, page_info=args.page_info([r.id for r in shown], len(rows)))


@strawberry.type
class AdAccountEdge:
    cursor: str
    node: AdAccount


@strawberry.type
class AdAccountConnection:
    edges: list[AdAccountEdge]
    page_info: PageInfo

    @classmethod
    def build(cls, args: PageArgs, rows: list[Any]) -> AdAccountConnection:
        shown = rows[: args.first]
        edges = [AdAccountEdge(cursor=to_cursor(r.id), node=AdAccount.from_row(r)) for r in shown]
        return cls(edges=edges, page_info=args.page_info([r.id for r in shown], len(rows)))


@strawberry.type
class Viewer:
    email: str
    is_staff: bool

    @strawberry.field(description="Invitations to your email that you have not answered yet.")
    async def invitations(self, info: Info) -> list[BusinessCenterInvitation]:
        rows = await info.context.viewer_invitations()
        return [BusinessCenterInvitation.from_row(row, name) for row, name in rows]

    @strawberry.field
    async def business_centers(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> BusinessCenterConnection:
        args = PageArgs.parse(first, after)
        rows = await info.context.viewer_business_centers(args)
        return BusinessCenterConnection.build(args, rows)


def _spendable(sums: dict[str, int], credit_limit: int, vouchers: bool) -> int:
    """A wallet's cash (beyond holds), its vouchers if they may be spent, and its credit
    line left: a business center's vouchers are never drawn automatically."""
    credit_left = credit_limit + sums.get(AccountKind.CREDIT_LINE.value, 0)
    cash = sums.get(AccountKind.CASH.value, 0)
    return cash + (sums.get(AccountKind.VOUCHERS.value, 0) if vouchers else 0) + credit_left
