"""A wallet's automatic recharge rule as its members set it (setAutoRecharge,
disableAutoRecharge): ADMIN and FINANCE_MANAGER only (they move the center's money: the
card pays), checked before anything changes, audited, idempotent by key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.currency import format_money
from adledger.domain.errors import CurrencyMismatch, InvalidState
from adledger.domain.ledger import AccountKind
from adledger.domain.money import Currency, Money, parse_positive_amount
from adledger.domain.recharge import RuleAsk, RuleStatus, check_rule
from adledger.domain.wallets import MoneyIn
from adledger.services import guard_marks
from adledger.services.actor import Actor
from adledger.services.auto_recharge import audit_rule
from adledger.services.config import BillingConfig
from adledger.services.idempotency import run_idempotent
from adledger.services.wallets import wallet_for
from adledger.store import auto_recharge as repo
from adledger.store import business_centers as centers
from adledger.store import wallets as wallet_repo
from adledger.store.models import Wallet
from adledger.store.wallets import MovableWallet

WALLET_FIELD = ("input", "walletId")


@dataclass(frozen=True, slots=True)
class RechargeRequest:
    wallet_id: int
    threshold: MoneyIn
    amount: MoneyIn | None = None
    target_balance: MoneyIn | None = None
    monthly_cap: MoneyIn | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    wallet_id: int


async def set_auto_recharge(
    session: AsyncSession,
    actor: Actor,
    request: RechargeRequest,
    config: BillingConfig,
    now: datetime,
) -> RuleOutcome:
    """The wallet's rule, made or replaced, ACTIVE and armed (a SUSPENDED one starts again
    with no failures). A wallet already below the threshold is recharged at once: the
    rule decides at the end of this transaction, as after any money move."""
    wallet = await wallet_for(session, actor, request.wallet_id, WALLET_FIELD)
    ask = RuleAsk(
        threshold=_money(wallet, request.threshold, ("input", "threshold")),
        amount=_optional(wallet, request.amount, ("input", "amount")),
        target=_optional(wallet, request.target_balance, ("input", "targetBalance")),
        monthly_cap=_optional(wallet, request.monthly_cap, ("input", "monthlyCap")),
    )
    check_rule(ask, config.minimum_top_up(Currency(wallet.currency)))
    fingerprint = {
        "wallet": wallet.id,
        "threshold": ask.threshold.minor,
        "amount": _minor(ask.amount),
        "target": _minor(ask.target),
        "cap": _minor(ask.monthly_cap),
    }

    async def run() -> RuleOutcome:
        await _require_card(session, wallet.business_center_id)
        await _save(session, actor, wallet, ask, now)
        return RuleOutcome(wallet.id)

    return await run_idempotent(
        session, actor, request.idempotency_key, "setAutoRecharge", fingerprint, RuleOutcome, run
    )


async def _require_card(session: AsyncSession, center_id: int) -> None:
    center = await centers.business_center(session, center_id)
    if center is None or center.card_reference is None:
        raise InvalidState(
            "automatic recharge charges the business center's saved card: save one with "
            "createCardSetup first"
        )


async def _save(
    session: AsyncSession, actor: Actor, wallet: Wallet | MovableWallet, ask: RuleAsk, now: datetime
) -> None:
    await repo.lock_guard(session, wallet.id)
    await repo.save_rule(
        session,
        wallet.id,
        now,
        threshold=ask.threshold.minor,
        amount=_minor(ask.amount),
        target_balance=_minor(ask.target),
        monthly_cap=_minor(ask.monthly_cap),
        status=RuleStatus.ACTIVE.value,
        armed=True,
        failures=0,
        # A recharge decided under the old settings and not opened yet never is (its
        # effect finds no mark): the rule decides again at this commit, on these.
        pending_since=None,
    )
    await audit_rule(session, wallet, "AUTO_RECHARGE_SET", now, _describe(ask), actor.user_id)
    # The guard decides before the commit (balance_guard.settle) for the wallets whose
    # accounts moved: this one is told as if its cash had.
    cash = await wallet_repo.wallet_account(session, wallet.id, AccountKind.CASH)
    guard_marks.touched(session, [cash.id])


async def disable_auto_recharge(
    session: AsyncSession, actor: Actor, wallet_id: int, now: datetime
) -> RuleOutcome:
    """DISABLED until set again; a recharge already in flight still lands (its money is
    credited when paid), one decided and not opened yet never is (its effect finds the
    rule disabled). A wallet with no rule, or a disabled one, is left as it is."""
    wallet = await wallet_for(session, actor, wallet_id, WALLET_FIELD)
    rule = await repo.lock_guard(session, wallet.id)
    if rule is not None and rule.status != RuleStatus.DISABLED:
        rule.status = RuleStatus.DISABLED.value
        rule.updated_at = now
        await audit_rule(session, wallet, "AUTO_RECHARGE_DISABLED", now, None, actor.user_id)
    return RuleOutcome(wallet.id)


def _describe(ask: RuleAsk) -> str:
    currency = ask.threshold.currency.value

    def shown(money: Money) -> str:
        return format_money(money.minor, currency)

    charge = (
        f"charge {shown(ask.amount)}"
        if ask.amount is not None
        else f"charge up to {shown(ask.target)}"
        if ask.target is not None
        else ""
    )
    cap = f", at most {shown(ask.monthly_cap)} a month" if ask.monthly_cap is not None else ""
    return f"below {shown(ask.threshold)}: {charge}{cap}"


def _money(wallet: Wallet | MovableWallet, given: MoneyIn, field: tuple[str, ...]) -> Money:
    if given.currency.value != wallet.currency:
        raise CurrencyMismatch(expected=wallet.currency, field=(*field, "currencyCode"))
    return parse_positive_amount(given.amount, given.currency, (*field, "amount"))


def _optional(
    wallet: Wallet | MovableWallet, given: MoneyIn | None, field: tuple[str, ...]
) -> Money | None:
    return None if given is None else _money(wallet, given, field)


def _minor(money: Money | None) -> int | None:
    return None if money is None else money.minor
