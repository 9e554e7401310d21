"""setAutoRecharge and disableAutoRecharge: a wallet's automatic recharge rule (issue 27).
A rule set on a wallet already below its threshold starts a recharge in the same
transaction; its charge runs right after the commit (`ctx.write`), before the answer."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from adledger.domain.errors import InvariantBroken
from adledger.resolvers.mutation import decode_id, money_in, mutate
from adledger.schema import inputs, results
from adledger.schema.types import Wallet
from adledger.services import recharge_settings as settings
from adledger.services.actor import Actor

WALLET_FIELD = ("input", "walletId")


async def set_auto_recharge(
    info: Info, input: inputs.SetAutoRechargeInput
) -> results.WalletSettingsResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> settings.RuleOutcome:
        threshold = money_in(input.threshold)
        if threshold is None:
            raise InvariantBroken("threshold is not None (the schema makes it non-null)")
        request = settings.RechargeRequest(
            wallet_id=decode_id(input.wallet_id, "Wallet", WALLET_FIELD),
            threshold=threshold,
            amount=money_in(input.amount),
            target_balance=money_in(input.target_balance),
            monthly_cap=money_in(input.monthly_cap),
            idempotency_key=input.idempotency_key,
        )
        return await settings.set_auto_recharge(
            session, actor, request, ctx.state.billing, ctx.state.now()
        )

    return await mutate(info, results.WalletSettingsResult, run, _render(info), _wallets)


async def disable_auto_recharge(
    info: Info, input: inputs.WalletSettingsInput
) -> results.WalletSettingsResult:
    now = info.context.state.now()

    async def run(session: AsyncSession, actor: Actor) -> settings.RuleOutcome:
        wallet_id = decode_id(input.wallet_id, "Wallet", WALLET_FIELD)
        return await settings.disable_auto_recharge(session, actor, wallet_id, now)

    return await mutate(info, results.WalletSettingsResult, run, _render(info), _wallets)


def _render(info: Info) -> Any:
    async def render(outcome: settings.RuleOutcome) -> Any:
        row = await info.context.loaders.wallet.load(outcome.wallet_id)
        return results.WalletSettingsSuccess(wallet=Wallet.from_row(row))

    return render


def _wallets(outcome: settings.RuleOutcome) -> list[int]:
    return [outcome.wallet_id]
