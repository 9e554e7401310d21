"""Moving balance between wallets, vouchers and credit lines (DESIGN §4, §7 MANUAL mode)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.domain.access import Permission, Role
from adledger.domain.allocation import AllocationMode
from adledger.domain.errors import (
    CurrencyMismatch,
    InsufficientFunds,
    InvalidInput,
    InvalidState,
    not_found,
)
from adledger.domain.events import EventType
from adledger.domain.ledger import AccountKind, AccountState, Move, TransactionKind
from adledger.domain.money import Money, format_money, parse_amount, parse_positive_amount
from adledger.domain.text import clean_text
from adledger.domain.wallets import Bucket, CreditLineCycle, MoneyIn
from adledger.services import access, events
from adledger.services import event_data_money as snapshots
from adledger.services.actor import Actor
from adledger.services.business_centers import CenterOutcome
from adledger.services.funding import CenterMode, fund_waiting, lock_waiting, wallet_accounts
from adledger.services.idempotency import run_idempotent
from adledger.services.ledger import PlatformCredit, credit_from_platform, post_entry
from adledger.store import business_centers as centers
from adledger.store import ledger as ledger_repo
from adledger.store import wallets as repo
from adledger.store.models import Wallet
from adledger.store.wallets import MovableWallet

MAX_NET_TERMS_DAYS = 120


@dataclass(frozen=True, slots=True)
class TransferOutcome:
    from_wallet_id: int
    to_wallet_id: int


@dataclass(frozen=True, slots=True)
class WalletOutcome:
    wallet_id: int


@dataclass(frozen=True, slots=True)
class Transfer:
    from_wallet_id: int
    to_wallet_id: int
    amount: MoneyIn
    bucket: Bucket = Bucket.CASH
    idempotency_key: str | None = None


async def transfer_balance(
    session: AsyncSession, actor: Actor, cmd: Transfer, now: datetime | None = None
) -> TransferOutcome:
    source, target, modes = await _transfer_wallets(session, actor, cmd)
    money = _money_for(source, cmd.amount)
    center = _check_transfer(source, target, cmd.bucket, modes)
    request = {
        "from": source.id,
        "to": target.id,
        "minor": money.minor,
        "currency": money.currency.value,
        "bucket": cmd.bucket.value,
    }

    async def run() -> TransferOutcome:
        kind = AccountKind(cmd.bucket.value.lower())
        waiting = await lock_waiting(session, target.id, center=center, waiting=target.waiting)
        accounts = await ledger_repo.lock_wallet_accounts(session, [source.id, target.id], kind)
        try:
            await post_entry(
                session,
                operation="transfer_balance",
                moves=[_wallet_move(accounts, source.id, target.id, money.minor)],
                description=f"Transfer from {source.owner_name} to {target.owner_name}",
                actor_user_id=actor.user_id,
                locked=dict(accounts.values()),
            )
        except InsufficientFunds as short:
            held = f"the wallet's {cmd.bucket.value.lower()} holds {short.available()}"
            raise short.at(("input", "amount", "amount"), held) from None
        await fund_waiting(session, target.id, waiting, now or clock.now())
        return TransferOutcome(source.id, target.id)

    return await run_idempotent(
        session, actor, cmd.idempotency_key, "transferBalance", request, TransferOutcome, run
    )


async def _transfer_wallets(
    session: AsyncSession, actor: Actor, cmd: Transfer
) -> tuple[MovableWallet, MovableWallet, dict[int, str]]:
    """Both wallets, the caller's right to move their money, and their center locked (the
    one lock order begins there) with its allocation mode, in one statement."""
    ids = [cmd.from_wallet_id, cmd.to_wallet_id]
    found, modes = await repo.lock_centers_of_movable_wallets(
        session, actor.user_id, ids, staff=actor.is_staff
    )
    source = _movable(actor, found.get(cmd.from_wallet_id), ("input", "fromWalletId"))
    target = _movable(actor, found.get(cmd.to_wallet_id), ("input", "toWalletId"))
    return source, target, modes


def _movable(actor: Actor, wallet: MovableWallet | None, field: tuple[str, ...]) -> MovableWallet:
    """The wallet, when the caller may move its money (NOT_FOUND for other customers)."""
    if wallet is None:
        raise not_found("wallet", field)
    role = Role(wallet.role) if wallet.role else None
    access.check(actor, role, Permission.MOVE_MONEY, field=field, what="wallet")
    return wallet


async def grant_vouchers(
    session: AsyncSession,
    actor: Actor,
    wallet_id: int,
    amount: MoneyIn,
    reason: str,
    key: str | None = None,
    now: datetime | None = None,
) -> WalletOutcome:
    access.require_staff(actor)
    wallet = await _existing_wallet(session, wallet_id, ("input", "walletId"))
    money = _money_for(wallet, amount)
    clean_reason = _reason(reason)
    request = {"wallet": wallet.id, "minor": money.minor, "reason": clean_reason}

    async def run() -> WalletOutcome:
        waiting = await lock_waiting(session, wallet.id)
        # Funding the waiting campaigns draws on cash as well: both accounts now, by id
        # (vouchers first, then cash, would be out of the one lock order).
        accounts = await wallet_accounts(session, wallet.id)
        await ledger_repo.lock_accounts(session, [accounts.cash, accounts.vouchers])
        await credit_from_platform(
            session,
            PlatformCredit(
                wallet.id,
                AccountKind.VOUCHERS,
                AccountKind.VOUCHER_ISSUANCE,
                money,
                TransactionKind.VOUCHER_GRANT,
                clean_reason,
                actor.user_id,
            ),
        )
        await fund_waiting(session, wallet.id, waiting, now or clock.now())
        return WalletOutcome(wallet.id)

    return await run_idempotent(session, actor, key, "grantVouchers", request, WalletOutcome, run)


async def set_credit_line(
    session: AsyncSession,
    actor: Actor,
    center_id: int,
    limit: MoneyIn,
    cycle: CreditLineCycle,
    net_terms_days: int,
    now: datetime | None = None,
) -> CenterOutcome:
    access.require_staff(actor)
    wallet = await _center_wallet(session, center_id)
    money = _money_for(wallet, limit, allow_zero=True, field=("input", "limit"))
    if not 0 <= net_terms_days <= MAX_NET_TERMS_DAYS:
        raise InvalidInput(
            f"netTermsDays must be 0 to {MAX_NET_TERMS_DAYS}", ("input", "netTermsDays")
        )
    line = await repo.wallet_account(session, wallet.id, AccountKind.CREDIT_LINE)
    waiting = await lock_waiting(session, wallet.id)
    used = -(await ledger_repo.lock_accounts(session, [line.id]))[line.id].balance
    if money.minor < used:
        in_use = format_money(used, money.currency)
        raise InvalidInput(
            f"the limit may not be below what is used ({in_use})",
            ("input", "limit", "amount"),
        )
    # Read under the line's lock, which every change of the line takes: what it was.
    was = await _credit_line_terms(session, center_id)
    at = now or clock.now()
    await repo.set_credit_limit(session, wallet.id, money.minor, at)
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    await centers.set_credit_line_terms(session, center_id, cycle.value, net_terms_days, day)
    terms = snapshots.CreditLineTerms(money.minor, cycle.value, net_terms_days)
    if terms != was:
        data = snapshots.credit_line(center_id, wallet.id, wallet.currency, terms, was, used)
        changed = EventType.CREDIT_LINE_CHANGED
        await events.record(session, center_id, changed, "BusinessCenter", center_id, data, at)
    # A raised line is money arriving: campaigns stopped for lack of it start again.
    await fund_waiting(session, wallet.id, waiting, at)
    return CenterOutcome(center_id)


async def _credit_line_terms(session: AsyncSession, center_id: int) -> snapshots.CreditLineTerms:
    wallet = (await repo.wallets_of_centers(session, [center_id]))[0]
    center = await centers.business_center(session, center_id)
    if center is None:
        raise not_found("business center", ("input", "businessCenterId"))
    return snapshots.CreditLineTerms(
        wallet.credit_limit, center.credit_line_cycle, center.credit_line_net_terms_days
    )


async def credit_adjustment(
    session: AsyncSession,
    wallet_id: int,
    amount: Money,
    description: str,
    actor_user_id: int | None,
    now: datetime | None = None,
) -> int:
    """Cash in from outside the platform (opening balances, corrections by finance)."""
    waiting = await lock_waiting(session, wallet_id)
    entry_id = await credit_from_platform(
        session,
        PlatformCredit(
            wallet_id,
            AccountKind.CASH,
            AccountKind.PAYMENTS_CLEARING,
            amount,
            TransactionKind.ADJUSTMENT,
            description,
            actor_user_id,
        ),
    )
    await fund_waiting(session, wallet_id, waiting, now or clock.now())
    return entry_id


def _wallet_move(
    accounts: dict[int, tuple[int, AccountState]], source: int, target: int, minor: int
) -> Move:
    """`minor` from the source wallet's account to the target's (`accounts` by wallet id)."""
    return Move(
        accounts[source][0],
        accounts[target][0],
        minor,
        TransactionKind.ALLOCATION_OUT,
        TransactionKind.ALLOCATION_IN,
    )


def _check_transfer(
    source: MovableWallet, target: MovableWallet, bucket: Bucket, modes: dict[int, str]
) -> CenterMode:
    """Refuse what no transfer may do; the center, locked, with its allocation mode."""
    if source.id == target.id:
        raise InvalidInput("a transfer needs two different wallets", ("input", "toWalletId"))
    if source.business_center_id != target.business_center_id:
        raise InvalidInput(
            "balance moves only between wallets of one business center", ("input", "toWalletId")
        )
    if bucket is Bucket.CREDIT_LINE:
        raise InvalidInput("a credit line cannot be transferred", ("input", "bucket"))
    # Locked with the wallets (the one lock order begins there): its allocation mode holds
    # until commit, and money arriving may restart campaigns that draw on it
    # (funding.lock_waiting).
    mode = modes[source.business_center_id]
    if mode != AllocationMode.MANUAL and bucket is Bucket.CASH:
        raise InvalidState(
            "under automatic allocation cash is drawn automatically, not transferred; "
            "vouchers (ad credits) are still allocated by hand",
            ("input", "bucket"),
        )
    return CenterMode(source.business_center_id, mode)


async def wallet_for(
    session: AsyncSession, actor: Actor, wallet_id: int, field: tuple[str, ...]
) -> MovableWallet:
    """The wallet, when the caller may move its money (NOT_FOUND for other customers): the
    wallet and the caller's role in one statement."""
    found = await repo.movable_wallets(session, actor.user_id, [wallet_id])
    return _movable(actor, found.get(wallet_id), field)


async def _existing_wallet(session: AsyncSession, wallet_id: int, field: tuple[str, ...]) -> Wallet:
    wallet = await repo.wallet(session, wallet_id)
    if wallet is None:
        raise not_found("wallet", field)
    return wallet


async def _center_wallet(session: AsyncSession, center_id: int) -> Wallet:
    found = await repo.wallets_of_centers(session, [center_id])
    if not found:
        raise not_found("business center", ("input", "businessCenterId"))
    return found[0]


def _money_for(
    wallet: Wallet | MovableWallet,
    amount: MoneyIn,
    *,
    allow_zero: bool = False,
    field: tuple[str, ...] = ("input", "amount"),
) -> Money:
    if amount.currency.value != wallet.currency:
        raise CurrencyMismatch(expected=wallet.currency, field=(*field, "currencyCode"))
    parse = parse_amount if allow_zero else parse_positive_amount
    money = parse(amount.amount, amount.currency, (*field, "amount"))
    if allow_zero and money.minor < 0:
        raise InvalidInput("amount may not be negative", (*field, "amount"))
    return money


def _reason(raw: str) -> str:
    return clean_text(raw, ("input", "reason"))
