"""Ad account budget caps (DESIGN §7, both allocation modes): setting them, the daily
limit on changes, spend stopped at the cap and restarted by the period rolling over or a
raised cap, and the bad input each setting refuses with no change."""

from __future__ import annotations

from datetime import datetime, timedelta

from adledger import clock
from adledger.jobs.budgets import roll_budget_periods_job
from tests.api.allocation_fixtures import (
    account_state,
    campaign_state,
    live_campaigns,
    open_center,
    set_budget,
    unlimited,
)
from tests.api.campaign_fixtures import open_shop
from tests.helpers import add_member, launch, new_campaign, record_spend, spend_event

HISTORY = """
query($id: ID!) {
  adAccount(id: $id) {
    budgetChanges(first: 3) {
      edges { node { actorEmail byBudgetSync before { mode amount { amount } } after { mode amount { amount } } } }
      pageInfo { hasNextPage }
    }
  }
}"""


async def test_a_cap_reached_stops_the_accounts_campaigns_and_the_next_period_restarts_them(
    api, users, jobs
) -> None:
    # given an account capped at 30.00 a day with two live campaigns
    shop = await open_center(api, users, ["500.00"])
    capped = await set_budget(api, shop.accounts[0].id, shop.token, "DAILY", "30.00")
    assert capped["__typename"] == "SetAdAccountBudgetSuccess", capped
    await live_campaigns(api, shop)
    other = await new_campaign(api, shop.accounts[0], shop.token, "1000.00")
    await launch(api, other, shop.token)
    first = shop.campaigns[0]

    # when spend reaches the cap
    result = await record_spend(
        api, [spend_event("c1", first, "20.00"), spend_event("c2", first, "15.00")], shop.adserver.token
    )  # fmt: skip

    # then the rest is refused and both campaigns of the account stop
    assert result["refused"] == [{"eventId": "c2", "amount": {"amount": "5.00", "currencyCode": "USD"}, "reason": "ACCOUNT_BUDGET_REACHED"}]  # fmt: skip
    assert sorted(c["id"] for c in result["stoppedCampaigns"]) == sorted([first, other])
    state = await campaign_state(api, other, shop.token)
    assert (state["status"], state["stopReason"]) == ("BUDGET_EXHAUSTED", "account budget reached")
    budget = (await account_state(api, shop.accounts[0].id, shop.token))["budget"]
    assert (budget["spentInPeriod"], budget["remaining"]) == (
        {"amount": "30.00"},
        {"amount": "0.00"},
    )

    # when the day rolls over, the job restarts them
    tomorrow = clock.now() + timedelta(days=1)
    report = await roll_budget_periods_job(jobs, tomorrow)
    assert report.steps.get("restarted") == 2
    for campaign_id in (first, other):
        assert (await campaign_state(api, campaign_id, shop.token))["status"] == "ACTIVE"
    again = await roll_budget_periods_job(jobs, tomorrow)
    assert again.steps.get("restarted") is None


async def test_raising_the_cap_restarts_the_campaigns_it_stopped(api, users) -> None:
    shop = await open_center(api, users, ["500.00"])
    await set_budget(api, shop.accounts[0].id, shop.token, "MONTHLY", "10.00")
    campaign_id = (await live_campaigns(api, shop))[0]
    await record_spend(api, [spend_event("m1", campaign_id, "12.00")], shop.adserver.token)

    raised = await set_budget(api, shop.accounts[0].id, shop.token, "MONTHLY", "50.00")

    assert raised["restartedCampaigns"] == [{"id": campaign_id, "status": "ACTIVE"}]
    assert raised["adAccount"]["budget"]["remaining"] == {"amount": "40.00"}
    more = await record_spend(api, [spend_event("m2", campaign_id, "40.00")], shop.adserver.token)
    assert (more["accepted"], more["refused"]) == (1, [])


async def test_a_cap_equal_to_the_periods_spend_stops_delivery(api, users) -> None:
    shop = await open_center(api, users, ["500.00"])
    await unlimited(api, shop)
    campaign_id = (await live_campaigns(api, shop))[0]
    await record_spend(api, [spend_event("e1", campaign_id, "25.00")], shop.adserver.token)

    result = await set_budget(api, shop.accounts[0].id, shop.token, "MONTHLY", "25.00")

    assert result["stoppedCampaigns"] == [{"id": campaign_id, "status": "BUDGET_EXHAUSTED", "stopReason": "account budget reached"}]  # fmt: skip


