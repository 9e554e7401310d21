"""Campaigns paid from the credit balance (DESIGN §6): create, launch, budget changes,
pause, resume, cancel and reject. Each runs in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.access import Permission, Role
from adledger.domain.ad_accounts import BillingOption
from adledger.domain.allocation import AllocationMode
from adledger.domain.billing import InvoiceKind, SubscriptionStatus
from adledger.domain.budgets import StopReason
from adledger.domain.campaigns import (
    Action,
    CampaignStatus,
    DeliveryType,
    Flight,
    PaymentPlan,
    check_budget,
    check_launchable,
    check_new_flight,
    check_raise,
    clean_name,
    draw,
    give_back,
    launched,
    minimum_budget,
    transition,
)
from adledger.domain.conservation import check_raise_after_makegood, price_after
from adledger.domain.errors import (
    CurrencyMismatch,
    InsufficientFunds,
    InvalidInput,
    InvalidState,
    InvariantBroken,
    SubscriptionRequired,
    not_found,
)
from adledger.domain.ledger import AccountKind, Move, TransactionKind
from adledger.domain.money import Currency, Money, format_money, parse_positive_amount
from adledger.domain.stops import draws_as_it_spends, on_credit_line
from adledger.domain.wallets import MoneyIn
from adledger.services import (
    access,
    effect_kinds,
    installments,
    makegood_draws,
    outbox,
    plan_adjustments,
)
from adledger.services.actor import Actor
from adledger.services.config import BillingConfig
from adledger.services.delivery import set_status
from adledger.services.funding import (
    CenterMode,
    Locked,
    Return,
    campaign_money,
    flight_of,
    fund_waiting,
    lock_waiting,
    return_to_wallet,
)
from adledger.services.idempotency import run_idempotent
from adledger.services.invoices import NewInvoice, open_invoice, provider_key
from adledger.services.ledger import post_entry
from adledger.services.stops import drawable_now, reconsider, stop
from adledger.store import business_centers as centers
from adledger.store import campaigns as repo
from adledger.store.models import Campaign

CAMPAIGN_FIELD = ("input", "campaignId")
BUDGET_FIELD = ("input", "budget")
MAX_REASON_LENGTH = 500


@dataclass(frozen=True, slots=True)
class CampaignOutcome:
    campaign_id: int
    wallet_id: int
    shortfall_invoice_id: int | None = None
    """The shortfall invoice a launch opened, or the one a cancel left to void."""
    credited: int = 0
    charged: int = 0
    charge_invoice_id: int | None = None
    """A card plan's first invoice, to charge after the commit (card_charges.collect)."""


@dataclass(frozen=True, slots=True)
class NewCampaign:
    ad_account_id: int
    name: str
    budget: MoneyIn
    starts_at: datetime
    ends_at: datetime
    delivery_type: DeliveryType = DeliveryType.IF_AVAILABLE
    payment_plan: PaymentPlan | None = None
    idempotency_key: str | None = None
    booked_impressions: int | None = None
    """Required for GUARANTEED: under-delivery (makegoods) is measured against it."""


MAX_BOOKED_IMPRESSIONS = 10**12


def _booked(new: NewCampaign) -> int | None:
    field = ("input", "bookedImpressions")
    if new.booked_impressions is None:
        if new.delivery_type is DeliveryType.GUARANTEED:
            raise InvalidInput("a GUARANTEED campaign books its impressions", field)
        return None
    if not 1 <= new.booked_impressions <= MAX_BOOKED_IMPRESSIONS:
        raise InvalidInput(f"booked impressions are 1 to {MAX_BOOKED_IMPRESSIONS}", field)
    return new.booked_impressions


@dataclass(frozen=True, slots=True)
class Answered:
    """A mutation's outcome and the campaign as its transaction leaves it, which the answer
    shows instead of reading it again (None: a replay, or effects after the commit may
    change it: the answer reads it then)."""

    outcome: CampaignOutcome
    row: Any | None


async def create_campaign(
    session: AsyncSession, actor: Actor, new: NewCampaign, config: BillingConfig, now: datetime
) -> CampaignOutcome:
    return (await create_campaign_answered(session, actor, new, config, now)).outcome


