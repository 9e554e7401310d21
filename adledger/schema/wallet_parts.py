"""A wallet's balance and its transactions, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from adledger.domain.ledger import AccountKind, TransactionKind
from adledger.domain.wallets import available
from adledger.schema.billing import Invoice
from adledger.schema.campaigns import Campaign
from adledger.schema.enums import BalanceBucket, WalletTransactionKind
from adledger.schema.ids import to_cursor, to_global_id
from adledger.schema.money import Money
from adledger.schema.node import Node
from adledger.schema.pages import PageArgs, PageInfo


@strawberry.type
class WalletBalance:
    total: Money = strawberry.field(description="Cash plus vouchers plus available credit line.")
    cash: Money
    vouchers: Money
    credit_line_limit: Money
    credit_line_used: Money
    held: Money = strawberry.field(
        description=(
            "Funds held for campaigns waiting on a shortfall invoice; not spendable elsewhere."
        )
    )
    available: Money = strawberry.field(description="What can be spent now: total minus held.")
    wallet_id: strawberry.Private[int]
    currency: strawberry.Private[str]

    @strawberry.field(
        description=(
            "Taken out of cash for refunds requested (or sent) and not yet gone back to the "
            "payments: not part of cash, and back in it if a refund is declined or fails."
        )
    )
    async def pending_refunds(self, info: Info) -> Money:
        # Read only when asked for: the balance itself stays one statement.
        pending = await info.context.loaders.pending_refunds.load(self.wallet_id)
        return Money.of(pending, self.currency)

    @classmethod
    async def load(cls, info: Info, wallet: Any) -> WalletBalance:
        sums = info.context.balances_read(wallet.id)
        if sums is None:
            sums = await info.context.loaders.balances.load(wallet.id)
        return cls.compute(sums, wallet.credit_limit, wallet.currency, wallet.id)

    @classmethod
    def compute(
        cls, sums: dict[str, int], credit_limit: int, currency: str, wallet_id: int
    ) -> WalletBalance:
        held = sums.get(AccountKind.HOLD.value, 0)
        cash = sums.get(AccountKind.CASH.value, 0) + held
        vouchers = sums.get(AccountKind.VOUCHERS.value, 0)
        used = -sums.get(AccountKind.CREDIT_LINE.value, 0)
        spendable = available(sums, credit_limit)
        total = spendable + held
        return cls(
            total=Money.of(total, currency),
            cash=Money.of(cash, currency),
            vouchers=Money.of(vouchers, currency),
            credit_line_limit=Money.of(credit_limit, currency),
            credit_line_used=Money.of(used, currency),
            held=Money.of(held, currency),
            available=Money.of(spendable, currency),
            wallet_id=wallet_id,
            currency=currency,
        )


@strawberry.type
class WalletTransaction(Node):
    invoice_id: strawberry.Private[int | None]
    campaign_id: strawberry.Private[int | None]
    kind: WalletTransactionKind
    bucket: BalanceBucket
    amount: Money = strawberry.field(
        description="Signed: positive adds to the wallet, negative takes from it."
    )
    balance_after: Money = strawberry.field(
        description="The bucket's balance right after this transaction."
    )
    description: str
    created_at: datetime
    actor_email: str | None = strawberry.field(
        description="Who caused it; null for the platform's own jobs."
    )

    @strawberry.field
    async def invoice(self, info: Info) -> Invoice | None:
        if self.invoice_id is None:
            return None
        return Invoice.from_row(await info.context.loaders.invoice.load(self.invoice_id))

    @strawberry.field
    async def campaign(self, info: Info) -> Campaign | None:
        if self.campaign_id is None:
            return None
        return Campaign.from_row(await info.context.loaders.campaign.load(self.campaign_id))

    @classmethod
    def from_row(cls, row: Any, currency: str) -> WalletTransaction:
        return cls(
            id=strawberry.ID(to_global_id("WalletTransaction", row.id)),
            invoice_id=row.invoice_id,
            campaign_id=row.campaign_id,
            kind=TransactionKind(row.kind),
            bucket=BalanceBucket(row.bucket.upper()),
            amount=Money.of(row.amount, currency),
            balance_after=Money.of(row.balance_after, currency),
            description=row.description,
            created_at=row.created_at,
            actor_email=row.actor_email,
        )


@strawberry.type
class WalletTransactionEdge:
    cursor: str
    node: WalletTransaction


@strawberry.type
class WalletTransactionConnection:
    edges: list[WalletTransactionEdge]
    page_info: PageInfo

    @classmethod
    def build(cls, args: PageArgs, rows: list[Any], currency: str) -> WalletTransactionConnection:
        shown = rows[: args.first]
        edges = [
            WalletTransactionEdge(
                cursor=to_cursor(r.id), node=WalletTransaction.from_row(r, currency)
            )
            for r in shown
        ]
        return cls(edges=edges, page_info=args.page_info([r.id for r in shown], len(rows)))
