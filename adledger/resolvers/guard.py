"""setBalanceAlerts: parse, run the service in one transaction, map the result."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from adledger.domain.balance_alerts import AlertKind
from adledger.resolvers.mutation import decode_id, money_in, mutate
from adledger.schema import results
from adledger.schema.guard import SetBalanceAlertsInput
from adledger.schema.types import Wallet
from adledger.services import balance_alerts
from adledger.services.actor import Actor


async def set_balance_alerts(
    info: Info, input: SetBalanceAlertsInput
) -> results.WalletSettingsResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> balance_alerts.AlertsOutcome:
        wallet_id = decode_id(input.wallet_id, "Wallet", ("input", "walletId"))
        alerts = [
            balance_alerts.AlertIn(
                AlertKind(alert.kind.value),
                money_in(alert.threshold),
                None if alert.days is None else Decimal(repr(alert.days)),
            )
            for alert in input.alerts
        ]
        return await balance_alerts.set_balance_alerts(
            session, actor, wallet_id, alerts, ctx.state.now()
        )

    async def render(outcome: balance_alerts.AlertsOutcome) -> Any:
        row = await ctx.loaders.wallet.load(outcome.wallet_id)
        return results.WalletSettingsSuccess(wallet=Wallet.from_row(row))

    return await mutate(info, results.WalletSettingsResult, run, render)