async def create_campaign_answered(
    session: AsyncSession, actor: Actor, new: NewCampaign, config: BillingConfig, now: datetime
) -> Answered:
    account = await _account_for_campaign(session, actor, new.ad_account_id)
    plan = _payment_plan(account.billing_option, account.allocation_mode, new.payment_plan)
    budget = _budget(account.currency, new.budget, BUDGET_FIELD)
    minimum = config.minimum_campaign_budget(budget.currency).minor
    check_budget(budget.minor, minimum, account.currency, (*BUDGET_FIELD, "amount"))
    flight = check_new_flight(Flight(new.starts_at, new.ends_at), now)
    name = clean_name(new.name)
    booked = _booked(new)
    request = {
        "account": account.id,
        "name": name,
        "budget": budget.minor,
        "flight": [flight.starts_at.isoformat(), flight.ends_at.isoformat()],
        "delivery": new.delivery_type.value,
        "booked": booked,
        "plan": plan.value,
    }
    written: list[Any] = []

    async def run() -> CampaignOutcome:
        row = await repo.insert_campaign_row(
            session,
            {
                "ad_account_id": account.id,
                "business_center_id": account.business_center_id,
                "wallet_id": account.wallet_id,
                "name": name,
                "status": CampaignStatus.DRAFT.value,
                "delivery_type": new.delivery_type.value,
                "booked_impressions": booked,
                "payment_plan": plan.value,
                "currency": account.currency,
                "budget": budget.minor,
                "starts_at": flight.starts_at,
                "ends_at": flight.ends_at,
                "created_by_user_id": actor.user_id,
            },
        )
        written.append(row)
        return CampaignOutcome(row.id, row.wallet_id)

    outcome = await run_idempotent(
        session, actor, new.idempotency_key, "createCampaign", request, CampaignOutcome, run
    )
    return Answered(outcome, written[-1] if written else None)


async def _account_for_campaign(
    session: AsyncSession, actor: Actor, account_id: int
) -> repo.AccountForCampaign:
    """The ad account, its center's mode and its wallet, when the caller may run its
    campaigns (NOT_FOUND for other customers'), in one statement."""
    field = ("input", "adAccountId")
    account = await repo.account_for_campaign(session, actor.user_id, account_id)
    if account is None:
        raise not_found("ad account", field)
    role = Role(account.role) if account.role else None
    access.check(actor, role, Permission.RUN_CAMPAIGNS, field=field, what="ad account")
    if account.wallet_id is None:
        raise InvariantBroken("wallet_id is not None (every ad account has its wallet)")
    return account


async def launch_campaign(
    session: AsyncSession,
    actor: Actor,
    campaign_id: int,
    config: BillingConfig,
    now: datetime,
    key: str | None = None,
) -> CampaignOutcome:
    answered = await launch_campaign_answered(session, actor, campaign_id, config, now, key)
    return answered.outcome


async def launch_campaign_answered(
    session: AsyncSession,
    actor: Actor,
    campaign_id: int,
    config: BillingConfig,
    now: datetime,
    key: str | None = None,
) -> Answered:
    found = await _campaign_access(session, actor, campaign_id)
    left: list[Campaign] = []

    async def run() -> CampaignOutcome:
        _require_subscribed(found.subscription_status)
        campaign = await _lock(session, campaign_id)
        status = CampaignStatus(campaign.status)
        transition(status, Action.LAUNCH, flight_of(campaign), now)
        check_launchable(flight_of(campaign), now)
        outcome = await _launch(session, campaign, config, now, actor.user_id)
        left.append(campaign)
        return outcome

    outcome = await run_idempotent(
        session, actor, key, "launchCampaign", {"campaign": campaign_id}, CampaignOutcome, run
    )
    await _declare_launch_effects(session, outcome)
    # The effects a launch declares (an invoice issued, a card charged) may change the
    # campaign after the commit: its answer then reads it.
    quiet = outcome.shortfall_invoice_id is None and outcome.charge_invoice_id is None
    return Answered(outcome, left[-1] if left and quiet else None)


