"""enableAutomaticAllocation and setAdAccountBudget: parse, run one service in one
transaction, map the result."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from adledger.domain.budgets import BudgetMode
from adledger.resolvers.mutation import decode_id, money_in, mutate
from adledger.schema import inputs, results
from adledger.schema.budgets import BudgetSync
from adledger.schema.campaigns import Campaign
from adledger.schema.money import Money
from adledger.schema.types import AdAccount, BusinessCenter
from adledger.services import allocation as allocation_service
from adledger.services import budgets as budget_service
from adledger.services.actor import Actor


async def enable_automatic_allocation(
    info: Info, input: inputs.EnableAutomaticAllocationInput
) -> results.EnableAutomaticAllocationResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> allocation_service.AllocationOutcome:
        center_id = decode_id(
            input.business_center_id, "BusinessCenter", ("input", "businessCenterId")
        )
        return await allocation_service.enable_automatic_allocation(
            session, actor, center_id, ctx.state.now()
        )

    async def render(outcome: allocation_service.AllocationOutcome) -> Any:
        center = await ctx.loaders.center.load(outcome.business_center_id)
        syncs = [
            BudgetSync(
                ad_account_id=sync.ad_account_id,
                moved_to_business_center=Money.of(sync.moved, outcome.currency),
                new_budget=None
                if sync.new_budget is None
                else Money.of(sync.new_budget, outcome.currency),
            )
            for sync in outcome.syncs
        ]
        return results.EnableAutomaticAllocationSuccess(
            business_center=BusinessCenter.from_row(center), budget_syncs=syncs
        )

    return await mutate(
        info,
        results.EnableAutomaticAllocationResult,
        run,
        render,
        lambda outcome: list(outcome.wallet_ids),
    )


async def set_ad_account_budget(
    info: Info, input: inputs.SetAdAccountBudgetInput
) -> results.SetAdAccountBudgetResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> budget_service.AccountOutcome:
        command = budget_service.BudgetCommand(
            ad_account_id=decode_id(input.ad_account_id, "AdAccount", ("input", "adAccountId")),
            mode=BudgetMode(input.mode.value),
            amount=money_in(input.amount),
            period_start=input.period_start,
            period_end=input.period_end,
        )
        return await budget_service.set_ad_account_budget(session, actor, command, ctx.state.now())

    async def render(outcome: budget_service.AccountOutcome) -> Any:
        account = await ctx.loaders.ad_account.load(outcome.ad_account_id)
        return results.SetAdAccountBudgetSuccess(
            ad_account=AdAccount.from_row(account),
            stopped_campaigns=await _campaigns(info, outcome.stopped_campaign_ids),
            restarted_campaigns=await _campaigns(info, outcome.restarted_campaign_ids),
        )

    return await mutate(info, results.SetAdAccountBudgetResult, run, render)


async def _campaigns(info: Info, ids: tuple[int, ...]) -> list[Campaign]:
    rows = await info.context.loaders.campaign.load_many(list(ids))
    return [Campaign.from_row(row) for row in rows]
