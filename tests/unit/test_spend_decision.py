"""The spend decision (domain/spend.py): what of each event is applied, from which
buckets, why the rest is refused and which campaigns stop, without touching its inputs."""

from __future__ import annotations

import copy
from collections import defaultdict

from hypothesis import given
from hypothesis import strategies as st

from adledger.domain.allocation import Drawn
from adledger.domain.budgets import StopReason
from adledger.domain.campaigns import CampaignStatus, PaymentPlan, Reserve, SpendRefusal
from adledger.domain.spend import (
    CampaignState,
    PoolState,
    SpendAsk,
    SpendStates,
    decide,
)
from adledger.domain.stops import draws_as_it_spends, draws_on_center

ACTIVE = CampaignStatus.ACTIVE.value
CENTER = 1
ACCOUNT = 10


def reserve_campaign() -> CampaignState:
    """Budget 10.00, its reserve 6.00 cash and 4.00 of vouchers."""
    return CampaignState(
        1, ACCOUNT, CENTER, PaymentPlan.CREDIT_BALANCE.value, ACTIVE, 1000, 0, Reserve(600, 400)
    )


def drawn_campaign(plan: PaymentPlan = PaymentPlan.BUSINESS_CENTER_BALANCE) -> CampaignState:
    return CampaignState(2, ACCOUNT, CENTER, plan.value, ACTIVE, 10_000, 0)


def states(
    *campaigns: CampaignState, room: int | None = None, pool: PoolState | None = None
) -> SpendStates:
    pools = {} if pool is None else {CENTER: pool}
    return SpendStates({c.id: c for c in campaigns}, {ACCOUNT: room}, pools)


def test_a_reserve_campaign_spends_its_vouchers_first_and_refuses_beyond_its_reserve() -> None:
    # Given a campaign whose reserve holds 6.00 cash and 4.00 of vouchers
    given = states(reserve_campaign())

    # When the ad server reports 3.00 and then 8.00
    decision = decide([SpendAsk("a", 1, 300, 5), SpendAsk("b", 1, 800, 7)], given)

    # Then the first is applied, the second takes what is left and is cut, and the vouchers
    # are spent first
    first, second = decision.events
    assert (first.applied, first.refused, first.reason) == (300, 0, None)
    assert (second.applied, second.refused) == (700, 100)
    assert second.reason is SpendRefusal.OVER_BUDGET
    (spend,) = decision.campaigns
    assert (spend.total, spend.reserve) == (1000, Reserve(600, 400))
    assert decision.stops == ((1, StopReason.CAMPAIGN_BUDGET_REACHED),)


def test_the_account_cap_cuts_an_event_short_and_stops_its_campaigns() -> None:
    # Given an account whose cap leaves 2.50, another campaign of it delivering too
    other = CampaignState(
        9, ACCOUNT, CENTER, PaymentPlan.CREDIT_BALANCE.value, ACTIVE, 1000, 0, Reserve(0, 0)
    )
    given = states(reserve_campaign(), other, room=250)

    # When 4.00 is reported
    decision = decide([SpendAsk("a", 1, 400, 1)], given)

    # Then 2.50 is applied, the rest refused for the cap, and both campaigns stop
    (event,) = decision.events
    assert (event.applied, event.refused) == (250, 150)
    assert event.reason is SpendRefusal.ACCOUNT_BUDGET_REACHED
    assert decision.stops == (
        (1, StopReason.ACCOUNT_BUDGET_REACHED),
        (9, StopReason.ACCOUNT_BUDGET_REACHED),
    )
    assert decision.account_room == {ACCOUNT: 0}


def test_a_drawn_campaign_takes_account_cash_vouchers_center_cash_then_credit() -> None:
    # Given an account holding 1.00 cash and 2.00 vouchers, its center 3.00 and a line of 4.00
    pool = PoolState(300, 400, {ACCOUNT: (100, 200)})

    # When 9.00 is reported, then 2.00
    decision = decide(
        [SpendAsk("a", 2, 900, 1), SpendAsk("b", 2, 200, 1)], states(drawn_campaign(), pool=pool)
    )

    # Then the buckets empty in order, the rest is refused for the money, the center is empty
    first, second = decision.events
    assert (first.applied, second.applied) == (900, 100)
    assert second.reason is SpendRefusal.INSUFFICIENT_FUNDS
    assert decision.campaigns[0].drawn == Drawn(100, 200, 300, 400)
    assert decision.empty_centers == {CENTER}
    assert decision.own_left == {ACCOUNT: 0}


def test_a_credit_line_campaign_draws_on_the_line_only() -> None:
    pool = PoolState(5000, 300, {})
    decision = decide(
        [SpendAsk("a", 2, 500, 1)], states(drawn_campaign(PaymentPlan.CREDIT_LINE), pool=pool)
    )
    (event,) = decision.events
    assert (event.applied, decision.campaigns[0].drawn) == (300, Drawn(center_credit=300))


def test_an_event_refused_for_its_time_takes_nothing_and_a_flight_report_counts() -> None:
    # Given an event out of delivering time and a makegood flight's report of 0
    late = SpendAsk("a", 1, 200, 3, SpendRefusal.SETTLEMENT_WINDOW_CLOSED)
    flight_report = SpendAsk("b", 1, 0, 9)

    # When both are decided
    first, second = decide([late, flight_report], states(reserve_campaign())).events

    # Then the first is refused whole for its time, the second counts its impressions
    assert (first.applied, first.refused, first.reason, first.counted) == (
        0,
        200,
        SpendRefusal.SETTLEMENT_WINDOW_CLOSED,
        False,
    )
    assert (second.applied, second.reason, second.counted) == (0, None, True)