async def _declare_launch_effects(session: AsyncSession, outcome: CampaignOutcome) -> None:
    """After the commit, the shortfall invoice is issued at the provider (one it cannot
    take now stays open: run-outbox issues it) and a card plan's first invoice charged
    (declined or unanswered, issue-invoices retries it: the campaign waits in
    PENDING_FUNDS). Declared on a replay too: one the first request left undone runs now
    (its key makes it one effect)."""
    if outcome.shortfall_invoice_id is not None:
        invoice_id = outcome.shortfall_invoice_id
        await outbox.declare(
            session, effect_kinds.issue_invoice(invoice_id, provider_key(invoice_id))
        )
    if outcome.charge_invoice_id is not None:
        await outbox.declare(session, effect_kinds.collect_invoice(outcome.charge_invoice_id))


async def _launch(
    session: AsyncSession,
    campaign: Campaign,
    config: BillingConfig,
    now: datetime,
    actor_user_id: int,
) -> CampaignOutcome:
    """The whole budget from the wallet to the reserve, vouchers first; short, what the
    wallet has goes to the hold and a shortfall invoice asks for the rest. A campaign
    drawing on the business center reserves nothing: it draws as it spends."""
    if draws_as_it_spends(campaign.payment_plan):
        if on_credit_line(campaign.payment_plan):
            await installments.require_credit_line(session, campaign.business_center_id)
        campaign.launched_at = now
        set_status(session, campaign, launched(True, flight_of(campaign), now), now)
        await repo.save(session, campaign)
        return CampaignOutcome(campaign.id, campaign.wallet_id)
    if installments.paid_by_card(campaign):
        plan = await installments.launch_by_card(session, campaign, config, now)
        return CampaignOutcome(
            campaign.id, campaign.wallet_id, charge_invoice_id=plan.first_invoice_id
        )
    held = await repo.lock_funding_accounts(session, campaign.wallet_id, campaign.id)
    ids, states = held.ids, held.states
    vouchers, cash = ids[AccountKind.VOUCHERS], ids[AccountKind.CASH]
    taking = draw(campaign.budget, states[vouchers].balance, states[cash].balance)
    cash_to = AccountKind.HOLD if taking.short else AccountKind.RESERVE
    kind = TransactionKind.CAMPAIGN_LAUNCH
    moves = [
        Move(vouchers, ids[AccountKind.VOUCHER_RESERVE], taking.vouchers, kind)
        if taking.vouchers
        else None,
        Move(cash, ids[cash_to], taking.cash, kind) if taking.cash else None,
    ]
    if taking.total:
        await post_entry(
            session,
            operation="campaign_launch",
            moves=[m for m in moves if m is not None],
            description=f"Launch of campaign {campaign.name}",
            actor_user_id=actor_user_id,
            idempotency_key=f"campaign:{campaign.id}:launch",
            campaign_id=campaign.id,
            locked=states,
        )
    campaign.taken += taking.total
    campaign.launched_at = now
    set_status(session, campaign, launched(not taking.short, flight_of(campaign), now), now)
    if taking.short:
        invoice = await open_invoice(
            session,
            NewInvoice(
                campaign.business_center_id,
                campaign.wallet_id,
                InvoiceKind.CAMPAIGN_SHORTFALL,
                campaign.currency,
                [(f"Campaign {campaign.name}: budget not covered by the balance", taking.short)],
                now,
                config.days_until_due,
                campaign_id=campaign.id,
            ),
        )
        campaign.shortfall_invoice_id = invoice.id
    await repo.save(session, campaign)
    return CampaignOutcome(campaign.id, campaign.wallet_id, campaign.shortfall_invoice_id)


@dataclass(frozen=True, slots=True)
class BudgetChange:
    campaign_id: int
    budget: MoneyIn
    idempotency_key: str | None = None


async def update_budget(
    session: AsyncSession, actor: Actor, change: BudgetChange, config: BillingConfig, now: datetime
) -> CampaignOutcome:
    return (await update_budget_answered(session, actor, change, config, now)).outcome