async def test_a_cap_below_what_the_period_spent_is_refused(api, users) -> None:
    shop = await open_center(api, users, ["500.00"])
    await unlimited(api, shop)
    campaign_id = (await live_campaigns(api, shop))[0]
    await record_spend(api, [spend_event("s1", campaign_id, "42.50")], shop.adserver.token)

    result = await set_budget(api, shop.accounts[0].id, shop.token, "MONTHLY", "42.49")

    assert result["__typename"] == "BudgetBelowMinimumError"
    assert result["minimum"] == {"amount": "42.50"}
    assert (await account_state(api, shop.accounts[0].id, shop.token))["budget"][
        "mode"
    ] == "UNLIMITED"


async def test_the_eleventh_change_of_a_day_is_refused(api, users) -> None:
    shop = await open_center(api, users, ["0.00"], enable=False)
    account_id = shop.accounts[0].id
    remaining = []
    for n in range(10):
        result = await set_budget(api, account_id, shop.token, "DAILY", f"{100 + n}.00")
        assert result["__typename"] == "SetAdAccountBudgetSuccess", result
        remaining.append(result["adAccount"]["budgetChangesRemainingToday"])

    eleventh = await set_budget(api, account_id, shop.token, "DAILY", "500.00")
    unchanged = await set_budget(api, account_id, shop.token, "DAILY", "109.00")

    assert remaining == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    assert eleventh["__typename"] == "BudgetChangeLimitReachedError"
    assert (eleventh["code"], eleventh["limitPerDay"]) == ("BUDGET_CHANGE_LIMIT_REACHED", 10)
    assert unchanged["__typename"] == "SetAdAccountBudgetSuccess"  # the cap it has: no change
    assert (await account_state(api, account_id, shop.token))["budget"]["amount"] == {"amount": "109.00"}  # fmt: skip


async def test_budget_changes_are_listed_newest_first_with_who_made_them(api, users) -> None:
    shop = await open_center(api, users, ["80.00"], enable=False)
    manager = await users.create("manager")
    await add_member(api, shop.center, manager, "FINANCE_MANAGER")
    await set_budget(api, shop.accounts[0].id, shop.token, "DAILY", "10.00")
    await set_budget(api, shop.accounts[0].id, manager.token, "UNLIMITED")
    from tests.api.allocation_fixtures import enable_allocation

    await enable_allocation(api, shop.center.id, shop.token)

    data = await api.data(HISTORY, {"id": shop.accounts[0].id}, shop.token)

    edges = [e["node"] for e in data["adAccount"]["budgetChanges"]["edges"]]
    assert edges == [
        {"actorEmail": shop.admin.email, "byBudgetSync": True, "before": {"mode": "UNLIMITED", "amount": None}, "after": {"mode": "MONTHLY", "amount": {"amount": "80.00"}}},
        {"actorEmail": manager.email, "byBudgetSync": False, "before": {"mode": "DAILY", "amount": {"amount": "10.00"}}, "after": {"mode": "UNLIMITED", "amount": None}},
        {"actorEmail": shop.admin.email, "byBudgetSync": False, "before": {"mode": "UNLIMITED", "amount": None}, "after": {"mode": "DAILY", "amount": {"amount": "10.00"}}},
    ]  # fmt: skip
    assert data["adAccount"]["budgetChanges"]["pageInfo"]["hasNextPage"] is False
    remaining = await account_state(api, shop.accounts[0].id, shop.token)
    assert remaining["budgetChangesRemainingToday"] == 8


async def test_a_custom_budget_caps_spend_within_its_dates_only(api, users) -> None:
    shop = await open_center(api, users, ["500.00"])
    campaign_id = (await live_campaigns(api, shop))[0]
    now = clock.now()
    later = {"periodStart": (now + timedelta(days=2)).isoformat(), "periodEnd": (now + timedelta(days=9)).isoformat()}  # fmt: skip

    result = await set_budget(api, shop.accounts[0].id, shop.token, "CUSTOM", "70.00", **later)
    # (reported for a moment before the cap stopped the campaign: after it, it did not deliver)
    late = spend_event("k1", campaign_id, "1.00", occurred_at=now.isoformat())
    spent = await record_spend(api, [late], shop.adserver.token)

    # not started yet: nothing may be spent, and the account's campaigns wait for it
    assert result["stoppedCampaigns"][0]["stopReason"] == "account budget reached"
    assert spent["refused"][0]["reason"] == "ACCOUNT_BUDGET_REACHED"
    state = await account_state(api, shop.accounts[0].id, shop.token)
    assert (
        state["budget"]["periodStart"] == datetime.fromisoformat(later["periodStart"]).isoformat()
    )
    assert state["budget"]["remaining"] == {"amount": "0.00"}