# -- properties ----------------------------------------------------------------------

PLANS = [p.value for p in PaymentPlan]
STATUSES = [CampaignStatus.ACTIVE.value, CampaignStatus.SCHEDULED.value]
money = st.integers(0, 1000)


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[SpendAsk], SpendStates]:
    accounts = {a: draw(st.sampled_from([1, 2])) for a in range(10, 10 + draw(st.integers(1, 3)))}
    campaigns = {}
    for campaign_id in range(100, 100 + draw(st.integers(1, 5))):
        account = draw(st.sampled_from(sorted(accounts)))
        plan, budget = draw(st.sampled_from(PLANS)), draw(money)
        reserve = None if draws_as_it_spends(plan) else Reserve(draw(money), draw(money))
        campaigns[campaign_id] = CampaignState(
            campaign_id,
            account,
            accounts[account],
            plan,
            draw(st.sampled_from(STATUSES)),
            budget,
            draw(st.integers(0, budget)),
            reserve,
        )
    own = {c.ad_account_id for c in campaigns.values() if draws_on_center(c.payment_plan)}
    pools = {
        center: PoolState(
            draw(money),
            draw(money),
            {a: (draw(money), draw(money)) for a in own if accounts[a] == center},
        )
        for center in set(accounts.values())
    }
    room = {a: draw(st.none() | st.integers(0, 2000)) for a in accounts}
    asks = [
        SpendAsk(
            f"e{n}",
            draw(st.sampled_from(sorted(campaigns))),
            draw(st.integers(0, 400)),
            draw(st.integers(0, 10)),
            draw(st.none() | st.sampled_from(list(SpendRefusal))),
        )
        for n in range(draw(st.integers(0, 25)))
    ]
    return asks, SpendStates(campaigns, room, pools)


@given(batches())
def test_every_event_is_applied_or_refused_and_its_draws_make_what_is_applied(
    given: tuple[list[SpendAsk], SpendStates],
) -> None:
    asks, states = given
    decision = decide(asks, states)
    assert sorted(d.event_id for d in decision.events) == sorted(a.event_id for a in asks)
    amounts = {a.event_id: a for a in asks}
    applied: dict[int, int] = defaultdict(int)
    for event in decision.events:
        ask = amounts[event.event_id]
        assert event.applied >= 0 and event.refused >= 0
        assert event.applied + event.refused == ask.amount
        assert ask.refusal is None or (event.applied == 0 and event.reason is ask.refusal)
        assert (event.refused > 0) <= (event.reason is not None)
        applied[event.campaign_id] += event.applied
    assert {c.campaign_id for c in decision.campaigns} == {a.campaign_id for a in asks}
    for spend in decision.campaigns:
        assert spend.total == applied[spend.campaign_id]
        assert spend.reserve.total + spend.drawn.total == spend.total


@given(batches())
def test_no_bucket_goes_below_zero_and_no_limit_is_passed(
    given: tuple[list[SpendAsk], SpendStates],
) -> None:
    asks, states = given
    decision = decide(asks, states)
    applied: dict[int, int] = defaultdict(int)
    reserve: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    drawn: dict[int, Drawn] = defaultdict(Drawn)
    own: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for spend in decision.campaigns:
        campaign = states.campaigns[spend.campaign_id]
        applied[campaign.id] += spend.total
        reserve[campaign.id][0] += spend.reserve.cash
        reserve[campaign.id][1] += spend.reserve.vouchers
        drawn[campaign.business_center_id].add(spend.drawn)
        own[campaign.ad_account_id][0] += spend.drawn.account_cash
        own[campaign.ad_account_id][1] += spend.drawn.account_vouchers
    for campaign_id, (cash, vouchers) in reserve.items():
        held = states.campaigns[campaign_id].reserve or Reserve(0, 0)
        assert cash <= held.cash and vouchers <= held.vouchers
    for center, taken in drawn.items():
        pool = states.pools[center]
        assert taken.center_cash <= pool.cash and taken.center_credit <= pool.credit
    for account, (cash, vouchers) in own.items():
        balances = [p.accounts[account] for p in states.pools.values() if account in p.accounts]
        assert (cash, vouchers) == (0, 0) or (cash <= balances[0][0] and vouchers <= balances[0][1])
    for campaign_id, total in applied.items():
        campaign = states.campaigns[campaign_id]
        room = states.account_room[campaign.ad_account_id]
        assert room is None or total <= max(room, 0)
        if draws_as_it_spends(campaign.payment_plan):
            assert total <= max(campaign.budget - campaign.spent, 0)


@given(batches())
def test_the_decision_changes_nothing_it_is_given(
    given: tuple[list[SpendAsk], SpendStates],
) -> None:
    asks, states = given
    before = copy.deepcopy((asks, states))
    decide(asks, states)
    assert (asks, states) == before


@given(batches())
def test_only_delivering_campaigns_stop_each_once(
    given: tuple[list[SpendAsk], SpendStates],
) -> None:
    asks, states = given
    stopped = [campaign_id for campaign_id, _ in decide(asks, states).stops]
    assert len(stopped) == len(set(stopped))
    assert all(states.campaigns[c].status == ACTIVE for c in stopped)
