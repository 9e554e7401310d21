"""Balances at an instant and monthly statements (issue 29): `Wallet.balanceAt`,
`Wallet.statement`, `BusinessCenter.balanceAt`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from adledger.domain.errors import InvalidInput
from adledger.domain.ledger import TransactionKind
from adledger.domain.statements import month_text
from adledger.schema.enums import BalanceBucket, WalletTransactionKind
from adledger.schema.ids import to_cursor
from adledger.schema.money import Money
from adledger.schema.pages import PageArgs, PageInfo
from adledger.schema.wallet_parts import WalletTransaction
from adledger.services import statements as service

T = TypeVar("T")


async def refusing_bad_input(run: Callable[[], Awaitable[T]]) -> T:
    """A query field's INVALID_INPUT, as the API's other fields answer it."""
    try:
        return await run()
    except InvalidInput as err:
        raise GraphQLError(err.message, extensions={"code": "INVALID_INPUT"}) from None


@strawberry.type(
    description="A wallet's buckets as they stood at one instant, postings at it included."
)
class BalanceSnapshot:
    at: datetime
    cash: Money = strawberry.field(
        description="The cash bucket, as the statement's CASH lines run (Wallet.balance.cash "
        "adds what campaigns hold waiting on a shortfall invoice)."
    )
    vouchers: Money
    credit_line: Money = strawberry.field(
        description="The credit line bucket: minus what was used of the line (0 or below)."
    )
    available: Money = strawberry.field(
        description="Cash plus vouchers plus what the credit limit of that instant left of "
        "the line (as Wallet.balance.available)."
    )

    @classmethod
    def of(cls, snapshot: service.Snapshot, currency: str) -> BalanceSnapshot:
        buckets = snapshot.buckets
        return cls(
            at=snapshot.at,
            cash=Money.of(buckets.cash, currency),
            vouchers=Money.of(buckets.vouchers, currency),
            credit_line=Money.of(buckets.credit_line, currency),
            available=Money.of(snapshot.available, currency),
        )


@strawberry.type(description="A business center's balances at one instant.")
class CenterBalanceSnapshot:
    own: BalanceSnapshot = strawberry.field(description="The center's own wallet.")
    ad_accounts: BalanceSnapshot = strawberry.field(description="Its ad accounts' wallets, summed.")


@strawberry.type(description="One movement of a wallet's bucket in the month.")
class StatementLine:
    posting_id: strawberry.Private[int]
    currency: strawberry.Private[str]
    at: datetime
    bucket: BalanceBucket
    amount: Money = strawberry.field(description="Signed, as WalletTransaction.amount.")
    description: str
    balance_after: Money = strawberry.field(
        description="The bucket's balance right after it, as WalletTransaction.balanceAfter."
    )

    @strawberry.field
    async def transaction(self, info: Info) -> WalletTransaction:
        row = await info.context.loaders.transaction.load(self.posting_id)
        return WalletTransaction.from_row(row, self.currency)

    @classmethod
    def from_row(cls, row: Any, currency: str) -> StatementLine:
        return cls(
            posting_id=row.id,
            currency=currency,
            at=row.created_at,
            bucket=BalanceBucket(row.bucket.upper()),
            amount=Money.of(row.amount, currency),
            description=row.description,
            balance_after=Money.of(row.balance_after, currency),
        )


@strawberry.type
class StatementLineEdge:
    cursor: str
    node: StatementLine


@strawberry.type
class StatementLineConnection:
    edges: list[StatementLineEdge]
    page_info: PageInfo


@strawberry.type(description="What the month moved, per bucket and kind of transaction.")
class StatementTotal:
    bucket: BalanceBucket
    kind: WalletTransactionKind
    amount: Money
    count: int


@strawberry.type(
    description="A wallet's month: its opening, every movement, its closing. Opening plus "
    "the lines is the closing, per bucket; once the month is closed it never changes."
)
class Statement:
    data: strawberry.Private[service.Statement]
    currency: strawberry.Private[str]
    month: str = strawberry.field(description='"2026-11".')
    closed: bool = strawberry.field(
        description="False while the month is still running (or settling: a month is "
        "closed once every posting dated in it is committed)."
    )
    opening: BalanceSnapshot = strawberry.field(description="At the last instant before the month.")
    closing: BalanceSnapshot = strawberry.field(
        description="At the month's last instant; while it runs, now."
    )
    totals: list[StatementTotal]

    @strawberry.field
    async def lines(
        self, info: Info, first: int | None = 100, after: str | None = None
    ) -> StatementLineConnection:
        args = PageArgs.parse(first, after)
        page = (self.data.month, args.after_id, args.first + 1)
        rows = await info.context.loaders.statement_lines.load((self.data.wallet_id, page))
        shown = rows[: args.first]
        edges = [
            StatementLineEdge(cursor=to_cursor(r.id), node=StatementLine.from_row(r, self.currency))
            for r in shown
        ]
        return StatementLineConnection(
            edges=edges, page_info=args.page_info([r.id for r in shown], len(rows))
        )

    @classmethod
    def of(cls, data: service.Statement, currency: str) -> Statement:
        return cls(
            data=data,
            currency=currency,
            month=month_text(data.month),
            closed=data.closed,
            opening=BalanceSnapshot.of(data.opening, currency),
            closing=BalanceSnapshot.of(data.closing, currency),
            totals=[
                StatementTotal(
                    bucket=BalanceBucket(t.bucket.value.upper()),
                    kind=TransactionKind(t.kind),
                    amount=Money.of(t.amount, currency),
                    count=t.count,
                )
                for t in data.totals
            ],
        )
