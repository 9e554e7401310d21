"""Mutation resolvers: parse the input, run one service in one transaction, map the result."""

from __future__ import annotations

import asyncio
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from adledger.domain.access import Permission
from adledger.domain.ad_accounts import AdAccountType, BillingOption
from adledger.domain.errors import DomainError, InvariantBroken, not_found
from adledger.domain.wallets import Bucket, CreditLineCycle, MoneyIn
from adledger.schema import inputs, results
from adledger.schema.errors import to_user_error
from adledger.schema.ids import db_id_of
from adledger.schema.pages import PageArgs
from adledger.schema.readable import acts_with
from adledger.schema.types import AdAccount, BusinessCenter, Wallet
from adledger.services import access, guard_marks
from adledger.services import business_centers as center_service
from adledger.services import wallets as wallet_service
from adledger.services.actor import Actor
from adledger.services.wallets import TransferOutcome
from adledger.store import wallets as wallet_repo

Outcome = TypeVar("Outcome")


def user_error(err: DomainError, result_union: Any) -> Any:
    """The one mapping of a domain error to a member of the mutation's result union."""
    union = typing.get_args(result_union)[0]
    return to_user_error(err, typing.get_args(union))


def decode_id(global_id: str, type_name: str, field: tuple[str, ...]) -> int:
    db_id = db_id_of(global_id, type_name)
    if db_id is None:
        raise not_found(_words(type_name), field)
    return db_id


def _words(type_name: str) -> str:
    """A type's name as messages write it: AdAccount is "ad account"."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type_name).lower()


async def mutate(
    info: Info,
    result_union: Any,
    run: Callable[[AsyncSession, Actor], Awaitable[Outcome]],
    render: Callable[[Outcome], Awaitable[Any]],
    wallets_of: Callable[[Outcome], list[int]] = lambda _: [],
) -> Any:
    """What is to happen after the commit (a provider call) the service declares in the
    outbox, in its transaction; `ctx.write` runs it right after the commit and before
    `render`, so render shows what it did and never calls a provider itself."""
    ctx = info.context
    actor = await ctx.require_actor()
    try:
        if info.field_name != "recordSpend":
            access.refuse_integration(actor)
        outcome = await ctx.write(lambda session: run(session, actor))
    except DomainError as err:
        return user_error(err, result_union)
    ctx.publish_wallets(wallets_of(outcome))
    return await render(outcome)


async def _center(info: Info, center_id: int) -> BusinessCenter:
    return BusinessCenter.from_row(await info.context.loaders.center.load(center_id))


async def _wallet(info: Info, wallet_id: int) -> Wallet:
    return Wallet.from_row(await info.context.loaders.wallet.load(wallet_id))


async def _answered_wallets(info: Info, *wallet_ids: int) -> list[Wallet]:
    """The wallets a money move answers, with the caller's role and their balances, read
    together in one statement (the balances the answer shows cost nothing more)."""
    ctx = info.context
    rows = await asyncio.gather(*(ctx.visible_wallet(i, balances=True) for i in wallet_ids))
    return [
        Wallet.from_row(row) if row is not None else await _wallet(info, wallet_id)
        for wallet_id, row in zip(wallet_ids, rows, strict=True)
    ]


def money_in(money_input: Any) -> MoneyIn | None:
    if money_input is None:
        return None
    return MoneyIn(money_input.amount, money_input.currency_code)


def _money(money_input: Any) -> MoneyIn:
    money = money_in(money_input)
    if money is None:
        raise InvariantBroken("money is not None (the schema makes these inputs non-null)")
    return money


async def create_business_center(
    info: Info, input: inputs.CreateBusinessCenterInput
) -> results.CreateBusinessCenterResult:
    async def render(outcome: center_service.CenterOutcome) -> Any:
        center = await _center(info, outcome.business_center_id)
        return results.CreateBusinessCenterSuccess(business_center=center)

    return await mutate(
        info,
        results.CreateBusinessCenterResult,
        lambda s, actor: center_service.create_business_center(
            s, actor, input.name, input.currency_code, input.idempotency_key
        ),
        render,
    )


async def create_ad_account(
    info: Info, input: inputs.CreateAdAccountInput
) -> results.CreateAdAccountResult:
    async def run(session: AsyncSession, actor: Actor) -> center_service.AdAccountOutcome:
        center_id = decode_id(
            input.business_center_id, "BusinessCenter", ("input", "businessCenterId")
        )
        return await center_service.create_ad_account(
            session,
            actor,
            center_id,
            input.name,
            BillingOption(input.billing_option.value),
            AdAccountType(
                input.account_type.value if input.account_type else AdAccountType.AUCTION
            ),
            input.idempotency_key,
        )

    async def render(outcome: center_service.AdAccountOutcome) -> Any:
        row = await info.context.loaders.ad_account.load(outcome.ad_account_id)
        return results.CreateAdAccountSuccess(ad_account=AdAccount.from_row(row))

    return await mutate(info, results.CreateAdAccountResult, run, render)


@acts_with(Permission.MOVE_MONEY)  # on both wallets (services/wallets.py `_movable`)
async def transfer_balance(
    info: Info, input: inputs.TransferBalanceInput
) -> results.TransferBalanceResult:
    async def run(session: AsyncSession, actor: Actor) -> Answered[TransferOutcome]:
        command = wallet_service.Transfer(
            from_wallet_id=decode_id(input.from_wallet_id, "Wallet", ("input", "fromWalletId")),
            to_wallet_id=decode_id(input.to_wallet_id, "Wallet", ("input", "toWalletId")),
            amount=_money(input.amount),
            bucket=Bucket(input.bucket.value if input.bucket else Bucket.CASH),
            idempotency_key=input.idempotency_key,
        )
        outcome = await wallet_service.transfer_balance(session, actor, command)
        ids = [outcome.from_wallet_id, outcome.to_wallet_id]
        return Answered(outcome, await _wallets_at_commit(session, actor, ids))

    async def render(answered: Answered[TransferOutcome]) -> Any:
        # Both wallets as the transaction left them. The service found the caller may
        # move their money, in this transaction: every role that may, may read them.
        seen = info.context.seen_in_write(answered.wallets)
        outcome = answered.outcome
        return results.TransferBalanceSuccess(
            from_=Wallet.from_row(seen[outcome.from_wallet_id]),
            to=Wallet.from_row(seen[outcome.to_wallet_id]),
        )

    return await mutate(
        info,
        results.TransferBalanceResult,
        run,
        render,
        lambda answered: [answered.outcome.from_wallet_id, answered.outcome.to_wallet_id],
    )


@dataclass(frozen=True, slots=True)
class Answered(Generic[Outcome]):
    """A service's outcome, and the wallets its answer shows as they stood at the commit."""

    outcome: Outcome
    wallets: list[Any]


