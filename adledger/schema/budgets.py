"""Ad account budget caps and Budget Sync as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from adledger.domain import budgets as domain
from adledger.schema.ids import to_cursor
from adledger.schema.money import Money
from adledger.schema.pages import PageArgs, PageInfo

if TYPE_CHECKING:
    from adledger.schema.types import AdAccount

BudgetMode = strawberry.enum(domain.BudgetMode, name="BudgetMode")
CampaignStopReason = strawberry.enum(
    domain.StopReason,
    name="CampaignStopReason",
    description=(
        "Why a campaign is BUDGET_EXHAUSTED: its own budget, its ad account's budget cap, or "
        "(under automatic allocation) the business center balance ran out."
    ),
)


def cap_of(row: Any, now: datetime) -> domain.CapState:
    """The account's cap as spend would see it at `now`."""
    return domain.cap_state(
        row.budget_mode,
        row.budget_amount,
        row.budget_period_start,
        row.budget_period_end,
        row.budget_spent,
        now,
    )


@strawberry.type(description="An ad account's budget cap and what its period has spent.")
class AccountBudget:
    mode: BudgetMode
    amount: Money | None = strawberry.field(description="Null when mode is UNLIMITED.")
    period_start: datetime | None = strawberry.field(
        description="The period being counted (the calendar month when UNLIMITED)."
    )
    period_end: datetime | None
    spent_in_period: Money
    remaining: Money | None = strawberry.field(description="Null when mode is UNLIMITED.")

    @classmethod
    def of(cls, row: Any, now: datetime) -> AccountBudget:
        cap = cap_of(row, now)
        money = lambda minor: None if minor is None else Money.of(minor, row.currency)  # noqa: E731
        return cls(
            mode=cap.setting.mode,
            amount=money(cap.setting.amount),
            period_start=cap.period.start,
            period_end=cap.period.end,
            spent_in_period=Money.of(cap.spent, row.currency),
            remaining=money(cap.left),
        )


@strawberry.type(description="A budget cap as it was before or after a change.")
class BudgetSetting:
    mode: BudgetMode
    amount: Money | None
    period_start: datetime | None
    period_end: datetime | None


@strawberry.type(description="One change of an ad account's budget cap.")
class AccountBudgetChange:
    changed_at: datetime
    actor_email: str | None = strawberry.field(description="Who changed it.")
    by_budget_sync: bool = strawberry.field(
        description="Made by Budget Sync when automatic allocation was switched on; such a "
        "change does not count toward the daily limit."
    )
    before: BudgetSetting
    after: BudgetSetting

    @classmethod
    def of(cls, row: Any, currency: str, email: str | None) -> AccountBudgetChange:
        def setting(prefix: str) -> BudgetSetting:
            amount = getattr(row, f"{prefix}_amount")
            return BudgetSetting(
                mode=domain.BudgetMode(getattr(row, f"{prefix}_mode")),
                amount=None if amount is None else Money.of(amount, currency),
                period_start=getattr(row, f"{prefix}_period_start"),
                period_end=getattr(row, f"{prefix}_period_end"),
            )

        return cls(
            changed_at=row.changed_at,
            actor_email=email,
            by_budget_sync=row.source == domain.ChangeSource.BUDGET_SYNC,
            before=setting("before"),
            after=setting("after"),
        )


@strawberry.type
class AccountBudgetChangeEdge:
    cursor: str
    node: AccountBudgetChange


@strawberry.type
class AccountBudgetChangeConnection:
    edges: list[AccountBudgetChangeEdge]
    page_info: PageInfo

    @classmethod
    def build(
        cls, args: PageArgs, rows: list[Any], currency: str, emails: dict[int, str]
    ) -> AccountBudgetChangeConnection:
        shown = rows[: args.first]
        edges = [
            AccountBudgetChangeEdge(
                cursor=to_cursor(r.id),
                node=AccountBudgetChange.of(r, currency, emails.get(r.actor_user_id or 0)),
            )
            for r in shown
        ]
        return cls(edges=edges, page_info=args.page_info([r.id for r in shown], len(rows)))


@strawberry.type(
    description="What Budget Sync did to one ad account when automatic allocation was switched on."
)
class BudgetSync:
    ad_account_id: strawberry.Private[int]
    moved_to_business_center: Money
    new_budget: Money | None = strawberry.field(
        description="Set when the account had no budget or an unlimited one: its new budget."
    )

    @strawberry.field
    async def ad_account(
        self, info: Info
    ) -> Annotated[AdAccount, strawberry.lazy("adledger.schema.types")]:
        from adledger.schema.types import AdAccount

        return AdAccount.from_row(await info.context.loaders.ad_account.load(self.ad_account_id))
