"""Campaigns come before ad accounts in the lock order (adledger/store/locks.py), yet which
campaigns an account's cap may stop depends on the account: a writer reads that before its
locks and checks it again under them. A concurrent writer that changes it in between makes
the writer run again (`LockScopeChanged`), so the campaigns it must stop are stopped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adledger.store import campaigns as campaign_repo
from adledger.store.db import transaction_runner
from adledger.store.locks import RETRIES, LockScopeChanged
from tests.api.allocation_fixtures import campaign_state, set_budget
from tests.api.campaign_fixtures import open_shop
from tests.helpers import launch, new_campaign, record_spend, spend_event


def _once_before(
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    name: str,
    meanwhile: Callable[[], Awaitable[Any]],
) -> list[Any]:
    """`module.name` runs `meanwhile` (another request, committed) right after its first
    call: between a writer's guess and its locks. What `meanwhile` answered is returned."""
    original = getattr(module, name)
    answers: list[Any] = []

    async def guessed(*args: Any, **kwargs: Any) -> Any:
        found = await original(*args, **kwargs)
        if not answers:
            answers.append(None)
            answers[0] = await meanwhile()
        return found

    monkeypatch.setattr(module, name, guessed)
    return answers


async def _capped_shop(api: Any, users: Any, monthly_cap: str) -> Any:
    shop = await open_shop(api, users, cash="1000.00")
    capped = await set_budget(api, shop.account.id, shop.token, "MONTHLY", monthly_cap)
    assert capped["__typename"] == "SetAdAccountBudgetSuccess", capped
    return shop


async def test_a_batch_that_finds_the_cap_used_up_meanwhile_stops_the_other_campaigns(
    api, users, monkeypatch
) -> None:
    # given an account capped at 30.00 a month with two live campaigns
    shop = await _capped_shop(api, users, "30.00")
    first = await new_campaign(api, shop.account, shop.token, "300.00")
    other = await new_campaign(api, shop.account, shop.token, "300.00")
    for campaign_id in (first, other):
        await launch(api, campaign_id, shop.token)
    # and a batch of 25.00 committed after a batch of 10.00 read the cap (30.00 left: it
    # guessed no campaign would stop) and before it locked anything
    meanwhile = _once_before(
        monkeypatch,
        campaign_repo,
        "campaigns_with_accounts",
        lambda: record_spend(api, [spend_event("b1", first, "25.00")], shop.adserver.token),
    )

    # when the batch of 10.00 runs
    result = await record_spend(api, [spend_event("a1", first, "10.00")], shop.adserver.token)

    # then the concurrent batch took 25.00, and this one 5.00, ran again under the locks
    # it needed: the rest is refused and both campaigns of the full account stop
    assert meanwhile[0]["accepted"] == 1 and meanwhile[0]["stoppedCampaigns"] == []
    assert result["refused"] == [{"eventId": "a1", "amount": {"amount": "5.00", "currencyCode": "USD"}, "reason": "ACCOUNT_BUDGET_REACHED"}]  # fmt: skip
    assert sorted(c["id"] for c in result["stoppedCampaigns"]) == sorted([first, other])
    state = await campaign_state(api, other, shop.token)
    assert (state["status"], state["stopReason"]) == ("BUDGET_EXHAUSTED", "account budget reached")


async def test_a_cap_lowered_while_a_campaign_launches_stops_that_campaign_too(
    api, users, monkeypatch
) -> None:
    # given an account capped at 100.00 a month that spent 20.00, and a campaign ready
    shop = await _capped_shop(api, users, "100.00")
    first = await new_campaign(api, shop.account, shop.token, "300.00")
    await launch(api, first, shop.token)
    await record_spend(api, [spend_event("s1", first, "20.00")], shop.adserver.token)
    late = await new_campaign(api, shop.account, shop.token, "300.00")
    # and it launches after the cap change read the account's campaigns, before its locks
    _once_before(
        monkeypatch, campaign_repo, "delivering_ids", lambda: launch(api, late, shop.token)
    )

    # when the cap is lowered to what the period spent
    lowered = await set_budget(api, shop.account.id, shop.token, "MONTHLY", "20.00")

    # then both campaigns stop, the one that launched meanwhile too
    assert lowered["__typename"] == "SetAdAccountBudgetSuccess", lowered
    assert sorted(c["id"] for c in lowered["stoppedCampaigns"]) == sorted([first, late])
    assert (await campaign_state(api, late, shop.token))["status"] == "BUDGET_EXHAUSTED"


async def test_work_that_keeps_finding_more_to_lock_gives_up_after_the_retries(
    sessions,
) -> None:
    transact = transaction_runner(sessions)
    runs = []

    async def never_enough(session: Any) -> None:
        runs.append(1)
        raise LockScopeChanged("always more")

    with pytest.raises(LockScopeChanged):
        await transact(never_enough)
    assert len(runs) == RETRIES


async def test_work_that_found_more_to_lock_once_commits_on_its_second_run(sessions) -> None:
    transact = transaction_runner(sessions)
    runs = []

    async def second_time_lucky(session: Any) -> int:
        runs.append(1)
        if len(runs) == 1:
            raise LockScopeChanged("more")
        return len(runs)

    assert await transact(second_time_lucky) == 2
