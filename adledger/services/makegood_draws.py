"""What a makegood credit or refund may give back, and where each part is drawn from
(DESIGN §9 "Conservation per campaign", domain/conservation.py).

A makegood compensates only what the sweep or a cancellation does not already return:
its part from the campaign's reserve is money the campaign holds (cash back to the
wallet's cash, voucher money back to its vouchers), and lowers the budget by as much (not
the price), so no later budget cut, cancellation or sweep can return it again; its part from revenue
reverses billing above the delivered value, back to the buckets that spend was drawn
from. A campaign paid by card is made good only once its invoices are settled; one that
draws as it spends (automatic allocation, credit line) only once it is settled, when no
later spend can change what it delivered.

The caller holds the campaign's lock; ledger accounts are locked here, after it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.budgets import StopReason
from adledger.domain.campaigns import give_back
from adledger.domain.conservation import (
    CampaignBooks,
    Makegood,
    makegood_allowed,
    reverse_billing,
)
from adledger.domain.errors import InvalidState
from adledger.domain.ledger import AccountKind, Move, TransactionKind
from adledger.domain.stops import draws_as_it_spends
from adledger.services.event_data_money import Credit
from adledger.services.funding import (
    WalletAccounts,
    campaign_money,
    credit_issued,
    wallet_accounts,
)
from adledger.services.installments import OWED, paid_by_card
from adledger.services.ledger import post_entry
from adledger.services.stops import stop
from adledger.store import billing as billing_repo
from adledger.store import ledger as ledger_repo
from adledger.store import makegoods as repo
from adledger.store.models import Campaign

KIND = TransactionKind.MAKEGOOD_CREDIT


def books_of(campaign: Campaign) -> CampaignBooks:
    return CampaignBooks(
        price=campaign.price,
        budget=campaign.budget,
        spent=campaign.spent,
        impressions=campaign.impressions,
        booked=campaign.booked_impressions,
        made_good_reserve=campaign.made_good_reserve,
        made_good_revenue=campaign.made_good_revenue,
    )


async def allowed_now(session: AsyncSession, campaign: Campaign) -> Makegood:
    """The most a makegood may give back now (INVALID_STATE when the campaign cannot be
    made good with money yet)."""
    await _check_payable(session, campaign)
    if draws_as_it_spends(campaign.payment_plan):
        return makegood_allowed(books_of(campaign), 0)
    money = await campaign_money(session, campaign.id)
    return makegood_allowed(books_of(campaign), money.reserve.total)


async def _check_payable(session: AsyncSession, campaign: Campaign) -> None:
    if await repo.flight_accepted(session, campaign.id):
        raise InvalidState("the campaign's missing impressions were made good with a flight")
    if paid_by_card(campaign) and await billing_repo.invoices_of_campaign(
        session, campaign.id, OWED
    ):
        raise InvalidState(
            "a campaign paid by card is made good once its invoices are settled; until then "
            "the billing department adjusts its plan by hand"
        )
    if draws_as_it_spends(campaign.payment_plan) and campaign.settled_at is None:
        raise InvalidState(
            "a campaign that draws as it spends is made good once it is settled: until then "
            "late delivery reports may still change what it delivered"
        )


@dataclass(frozen=True, slots=True)
class Paid:
    makegood: Makegood
    to_cash: int
    """What reached the campaign's own wallet's cash: all a refund may send on."""


async def pay(
    session: AsyncSession,
    campaign: Campaign,
    makegood: Makegood,
    offer_id: int,
    actor: int,
    now: datetime,
) -> Paid:
    """The reserve part, then the revenue part; the counters and the budget follow."""
    wallet = await wallet_accounts(session, campaign.wallet_id)
    key = f"makegood:{offer_id}"
    to_cash = await _from_reserve(session, campaign, wallet, makegood.from_reserve, key, actor)
    reversed_to = await _from_revenue(session, campaign, wallet, makegood.from_revenue, key, actor)
    to_cash += reversed_to.to_cash
    campaign.made_good_reserve += makegood.from_reserve
    campaign.budget -= makegood.from_reserve
    campaign.made_good_revenue += makegood.from_revenue
    if campaign.spent >= campaign.budget:
        stop(session, campaign, StopReason.CAMPAIGN_BUDGET_REACHED, now)
    # One credit.issued per wallet the money reached: a campaign that draws as it spends
    # gets back to its center's balance what was billed from there.
    by_wallet = dict(reversed_to.by_wallet)
    by_wallet[campaign.wallet_id] = by_wallet.get(campaign.wallet_id, 0) + makegood.from_reserve
    what = f"Makegood for campaign {campaign.name}"
    for wallet_id, amount in sorted(by_wallet.items()):
        credit = Credit(KIND.value, amount, what, wallet_id)
        await credit_issued(session, campaign, credit, now)
    return Paid(makegood, to_cash)


async def _from_reserve(
    session: AsyncSession,
    campaign: Campaign,
    wallet: WalletAccounts,
    amount: int,
    key: str,
    actor: int,
) -> int:
    """Cash first, as a budget reduction gives back: voucher money left in the reserve
    keeps being spent first, and never becomes cash."""
    if not amount:
        return 0
    money = await campaign_money(session, campaign.id)
    back = give_back(money.reserve, amount)
    own = money.accounts
    moves = [
        Move(own[AccountKind.RESERVE], wallet.cash, back.cash, KIND) if back.cash else None,
        Move(own[AccountKind.VOUCHER_RESERVE], wallet.vouchers, back.vouchers, KIND)
        if back.vouchers
        else None,
    ]
    await post_entry(
        session,
        operation="makegood_from_reserve",
        moves=[m for m in moves if m is not None],
        description=f"Makegood for campaign {campaign.name}: from its unspent budget",
        actor_user_id=actor,
        idempotency_key=f"{key}:reserve",
        campaign_id=campaign.id,
    )
    return back.cash


@dataclass(frozen=True, slots=True)
class Reversed:
    to_cash: int
    """What reached the campaign's own wallet's cash."""
    by_wallet: dict[int, int]
    """What each wallet got back (its cash, vouchers or credit line)."""


async def _from_revenue(
    session: AsyncSession,
    campaign: Campaign,
    wallet: WalletAccounts,
    amount: int,
    key: str,
    actor: int,
) -> Reversed:
    if not amount:
        return Reversed(0, {})
    rooms, owners = await _rooms(session, campaign, wallet)
    parts = reverse_billing(amount, rooms)
    revenue = await ledger_repo.platform_account_id(session, AccountKind.REVENUE, campaign.currency)
    await post_entry(
        session,
        operation="makegood_from_revenue",
        moves=[Move(revenue, target, part, KIND) for target, part in parts],
        description=f"Makegood for campaign {campaign.name}: spend billed above the value "
        "of what it delivered, reversed",
        actor_user_id=actor,
        idempotency_key=f"{key}:revenue",
        campaign_id=campaign.id,
    )
    by_wallet: dict[int, int] = defaultdict(int)
    for target, part in parts:
        by_wallet[owners[target]] += part
    to_cash = sum(part for target, part in parts if target == wallet.cash)
    return Reversed(to_cash, dict(by_wallet))


async def _rooms(
    session: AsyncSession, campaign: Campaign, wallet: WalletAccounts
) -> tuple[list[tuple[int, int]], dict[int, int]]:
    """Per bucket the campaign's spend came from: what was billed from it and not yet
    reversed, in the reverse of the order spend draws them. A reserve's spend came from
    the wallet's vouchers (drawn first), then its cash; a drawn campaign's from its
    account's cash, then vouchers, then its center's cash, then its credit line."""
    room: dict[int, int] = defaultdict(int)
    rank: dict[int, int] = {}
    owner: dict[int, int] = {}
    for row in await repo.billed_from(session, campaign.id):
        # A reserve's spend goes back to the wallet bucket that funded it.
        funded_by = {"reserve": wallet.cash, "voucher_reserve": wallet.vouchers}
        target = funded_by.get(row.kind, row.account_id)
        room[target] += row.billed - row.reversed
        rank[target] = _rank(campaign, row.kind, row.wallet_id == campaign.wallet_id)
        of_row = campaign.wallet_id if row.wallet_id is None else row.wallet_id
        owner[target] = campaign.wallet_id if row.kind in funded_by else of_row
    return [(target, room[target]) for target in sorted(room, key=rank.__getitem__)], owner


def _rank(campaign: Campaign, kind: str, own_wallet: bool) -> int:
    if not draws_as_it_spends(campaign.payment_plan):
        return 0 if kind in ("reserve", "cash") else 1
    if kind == "credit_line":
        return 0
    if not own_wallet:
        return 1  # the center's cash
    return 2 if kind == "vouchers" else 3