async def _wallets_at_commit(session: AsyncSession, actor: Actor, ids: list[int]) -> list[Any]:
    """The wallets a money move answers, read in its transaction right before the commit
    (with the caller's role and their balances): the answer needs no connection of its
    own after the commit. The same statement answers the balance guard for them."""
    rows = await wallet_repo.wallets_at_commit(session, actor.user_id, ids)
    guard_marks.unguarded(session, (i for row in rows if not row.guarded for i in row.account_ids))
    return rows


async def grant_vouchers(
    info: Info, input: inputs.GrantVouchersInput
) -> results.GrantVouchersResult:
    async def run(session: AsyncSession, actor: Actor) -> wallet_service.WalletOutcome:
        wallet_id = decode_id(input.wallet_id, "Wallet", ("input", "walletId"))
        return await wallet_service.grant_vouchers(
            session, actor, wallet_id, _money(input.amount), input.reason, input.idempotency_key
        )

    async def render(outcome: wallet_service.WalletOutcome) -> Any:
        (wallet,) = await _answered_wallets(info, outcome.wallet_id)
        return results.GrantVouchersSuccess(wallet=wallet)

    return await mutate(
        info, results.GrantVouchersResult, run, render, lambda outcome: [outcome.wallet_id]
    )


async def set_credit_line(
    info: Info, input: inputs.SetCreditLineInput
) -> results.SetCreditLineResult:
    async def run(session: AsyncSession, actor: Actor) -> center_service.CenterOutcome:
        center_id = decode_id(
            input.business_center_id, "BusinessCenter", ("input", "businessCenterId")
        )
        return await wallet_service.set_credit_line(
            session,
            actor,
            center_id,
            _money(input.limit),
            CreditLineCycle(input.cycle.value),
            30 if input.net_terms_days is None else input.net_terms_days,
        )

    async def render(outcome: center_service.CenterOutcome) -> Any:
        center = await _center(info, outcome.business_center_id)
        return results.SetCreditLineSuccess(business_center=center)

    return await mutate(info, results.SetCreditLineResult, run, render)


async def staff_queue(
    info: Info,
    status: str | None,
    first: int | None,
    after: str | None,
    fetch: Callable[[AsyncSession, str | None, int, int | None], Awaitable[list[Any]]],
) -> tuple[PageArgs, list[Any]]:
    """A page of what the billing department works through (staff only: FORBIDDEN for
    anyone else), oldest first: `fetch(session, status, limit, after_id)`."""
    actor = await info.context.require_actor()
    if not actor.is_staff:
        raise GraphQLError("platform staff only", extensions={"code": "FORBIDDEN"})
    args = PageArgs.parse(first, after)
    rows = await info.context.read(lambda s: fetch(s, status, args.fetch, args.after_id))
    return args, rows