async def update_budget_answered(
    session: AsyncSession, actor: Actor, change: BudgetChange, config: BillingConfig, now: datetime
) -> Answered:
    found = await _campaign_access(session, actor, change.campaign_id)
    budget = _budget(found.currency, change.budget, BUDGET_FIELD)
    request = {"campaign": found.id, "budget": budget.minor}
    center = CenterMode(found.business_center_id, found.allocation_mode)
    left: list[Campaign] = []

    async def run() -> CampaignOutcome:
        locked = await lock_waiting(session, found.wallet_id, also=[found.id], center=center)
        campaign = _still_there(locked, found.id)
        status, flight = CampaignStatus(campaign.status), flight_of(campaign)
        transition(status, Action.CHANGE_BUDGET, flight, now)
        if campaign.makegood_for_campaign_id is not None:
            raise InvalidState("a makegood flight has no price to change")
        if installments.paid_by_card(campaign) and status is not CampaignStatus.DRAFT:
            raise InvalidState(
                "the price of a campaign paid by card is fixed by its invoices once launched"
            )
        if budget.minor > campaign.budget:
            check_raise(status, flight, now)
            check_raise_after_makegood(makegood_draws.books_of(campaign), budget.minor)
            if campaign.settled_at is not None:  # whatever the clock says of its flight
                raise InvalidState("cannot raise the budget of a settled campaign")
        platform_minimum = config.minimum_campaign_budget(budget.currency).minor
        lowest = minimum_budget(platform_minimum, campaign.spent)
        check_budget(budget.minor, lowest, campaign.currency, (*BUDGET_FIELD, "amount"))
        outcome = await _rebudget(session, campaign, budget.minor, now, actor.user_id)
        await fund_waiting(session, campaign.wallet_id, locked, now)
        left.append(campaign)
        return outcome

    outcome = await run_idempotent(
        session,
        actor,
        change.idempotency_key,
        "updateCampaignBudget",
        request,
        CampaignOutcome,
        run,
    )
    return Answered(outcome, _settled_row(left))


def _settled_row(left: list[Campaign]) -> Campaign | None:
    """The campaign as the transaction left it, for the answer, unless money arriving
    after the commit (a recharge its effects pay) may still fund or restart it."""
    if not left or left[-1].status in _MAY_CHANGE_AFTER_COMMIT:
        return None
    return left[-1]


_MAY_CHANGE_AFTER_COMMIT = frozenset(
    {CampaignStatus.PENDING_FUNDS.value, CampaignStatus.BUDGET_EXHAUSTED.value}
)


async def _rebudget(
    session: AsyncSession, campaign: Campaign, budget: int, now: datetime, actor_user_id: int
) -> CampaignOutcome:
    difference = budget - campaign.budget
    outcome = CampaignOutcome(campaign.id, campaign.wallet_id)
    moves_money = campaign.status != CampaignStatus.DRAFT and not draws_as_it_spends(
        campaign.payment_plan
    )
    if moves_money and difference > 0:
        await _take_more(session, campaign, difference, actor_user_id)
        outcome = CampaignOutcome(campaign.id, campaign.wallet_id, charged=difference)
    elif moves_money and difference < 0:
        await _give_back(session, campaign, -difference, actor_user_id, now)
        outcome = CampaignOutcome(campaign.id, campaign.wallet_id, credited=-difference)
    campaign.price = price_after(campaign.price, budget, campaign.launched_at is not None)
    campaign.budget = budget
    await _restatus_after_budget(session, campaign, now)
    await repo.save(session, campaign)
    return outcome