async def test_caps_apply_to_prepaid_accounts_too(api, users) -> None:
    shop = await open_shop(api, users, cash="500.00")
    capped = await set_budget(api, shop.account.id, shop.token, "MONTHLY", "40.00")
    assert capped["__typename"] == "SetAdAccountBudgetSuccess", capped
    campaign_id = await new_campaign(api, shop.account, shop.token, "300.00")
    await launch(api, campaign_id, shop.token)

    result = await record_spend(api, [spend_event("p1", campaign_id, "55.00")], shop.adserver.token)

    assert result["refused"][0] == {"eventId": "p1", "amount": {"amount": "15.00", "currencyCode": "USD"}, "reason": "ACCOUNT_BUDGET_REACHED"}  # fmt: skip
    state = await campaign_state(api, campaign_id, shop.token)
    assert (state["status"], state["spent"]) == ("BUDGET_EXHAUSTED", {"amount": "40.00"})
    raised = await set_budget(api, shop.account.id, shop.token, "MONTHLY", "100.00")
    assert raised["restartedCampaigns"] == [{"id": campaign_id, "status": "ACTIVE"}]


async def test_bad_budget_input_is_a_typed_error_and_changes_nothing(api, users) -> None:
    shop = await open_center(api, users, ["0.00"], enable=False)
    account_id = shop.accounts[0].id
    now = clock.now()
    day = lambda n: (now + timedelta(days=n)).isoformat()  # noqa: E731
    cases = [
        ({"mode": "CUSTOM", "amount": "10.00", "periodStart": day(5), "periodEnd": day(2)}, "INVALID_INPUT", ["input", "periodEnd"]),
        ({"mode": "DAILY", "amount": "10.00", "periodStart": day(1), "periodEnd": day(2)}, "INVALID_INPUT", ["input", "periodStart"]),
        ({"mode": "CUSTOM", "amount": "10.00"}, "INVALID_INPUT", ["input", "periodStart"]),
        ({"mode": "MONTHLY", "amount": "-1.00"}, "INVALID_INPUT", ["input", "amount", "amount"]),
        ({"mode": "MONTHLY", "amount": "1.001"}, "INVALID_INPUT", ["input", "amount", "amount"]),
        ({"mode": "MONTHLY"}, "INVALID_INPUT", ["input", "amount"]),
        ({"mode": "UNLIMITED", "amount": "5.00"}, "INVALID_INPUT", ["input", "amount"]),
        ({"mode": "CUSTOM", "amount": "10.00", "periodStart": day(-30), "periodEnd": day(-1)}, "INVALID_INPUT", ["input", "periodEnd"]),
        ({"mode": "CUSTOM", "amount": "10.00", "periodStart": day(0), "periodEnd": day(400)}, "INVALID_INPUT", ["input", "periodEnd"]),
    ]  # fmt: skip
    for given, code, field in cases:
        result = await set_budget(api, account_id, shop.token, **given)
        assert (result["code"], result["field"]) == (code, field), (given, result)
    mismatch = await api.data(
        "mutation($input: SetAdAccountBudgetInput!) { setAdAccountBudget(input: $input) { __typename ... on CurrencyMismatchError { code expected field } } }",
        {"input": {"adAccountId": account_id, "mode": "DAILY", "amount": {"amount": "5.00", "currencyCode": "EUR"}}},
        shop.token,
    )  # fmt: skip
    assert mismatch["setAdAccountBudget"] == {"__typename": "CurrencyMismatchError", "code": "CURRENCY_MISMATCH", "expected": "USD", "field": ["input", "amount", "currencyCode"]}  # fmt: skip
    state = await account_state(api, account_id, shop.token)
    assert (state["budget"]["mode"], state["budgetChangesRemainingToday"]) == ("UNLIMITED", 10)


async def test_when_a_custom_period_ends_the_job_stops_the_accounts_campaigns(
    api, users, jobs
) -> None:
    shop = await open_center(api, users, ["500.00"])
    now = clock.now()
    dates = {"periodStart": (now - timedelta(days=1)).isoformat(), "periodEnd": (now + timedelta(days=2)).isoformat()}  # fmt: skip
    await set_budget(api, shop.accounts[0].id, shop.token, "CUSTOM", "70.00", **dates)
    campaign_id = (await live_campaigns(api, shop))[0]

    report = await roll_budget_periods_job(jobs, now + timedelta(days=3))

    assert report.steps.get("rolled") == 1
    state = await campaign_state(api, campaign_id, shop.token)
    assert (state["status"], state["stopReason"]) == ("BUDGET_EXHAUSTED", "account budget reached")
