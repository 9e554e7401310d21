"""A hypothesis state machine over one GUARANTEED campaign (issue 23, DESIGN §9
"Conservation per campaign"): spend, budget changes up and down, pause / resume, cancel,
makegood offers (CREDIT, REFUND, FLIGHT) and decisions, completion and the credit sweep,
in any order. After every step the campaign's money is conserved (taken = spent + held +
credited + forfeited + made good from the reserve; billing reversed only above the
delivered value), what was paid into the account is all in the wallet, the campaigns,
revenue, the forfeited account or on its way back to the card, and `verify-ledger` is
green.

The machine drives a virtual clock: every service and job is called with an explicit
`now` that only moves forward, and each spend report occurred just before it (refused,
not asserted, when the campaign was not delivering then). The clock starts on 27
February 2031 at 21:00 UTC, so the flight crosses a month end; nothing reads today's
date. The shop is opened (and funded by a paid top-up) through the API, as a customer
would; the steps call the services in their own transaction, as the resolvers do."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.campaigns import DeliveryType, Flight, PaymentPlan
from adledger.domain.conservation import CampaignBooks
from adledger.domain.errors import DomainError
from adledger.domain.money import Currency
from adledger.domain.wallets import MoneyIn
from adledger.jobs.campaigns import complete_campaigns_job, credit_sweep_job
from adledger.schema.ids import db_id_of
from adledger.services import campaigns, makegoods, spend
from adledger.services.actor import Actor
from adledger.services.config import BillingConfig
from adledger.services.makegoods import MakegoodKind
from adledger.services.users import authenticate
from adledger.services.verify import verify_ledger
from tests.api.makegood_fixtures import grant
from tests.api.test_campaign_state_machine import World
from tests.helpers import top_up

T = TypeVar("T")
START = datetime(2031, 2, 27, 21, 0, tzinfo=UTC)
FLIGHT = timedelta(days=3)
CONFIG = BillingConfig()
WINDOW = timedelta(hours=CONFIG.settlement_window_hours)


def usd(cents: int) -> MoneyIn:
    return MoneyIn(f"{Decimal(cents) / 100:.2f}", Currency.USD)


class OneGuaranteedCampaign(RuleBasedStateMachine):
    world: ClassVar[World]

    def __init__(self) -> None:
        super().__init__()
        self.shop, self.staff_user, self.users = self.run(self.world.fresh_shop())
        self.now = START
        self.paid_in = 0
        self.event_ids = itertools.count(1)
        self.offer_id: int | None = None
        self.customer, self.staff, self.adserver = self.run(self._actors())

    def run(self, work: Awaitable[T]) -> T:
        return self.world.runner.run(work)  # type: ignore[arg-type]

    async def _actors(self) -> tuple[Actor, Actor, Actor]:
        async with self.world.sessions() as session:
            found = [
                await authenticate(session, user.token)
                for user in (self.shop.admin, self.staff_user, self.shop.adserver)
            ]
        assert all(found)
        return found[0], found[1], found[2]  # type: ignore[return-value]

    @initialize(
        budget=st.integers(5_000, 80_000),
        booked=st.integers(10_000, 400_000),
        vouchers=st.integers(0, 30_000),
        spare=st.integers(0, 50_000),
    )
    def launched(self, budget: int, booked: int, vouchers: int, spare: int) -> None:
        """Paid in by card (vouchers too, spent first), then launched at the start."""
        wallet = self.shop.account.wallet_id
        paid = budget + spare
        made = self.run(top_up(self.world.api, wallet, self.shop.token, amount=_text(paid)))
        response = self.run(self.world.webhooks.pay(made["topUp"]["invoice"]["paymentReference"]))
        assert response.status_code == 200, response.text
        if vouchers:
            self.run(grant(self.world.api, self.users, wallet, _text(vouchers)))
        self.paid_in = paid + vouchers
        launched = self.step(lambda s: self._launch(s, budget, booked))
        assert launched is not None
        self.campaign_id: int = launched

    async def _launch(self, session: AsyncSession, budget: int, booked: int) -> int:
        account = db_id_of(self.shop.account.id, "AdAccount")
        assert account is not None
        new = campaigns.NewCampaign(
            account, "Guaranteed", usd(budget), START - timedelta(hours=1), START + FLIGHT,
            DeliveryType.GUARANTEED, PaymentPlan.CREDIT_BALANCE, None, booked,
        )  # fmt: skip
        made = await campaigns.create_campaign(session, self.customer, new, CONFIG, self.now)
        await campaigns.launch_campaign(session, self.customer, made.campaign_id, CONFIG, self.now)
        return made.campaign_id

    def step(self, work: Callable[..., Awaitable[T]]) -> T | None:
        """One service call in its own transaction; a refusal (a domain error) changes
        nothing."""

        async def once() -> T | None:
            async with self.world.sessions() as session:
                try:
                    result = await work(session)
                except DomainError:
                    await session.rollback()
                    return None
                await session.commit()
                return result

        return self.run(once())

    # The clock ---------------------------------------------------------------------------

    @rule(minutes=st.integers(1, 16 * 60))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    # The ad server -----------------------------------------------------------------------

    @rule(amount=st.integers(1, 30_000), impressions=st.integers(0, 30_000))
    def delivered(self, amount: int, impressions: int) -> None:
        self._report(amount, impressions, self.now - timedelta(seconds=1))

    @rule(amount=st.integers(1, 20_000), impressions=st.integers(0, 20_000))
    def reported_late(self, amount: int, impressions: int) -> None:
        """For the last second of the flight, whenever it arrives."""
        self._report(amount, impressions, min(self.now, START + FLIGHT) - timedelta(seconds=1))

    def _report(self, amount: int, impressions: int, occurred_at: datetime) -> None:
        event = spend.SpendEventIn(
            f"e{next(self.event_ids)}", self.campaign_id, usd(amount), impressions, occurred_at
        )
        self.step(lambda s: spend.record_spend(s, self.adserver, [event], CONFIG, self.now))

    # The customer ------------------------------------------------------------------------

    @rule(budget=st.integers(1, 100_000))
    def budget_changed(self, budget: int) -> None:
        change = campaigns.BudgetChange(self.campaign_id, usd(budget))
        self.step(lambda s: campaigns.update_budget(s, self.customer, change, CONFIG, self.now))

    @rule(action=st.sampled_from(["pause", "resume", "pause", "resume", "cancel"]))
    def acted(self, action: str) -> None:
        do = getattr(campaigns, f"{action}_campaign")
        self.step(lambda s: do(s, self.customer, self.campaign_id, self.now))

    # Makegoods ---------------------------------------------------------------------------

    @precondition(lambda self: self.offer_id is None)
    @rule(kind=st.sampled_from(list(MakegoodKind)))
    def offered(self, kind: MakegoodKind) -> None:
        flight = Flight(self.now, self.now + timedelta(days=2))
        made = self.step(
            lambda s: makegoods.offer_makegood(
                s, self.staff, self.campaign_id, kind, "short", self.now, flight
            )
        )
        self.offer_id = None if made is None else made.offer_id

    @precondition(lambda self: self.offer_id is None)
    @rule(kind=st.sampled_from([MakegoodKind.CREDIT, MakegoodKind.REFUND]), accepted=st.booleans())
    def offered_and_decided(self, kind: MakegoodKind, accepted: bool) -> None:
        """The common case, in one step: a credit or refund offered, then decided."""
        self.offered(kind)
        if self.offer_id is not None:
            self.decided(accepted)

    @precondition(lambda self: self.offer_id is not None)
    @rule(accepted=st.booleans())
    def decided(self, accepted: bool) -> None:
        offer_id, decide = self.offer_id, makegoods.accept_makegood
        if not accepted:
            decide = makegoods.decline_makegood  # type: ignore[assignment]
        if self.step(lambda s: decide(s, self.customer, offer_id, self.now)) is not None:
            self.offer_id = None

    # The scheduler -----------------------------------------------------------------------

    @rule(minutes=st.integers(0, 120))
    def completed(self, minutes: int) -> None:
        self.now = max(self.now, START + FLIGHT + timedelta(minutes=minutes))
        self.run(complete_campaigns_job(self.world.jobs, self.now))

    @rule(minutes=st.integers(0, 120))
    def swept(self, minutes: int) -> None:
        self.now = max(self.now, START + FLIGHT + WINDOW + timedelta(minutes=minutes))
        self.run(complete_campaigns_job(self.world.jobs, self.now))
        self.run(credit_sweep_job(self.world.jobs, self.now))

    # After every step --------------------------------------------------------------------

    @invariant()
    def money_is_conserved(self) -> None:
        self.run(self._check())

    async def _check(self) -> None:
        async with self.world.sessions() as session:
            assert await verify_ledger(session) == []
            rows = (await session.execute(_CAMPAIGNS)).mappings().all()
            wallet = _id(self.shop.account.wallet_id, "Wallet")
            outside = (await session.execute(_OUTSIDE, {"w": wallet})).mappings().one()
        for row in rows:
            _check_campaign(row)
        held = sum(row["held"] for row in rows)
        spent = sum(row["spent"] for row in rows)
        forfeited = sum(row["forfeited"] for row in rows)
        reversed_ = sum(row["made_good_revenue"] for row in rows)
        in_wallet, refunded = outside["in_wallet"], outside["refunded"]
        assert in_wallet + held + spent + forfeited + refunded - reversed_ == self.paid_in

    def teardown(self) -> None:
        self.run(self._check())


def _check_campaign(row: Any) -> None:
    """The equation, by the counters; billing reversed only above the delivered value;
    nothing held once settled; makegoods paid what their accepted offers say."""
    taken, spent, held = row["taken"], row["spent"], row["held"]
    given_back = row["credited"] + row["made_good_reserve"]
    assert taken == spent + held + given_back + row["forfeited"], dict(row)
    books = CampaignBooks(
        row["price"], row["budget"], spent, row["impressions"], row["booked_impressions"],
        row["made_good_reserve"], row["made_good_revenue"],
    )  # fmt: skip
    assert row["made_good_revenue"] <= books.overbilled, dict(row)
    assert row["made_good_reserve"] + row["made_good_revenue"] == row["offers_paid"], dict(row)
    assert held == 0 or not row["over"], dict(row)


_CAMPAIGNS = text(
    "SELECT c.*, (SELECT COALESCE(SUM(a.balance), 0) FROM ledger_accounts a "
    "WHERE a.campaign_id = c.id) AS held, "
    "(SELECT COALESCE(SUM(o.amount), 0) FROM makegood_offers o WHERE o.campaign_id = c.id "
    "AND o.status = 'ACCEPTED' AND o.kind <> 'FLIGHT') AS offers_paid, "
    "c.settled_at IS NOT NULL OR c.status IN ('CANCELED', 'REJECTED') AS over "
    "FROM campaigns c ORDER BY c.id"
)
# What the account's wallet holds, and what left it for the card (makegood refunds).
_OUTSIDE = text(
    "SELECT (SELECT COALESCE(SUM(balance), 0) FROM ledger_accounts WHERE wallet_id = :w "
    "AND campaign_id IS NULL AND kind IN ('cash', 'vouchers')) AS in_wallet, "
    "(SELECT COALESCE(SUM(amount), 0) FROM refund_requests WHERE wallet_id = :w) AS refunded"
)


def _text(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def _id(gid: str, kind: str) -> int:
    found = db_id_of(gid, kind)
    assert found is not None
    return found


def _run_machine(database_url: str, redis_url: str) -> None:
    world = World(database_url, redis_url)
    with world.runner:
        world.runner.run(world.open())
        try:
            OneGuaranteedCampaign.world = world
            run_state_machine_as_test(
                OneGuaranteedCampaign,
                settings=settings(
                    max_examples=25,
                    stateful_step_count=25,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
        finally:
            world.runner.run(world.close())


async def test_a_guaranteed_campaigns_money_is_conserved_whatever_the_order(
    db, database_url, redis_url
) -> None:
    await asyncio.to_thread(_run_machine, database_url, redis_url)