async def _take_more(
    session: AsyncSession, campaign: Campaign, amount: int, actor_user_id: int
) -> None:
    held = await repo.lock_funding_accounts(session, campaign.wallet_id, campaign.id)
    ids, states = held.ids, held.states
    vouchers = states[ids[AccountKind.VOUCHERS]].balance
    cash = states[ids[AccountKind.CASH]].balance
    taking = draw(amount, vouchers, cash)
    if taking.short:
        raise InsufficientFunds(
            message=(
                "the ad account's balance does not cover the increase: "
                f"{format_money(vouchers + cash, campaign.currency)} available"
            ),
            available_minor=vouchers + cash,
            currency=campaign.currency,
            field=(*BUDGET_FIELD, "amount"),
        )
    kind = TransactionKind.BUDGET_INCREASE
    moves = [
        Move(ids[AccountKind.VOUCHERS], ids[AccountKind.VOUCHER_RESERVE], taking.vouchers, kind)
        if taking.vouchers
        else None,
        Move(ids[AccountKind.CASH], ids[AccountKind.RESERVE], taking.cash, kind)
        if taking.cash
        else None,
    ]
    await post_entry(
        session,
        operation="budget_increase",
        moves=[m for m in moves if m is not None],
        description=f"Budget of campaign {campaign.name} increased",
        actor_user_id=actor_user_id,
        campaign_id=campaign.id,
        locked=states,
    )
    campaign.taken += amount


async def _give_back(
    session: AsyncSession, campaign: Campaign, amount: int, actor_user_id: int, now: datetime
) -> None:
    money = await campaign_money(session, campaign.id)
    back = Return(
        give_back(money.reserve, amount),
        0,
        TransactionKind.BUDGET_REDUCTION_CREDIT,
        f"Budget of campaign {campaign.name} reduced",
        None,
        actor_user_id,
    )
    await return_to_wallet(session, campaign, back, now)


async def _restatus_after_budget(session: AsyncSession, campaign: Campaign, now: datetime) -> None:
    """A budget that now equals the spend stops delivery; one raised above it on a campaign
    its own budget stopped resumes it while its flight lasts, unless its account's cap or
    the business center's balance still holds it back."""
    status = CampaignStatus(campaign.status)
    own_budget = campaign.stop_reason in (None, StopReason.CAMPAIGN_BUDGET_REACHED)
    if status is CampaignStatus.ACTIVE and campaign.spent >= campaign.budget:
        stop(session, campaign, StopReason.CAMPAIGN_BUDGET_REACHED, now)
    elif status is CampaignStatus.BUDGET_EXHAUSTED and own_budget:
        account = (await centers.ad_accounts_by_ids(session, [campaign.ad_account_id]))[0]
        await reconsider(session, campaign, account, await drawable_now(session, [campaign]), now)


async def pause_campaign(
    session: AsyncSession, actor: Actor, campaign_id: int, now: datetime, key: str | None = None
) -> CampaignOutcome:
    await campaign_for(session, actor, campaign_id)

    async def run() -> CampaignOutcome:
        campaign = await _lock(session, campaign_id)
        status = CampaignStatus(campaign.status)
        set_status(
            session, campaign, transition(status, Action.PAUSE, flight_of(campaign), now), now
        )
        campaign.paused_at = now
        await repo.save(session, campaign)
        return CampaignOutcome(campaign.id, campaign.wallet_id)

    return await run_idempotent(
        session, actor, key, "pauseCampaign", {"campaign": campaign_id}, CampaignOutcome, run
    )


async def resume_campaign(
    session: AsyncSession, actor: Actor, campaign_id: int, now: datetime, key: str | None = None
) -> CampaignOutcome:
    await campaign_for(session, actor, campaign_id)

    async def run() -> CampaignOutcome:
        campaign = await _lock(session, campaign_id)
        status = CampaignStatus(campaign.status)
        resumed = transition(status, Action.RESUME, flight_of(campaign), now)
        check_launchable(flight_of(campaign), now)
        set_status(session, campaign, resumed, now)
        campaign.paused_at = None
        if campaign.makegood_for_campaign_id is None and campaign.spent >= campaign.budget:
            # Spent in full by late reports, or made good, while paused: nothing to deliver.
            stop(session, campaign, StopReason.CAMPAIGN_BUDGET_REACHED, now)
        await repo.save(session, campaign)
        return CampaignOutcome(campaign.id, campaign.wallet_id)

    return await run_idempotent(
        session, actor, key, "resumeCampaign", {"campaign": campaign_id}, CampaignOutcome, run
    )


