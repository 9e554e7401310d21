"""A hypothesis state machine over one ad account's campaigns (DESIGN §6): launch, spend,
budget changes, pause / resume / cancel / reject, the end-of-flight jobs, and money arriving
as top-ups, shortfall payments, vouchers and credits. After every step: each campaign holds
what it took less what it spent, credited and forfeited; what the test paid in is all in the
wallet, the campaigns, or spent; and every `verify-ledger` invariant holds.

Hypothesis drives its machine synchronously, so it runs in a thread of its own with its own
event loop, app and engine; each example starts from empty tables."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx
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
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adledger import clock
from adledger.app.asgi import create_app
from adledger.app.settings import Settings
from adledger.jobs.campaigns import complete_campaigns_job, credit_sweep_job, start_campaigns_job
from adledger.payments.sandbox import SandboxProvider
from adledger.schema.ids import db_id_of, to_global_id
from adledger.services.config import BillingConfig
from adledger.services.verify import verify_ledger
from adledger.store.db import make_engine, make_sessionmaker, transaction_runner
from tests import stack
from tests.api.campaign_fixtures import Shop, move_flight, open_shop
from tests.api.conftest import Webhooks
from tests.helpers import (
    Api,
    User,
    UserFactory,
    campaign_action,
    create_campaign,
    launch,
    record_spend,
    spend_event,
    top_up,
    update_budget,
)

GRANT = """
mutation($input: GrantVouchersInput!) {
  grantVouchers(input: $input) { __typename ... on UserError { code message } }
}"""

LIVE = {"SCHEDULED", "ACTIVE", "PAUSED"}


def cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


def usd(amount_in_cents: int) -> str:
    return f"{Decimal(amount_in_cents) / 100:.2f}"


@dataclass
class World:
    """The app, its database and the sandbox provider, shared by every example."""

    database_url: str
    redis_url: str
    runner: asyncio.Runner = field(default_factory=asyncio.Runner)
    exits: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def open(self) -> None:
        self.engine: AsyncEngine = make_engine(self.database_url, pool_size=5)
        self.sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine)
        app = create_app(Settings(database_url=self.database_url, redis_url=self.redis_url))
        await self.exits.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        client = httpx.AsyncClient(transport=transport, base_url="http://test")
        self.api = Api(await self.exits.enter_async_context(client))
        redis = Redis.from_url(self.redis_url)
        self.exits.push_async_callback(redis.aclose)
        self.sandbox = SandboxProvider(redis)
        self.webhooks = Webhooks(self.api, self.sandbox)
        self.jobs = {
            "transact": transaction_runner(self.sessions),
            "provider": self.sandbox,
            "billing": BillingConfig(),
        }

    async def close(self) -> None:
        await self.exits.aclose()
        await self.engine.dispose()

    async def fresh_shop(self) -> tuple[Shop, User, UserFactory]:
        await stack.empty_everything(self.engine, self.redis_url)
        users = UserFactory(self.sessions)
        return await open_shop(self.api, users), await users.create("staff", staff=True), users


class CampaignMoney(RuleBasedStateMachine):
    world: ClassVar[World]

    def __init__(self) -> None:
        super().__init__()
        self.shop, self.staff, self.users = self.run(self.world.fresh_shop())
        self.paid_in = 0
        self.campaigns: list[str] = []
        self.applied: dict[str, int] = {}
        self.events: dict[str, tuple[str, int]] = {}
        self.shortfalls: dict[str, int] = {}

    def run(self, work: Any) -> Any:
        return self.world.runner.run(work)

    @property
    def api(self) -> Api:
        return self.world.api

    @initialize(
        cash=st.integers(0, 200_000),
        budgets=st.lists(st.integers(5000, 80_000), min_size=1, max_size=3),
    )
    def opened(self, cash: int, budgets: list[int]) -> None:
        if cash:
            self.credit_posted(cash)
        for budget in budgets:
            self.launched(budget, starts_later=False)

    # Money arriving ------------------------------------------------------------------

    @rule(amount=st.integers(1000, 120_000))
    def top_up_paid(self, amount: int) -> None:
        result = self.run(top_up(self.api, self.wallet, self.shop.token, amount=usd(amount)))
        assert result["__typename"] == "TopUpWalletSuccess", result
        reference = result["topUp"]["invoice"]["paymentReference"]
        response = self.run(self.world.webhooks.pay(reference))
        assert response.status_code == 200, response.text
        self.paid_in += amount

    @rule(amount=st.integers(1, 50_000))
    def vouchers_granted(self, amount: int) -> None:
        variables = {
            "input": {"walletId": self.wallet, "reason": "goodwill", "amount": _money(amount)}
        }
        result = self.run(self.api.data(GRANT, variables, self.staff.token))["grantVouchers"]
        assert result["__typename"] == "GrantVouchersSuccess", result
        self.paid_in += amount

    @rule(amount=st.integers(1, 50_000))
    def credit_posted(self, amount: int) -> None:
        self.run(self.users.fund(self.wallet, usd(amount)))
        self.paid_in += amount

    @precondition(lambda self: self.shortfalls)
    @rule(data=st.data())
    def shortfall_paid(self, data: st.DataObject) -> None:
        reference = data.draw(st.sampled_from(sorted(self.shortfalls)))
        amount = self.shortfalls.pop(reference)
        if self.run(self._invoice_status(reference)) != "OPEN":
            return
        response = self.run(self.world.webhooks.pay(reference))
        assert response.status_code == 200, response.text
        self.paid_in += amount

    # The advertiser -------------------------------------------------------------------

    @rule(budget=st.integers(5000, 80_000), starts_later=st.booleans())
    def launched(self, budget: int, starts_later: bool) -> None:
        account, token = self.shop.account, self.shop.token
        starts_in = 2 if starts_later else -1
        created = self.run(
            create_campaign(self.api, account, token, usd(budget), starts_in_days=starts_in)
        )
        assert created["__typename"] == "CreateCampaignSuccess", created
        campaign_id = created["campaign"]["id"]
        result = self.run(launch(self.api, campaign_id, token))
        assert result["__typename"] == "LaunchCampaignSuccess", result
        self.campaigns.append(campaign_id)
        self.applied[campaign_id] = 0
        invoice = result["shortfallInvoice"]
        if invoice is not None:
            self.shortfalls[invoice["paymentReference"]] = cents(invoice["amountDue"]["amount"])

    @precondition(lambda self: self.campaigns)
    @rule(data=st.data(), budget=st.integers(1, 100_000))
    def budget_changed(self, data: st.DataObject, budget: int) -> None:
        result = self.run(update_budget(self.api, self._pick(data), self.shop.token, usd(budget)))
        assert result["__typename"] in {
            "UpdateCampaignBudgetSuccess",
            "BudgetBelowMinimumError",
            "InsufficientFundsError",
            "InvalidStateError",
        }, result

    @precondition(lambda self: self.campaigns)
    @rule(data=st.data())
    def reduced_to_minimum(self, data: st.DataObject) -> None:
        campaign = self.run(self._campaign(self._pick(data)))
        if campaign["status"] not in LIVE:
            return
        minimum = campaign["minimumBudget"]["amount"]
        result = self.run(update_budget(self.api, campaign["id"], self.shop.token, minimum))
        assert result["__typename"] == "UpdateCampaignBudgetSuccess", result

    @precondition(lambda self: self.campaigns)
    @rule(
        data=st.data(),
        action=st.sampled_from(
            ["pauseCampaign", "resumeCampaign", "cancelCampaign", "rejectCampaign"]
        ),
    )
    def acted(self, data: st.DataObject, action: str) -> None:
        staff = action == "rejectCampaign"
        token, reason = (self.staff.token, "policy") if staff else (self.shop.token, None)
        result = self.run(campaign_action(self.api, action, self._pick(data), token, reason))
        assert result["__typename"] in {"CampaignActionSuccess", "InvalidStateError"}, result

    # The ad server and the scheduler --------------------------------------------------

    @precondition(lambda self: self.campaigns)
    @rule(data=st.data(), amount=st.integers(1, 40_000), replay=st.booleans())
    def spent(self, data: st.DataObject, amount: int, replay: bool) -> None:
        if replay and self.events:
            event_id = data.draw(st.sampled_from(sorted(self.events)))
            self._spend(event_id, *self.events[event_id])
        else:
            self._spend(f"e{len(self.events)}", self._pick(data), amount)

    @precondition(lambda self: self.campaigns)
    @rule(data=st.data(), left=st.integers(-50, 150))
    def spent_to_the_edge(self, data: st.DataObject, left: int) -> None:
        """Spend that leaves a little (at most the minimum credit, or just over) or goes over."""
        self._spend_all_but(self._pick(data), left)

    @precondition(lambda self: self.campaigns)
    @rule(data=st.data(), left=st.integers(0, 150))
    def delivered_nearly_all_and_ended(self, data: st.DataObject, left: int) -> None:
        campaign_id = self._pick(data)
        self._spend_all_but(campaign_id, left)
        self._end_and_sweep(campaign_id)

    def _spend_all_but(self, campaign_id: str, left: int) -> None:
        campaign = self.run(self._campaign(campaign_id))
        amount = cents(campaign["budget"]["amount"]) - cents(campaign["spent"]["amount"]) - left
        if amount > 0:
            self._spend(f"e{len(self.events)}", campaign_id, amount)

    def _spend(self, event_id: str, campaign_id: str, amount: int) -> None:
        event = spend_event(event_id, campaign_id, usd(amount))
        result = self.run(record_spend(self.api, [event], self.shop.adserver.token))
        assert result["__typename"] == "RecordSpendSuccess", result
        if event_id in self.events:
            assert (result["accepted"], result["duplicates"]) == (0, 1), result
            return
        self.events[event_id] = (campaign_id, amount)
        refused = sum(cents(r["amount"]["amount"]) for r in result["refused"])
        self.applied[campaign_id] += amount - refused

    @precondition(lambda self: self.campaigns)
    @rule(data=st.data())
    def started(self, data: st.DataObject) -> None:
        now = clock.now()
        self.run(move_flight(self.world.sessions, self._pick(data), now, now + timedelta(days=9)))
        self.run(start_campaigns_job(self.world.jobs, now + timedelta(seconds=1)))

    @precondition(lambda self: self.campaigns)
    @rule(data=st.data())
    def ended_and_swept(self, data: st.DataObject) -> None:
        self._end_and_sweep(self._pick(data))

    def _end_and_sweep(self, campaign_id: str) -> None:
        now = clock.now()
        ends = now - timedelta(hours=13)
        self.run(move_flight(self.world.sessions, campaign_id, ends - timedelta(days=9), ends))
        self.run(complete_campaigns_job(self.world.jobs, now))
        self.run(credit_sweep_job(self.world.jobs, now))

    # After every step -----------------------------------------------------------------

    @invariant()
    def money_is_explained(self) -> None:
        self.run(self._check())

    async def _check(self) -> None:
        async with self.world.sessions() as session:
            assert await verify_ledger(session) == []
            campaigns = await _campaign_money(session)
            in_wallet = await _wallet_money(session, _db_id(self.wallet, "Wallet"))
        for row in campaigns:
            taken, spent, credited, forfeited, held, campaign_id, over = row
            assert held + spent + credited + forfeited == taken, row
            assert spent == self.applied[_gid(campaign_id)], row
            assert held == 0 or not over, f"a settled or ended campaign holds money: {row}"
        # credited money is back in the wallet; the rest of what a campaign took is in it
        kept = sum(row[1] + row[3] + row[4] for row in campaigns)
        assert in_wallet + kept == self.paid_in

    # ----------------------------------------------------------------------------------

    @property
    def wallet(self) -> str:
        return self.shop.account.wallet_id

    def _pick(self, data: st.DataObject) -> str:
        return str(data.draw(st.sampled_from(self.campaigns)))

    async def _campaign(self, campaign_id: str) -> dict[str, Any]:
        query = (
            "query($id: ID!) { campaign(id: $id) "
            "{ id status budget { amount } spent { amount } minimumBudget { amount } } }"
        )
        found = await self.api.data(query, {"id": campaign_id}, self.shop.token)
        return dict(found["campaign"])

    async def _invoice_status(self, reference: str) -> str:
        async with self.world.sessions() as session:
            status = await session.scalar(
                text("SELECT status FROM invoices WHERE payment_reference = :r"), {"r": reference}
            )
        return str(status)

    def teardown(self) -> None:
        self.run(self._check())


async def _campaign_money(session: AsyncSession) -> list[tuple[Any, ...]]:
    rows = await session.execute(
        text(
            "SELECT c.taken, c.spent, c.credited, c.forfeited, "
            "(SELECT COALESCE(SUM(a.balance), 0) FROM ledger_accounts a "
            " WHERE a.campaign_id = c.id AND a.kind IN ('reserve', 'voucher_reserve', 'hold')), "
            "c.id, c.settled_at IS NOT NULL OR c.status IN ('CANCELED', 'REJECTED') "
            "FROM campaigns c ORDER BY c.id"
        )
    )
    return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def _wallet_money(session: AsyncSession, wallet_id: int) -> int:
    total = await session.scalar(
        text(
            "SELECT COALESCE(SUM(balance), 0) FROM ledger_accounts WHERE wallet_id = :w "
            "AND campaign_id IS NULL AND kind IN ('cash', 'vouchers')"
        ),
        {"w": wallet_id},
    )
    return int(total or 0)


def _money(amount: int) -> dict[str, str]:
    return {"amount": usd(amount), "currencyCode": "USD"}


def _db_id(gid: str, kind: str) -> int:
    found = db_id_of(gid, kind)
    assert found is not None
    return found


def _gid(campaign_id: int) -> str:
    return to_global_id("Campaign", campaign_id)


def _run_machine(database_url: str, redis_url: str) -> None:
    world = World(database_url, redis_url)
    with world.runner:
        world.runner.run(world.open())
        try:
            CampaignMoney.world = world
            run_state_machine_as_test(
                CampaignMoney,
                settings=settings(
                    max_examples=40,
                    stateful_step_count=25,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
        finally:
            world.runner.run(world.close())


async def test_campaign_money_is_always_explained(db, database_url, redis_url) -> None:
    await asyncio.to_thread(_run_machine, database_url, redis_url)