async def cancel_campaign(
    session: AsyncSession, actor: Actor, campaign_id: int, now: datetime, key: str | None = None
) -> CampaignOutcome:
    found = await campaign_for(session, actor, campaign_id)

    async def run() -> CampaignOutcome:
        return await end_early(session, found, Action.CANCEL, now, actor.user_id)

    outcome = await run_idempotent(
        session, actor, key, "cancelCampaign", {"campaign": campaign_id}, CampaignOutcome, run
    )
    await _declare_void(session, outcome)
    return outcome


async def reject_campaign(
    session: AsyncSession,
    actor: Actor,
    campaign_id: int,
    reason: str | None,
    now: datetime,
    key: str | None = None,
) -> CampaignOutcome:
    """Staff: the campaign failed review. Its money returns at once as credit (a refund to
    the card comes with refunds)."""
    access.require_staff(actor)
    found = await repo.campaign(session, campaign_id)
    if found is None:
        raise not_found("campaign", CAMPAIGN_FIELD)
    clean = _reason(reason)

    async def run() -> CampaignOutcome:
        outcome = await end_early(session, found, Action.REJECT, now, actor.user_id)
        campaign = await _lock(session, campaign_id)
        campaign.rejection_reason = clean
        await repo.save(session, campaign)
        return outcome

    request = {"campaign": campaign_id, "reason": clean}
    outcome = await run_idempotent(
        session, actor, key, "rejectCampaign", request, CampaignOutcome, run
    )
    await _declare_void(session, outcome)
    return outcome


async def _declare_void(session: AsyncSession, outcome: CampaignOutcome) -> None:
    """The shortfall invoice the campaign no longer needs is voided at the provider after
    the commit (a failure is retried). Not in `end_early`: the jobs that expire campaigns
    void theirs with the sweep (`void_superseded_shortfalls`), as before."""
    if outcome.shortfall_invoice_id is not None:
        await outbox.declare(session, effect_kinds.void_shortfall(outcome.shortfall_invoice_id))


_EARLY_END = {
    Action.CANCEL: "canceled",
    Action.REJECT: "rejected",
    Action.EXPIRE: "ended before it was funded",
}


async def end_early(
    session: AsyncSession,
    found: Campaign,
    action: Action,
    now: datetime,
    actor_user_id: int | None,
) -> CampaignOutcome:
    """Cancel, reject or expire: every unspent cent (reserve and hold) returns at once as
    CANCELLATION_CREDIT; the campaign is settled, so no sweep and no late spend follow.
    A shortfall invoice left open is voided after the commit (`shortfall_invoice_id`)."""
    locked = await lock_waiting(session, found.wallet_id, also=[found.id])
    campaign = _still_there(locked, found.id)
    was = CampaignStatus(campaign.status)
    if installments.to_billing(campaign, action):
        await plan_adjustments.open_cancellation_request(session, campaign, actor_user_id, now)
        return CampaignOutcome(campaign.id, campaign.wallet_id)
    if installments.paid_by_card(campaign):
        return await _end_card_plan(session, campaign, action, now, locked)
    set_status(session, campaign, transition(was, action, flight_of(campaign), now), now)
    money = await campaign_money(session, campaign.id)
    await return_to_wallet(
        session,
        campaign,
        Return(
            money.reserve,
            money.hold,
            TransactionKind.CANCELLATION_CREDIT,
            f"Campaign {campaign.name} {_EARLY_END[action]}",
            f"campaign:{campaign.id}:release",
            actor_user_id,
        ),
        now,
    )
    campaign.settled_at = now
    await repo.save(session, campaign)
    await fund_waiting(session, campaign.wallet_id, locked, now)
    pending = campaign.shortfall_invoice_id if was is CampaignStatus.PENDING_FUNDS else None
    return CampaignOutcome(campaign.id, campaign.wallet_id, pending, credited=money.total)


async def _end_card_plan(
    session: AsyncSession, campaign: Campaign, action: Action, now: datetime, locked: Locked
) -> CampaignOutcome:
    """Its invoices bill what was delivered, the unspent part of what was paid returns
    as credit."""
    was = CampaignStatus(campaign.status)
    set_status(session, campaign, transition(was, action, flight_of(campaign), now), now)
    credited = await installments.end_plan(
        session, campaign, TransactionKind.CANCELLATION_CREDIT, _EARLY_END[action], now
    )
    campaign.settled_at = now
    await repo.save(session, campaign)
    await fund_waiting(session, campaign.wallet_id, locked, now)
    return CampaignOutcome(campaign.id, campaign.wallet_id, credited=credited)


# -- shared checks ----------------------------------------------------------------------


async def campaign_for(
    session: AsyncSession,
    actor: Actor,
    campaign_id: int,
    permission: Permission = Permission.RUN_CAMPAIGNS,
) -> Campaign:
    """The campaign, when the caller may run it (NOT_FOUND for other customers')."""
    campaign = await repo.campaign(session, campaign_id)
    if campaign is None:
        raise not_found("campaign", CAMPAIGN_FIELD)
    await access.require(
        session,
        actor,
        campaign.business_center_id,
        permission,
        field=CAMPAIGN_FIELD,
        what="campaign",
    )
    return campaign


async def _lock(session: AsyncSession, campaign_id: int) -> Campaign:
    campaign = await repo.lock_campaign(session, campaign_id)
    if campaign is None:
        raise not_found("campaign", CAMPAIGN_FIELD)
    return campaign


def _still_there(locked: Locked, campaign_id: int) -> Campaign:
    if campaign_id not in locked:
        raise not_found("campaign", CAMPAIGN_FIELD)
    return locked[campaign_id]


async def _campaign_access(
    session: AsyncSession,
    actor: Actor,
    campaign_id: int,
    permission: Permission = Permission.RUN_CAMPAIGNS,
) -> repo.CampaignAccess:
    """`campaign_for` in one statement, for writers that lock the campaign afterwards:
    what they check first, not the row (NOT_FOUND for other customers')."""
    found = await repo.campaign_access(session, actor.user_id, campaign_id)
    if found is None:
        raise not_found("campaign", CAMPAIGN_FIELD)
    role = Role(found.role) if found.role else None
    access.check(actor, role, permission, field=CAMPAIGN_FIELD, what="campaign")
    return found


def _require_subscribed(status: str | None) -> None:
    if status is None or not SubscriptionStatus(status).allows_top_ups:
        raise SubscriptionRequired(message="launching a campaign needs an active plan subscription")


def _payment_plan(billing_option: str, mode: str, given: PaymentPlan | None) -> PaymentPlan:
    """Any account may pay by card or on the center's credit line. Otherwise, under
    automatic allocation every campaign draws on the business center as it spends, and a
    PREPAID account's campaigns are paid from its balance at launch."""
    field = ("input", "paymentPlan")
    if given is not None and given in installments.BILLED_PLANS:
        return given
    if mode == AllocationMode.AUTOMATIC:
        plan = given or PaymentPlan.BUSINESS_CENTER_BALANCE
        if plan is not PaymentPlan.BUSINESS_CENTER_BALANCE:
            raise InvalidInput(
                "under automatic allocation campaigns draw on the business center balance "
                "(paymentPlan BUSINESS_CENTER_BALANCE)",
                field,
            )
        return plan
    if billing_option != BillingOption.PREPAID:
        raise InvalidInput(
            "campaigns of MONTHLY_INVOICING accounts draw on the business center balance, "
            "which needs automatic allocation; enable it first",
            field,
        )
    plan = given or PaymentPlan.CREDIT_BALANCE
    if plan is not PaymentPlan.CREDIT_BALANCE:
        raise InvalidInput(f"paymentPlan {plan.value} is not offered for this account", field)
    return plan


def _budget(currency: str, given: MoneyIn, field: tuple[str, ...]) -> Money:
    if given.currency.value != currency:
        raise CurrencyMismatch(
            message=f"the campaign's account settles in {currency}",
            expected=currency,
            field=(*field, "currencyCode"),
        )
    return parse_positive_amount(given.amount, Currency(currency), (*field, "amount"))


def _reason(raw: str | None) -> str:
    reason = " ".join((raw or "").split())
    if not 1 <= len(reason) <= MAX_REASON_LENGTH:
        raise InvalidInput(
            f"a rejection needs a reason of 1 to {MAX_REASON_LENGTH} characters",
            ("input", "reason"),
        )
    return reason
