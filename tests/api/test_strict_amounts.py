"""Amounts are strict decimals at every input: what the grammar refuses is an INVALID_INPUT
naming the field, and nothing is applied (issue 23: `" 1.00 "` was taken as 1.00)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.api.campaign_fixtures import open_shop
from tests.helpers import (
    RECORD_SPEND,
    balance,
    campaign,
    create_center,
    launch,
    new_campaign,
    spend_event,
    subscribe,
    top_up,
    update_budget,
)

WEAK = [" 1.00 ", "1.00 ", "\t1.00", "1.00\n", "+1.00", "1_0.00", "1e1", ".50", "1.", "-0.00"]
NOT_TEXT: list[Any] = [{"amount": "1.00"}, ["1.00"], 1.5, True]


async def _record(api, shop, amount: Any) -> dict[str, Any]:
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    event = spend_event("e1", campaign_id, "1.00")
    event["amount"]["amount"] = amount
    data = await api.data(RECORD_SPEND, {"input": {"events": [event]}}, shop.adserver.token)
    return {"result": data["recordSpend"], "campaign_id": campaign_id}


@pytest.mark.parametrize("amount", WEAK + NOT_TEXT)
async def test_record_spend_refuses_a_weak_amount_and_applies_nothing(
    api, users, sessions, amount: Any
) -> None:
    # given a launched campaign and the ad server
    shop = await open_shop(api, users, cash="100.00")

    # when it reports an event whose amount is not a strict decimal
    sent = await _record(api, shop, amount)

    # then the batch is refused, naming the amount, and nothing is billed
    result = sent["result"]
    assert (result["code"], result["field"]) == (
        "INVALID_INPUT",
        ["input", "events", "0", "amount", "amount"],
    ), result
    found = await campaign(api, sent["campaign_id"], shop.token)
    assert found["spent"]["amount"] == "0.00"
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM spend_events")) == 0


@pytest.mark.parametrize("amount", [" 1.00 ", "+50.00", "50.00\n", "-50.00", {"x": 1}])
async def test_top_up_refuses_a_weak_amount_and_creates_no_invoice(
    api, users, sessions, amount: Any
) -> None:
    # given a subscribed business center
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, "199.00")
    assert (await subscribe(api, center))["__typename"] == "SubscribeToPlanSuccess"
    async with sessions() as session:
        invoices_before = await session.scalar(text("SELECT count(*) FROM invoices"))

    # when it tops up by an amount that is not a strict decimal (as amount, or as target)
    by_amount = await top_up(api, center.wallet_id, center.admin.token, amount=amount)
    by_target = await top_up(api, center.wallet_id, center.admin.token, target=amount)

    # then both are refused naming the amount, and no top-up or invoice exists
    assert (by_amount["code"], by_amount["field"]) == (
        "INVALID_INPUT",
        ["input", "amount", "amount"],
    ), by_amount
    assert (by_target["code"], by_target["field"]) == (
        "INVALID_INPUT",
        ["input", "targetBalance", "amount"],
    ), by_target
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM top_ups")) == 0
        assert await session.scalar(text("SELECT count(*) FROM invoices")) == invoices_before


async def test_a_padded_budget_is_refused_and_the_wallet_keeps_its_money(api, users) -> None:
    # given a launched 100.00 campaign on a wallet with 200.00
    shop = await open_shop(api, users, cash="200.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)

    # when its budget is raised to " 150.00"
    result = await update_budget(api, campaign_id, shop.token, " 150.00")

    # then the change is refused and nothing moved
    assert (result["code"], result["field"]) == ("INVALID_INPUT", ["input", "budget", "amount"])
    assert (await campaign(api, campaign_id, shop.token))["budget"]["amount"] == "100.00"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "100.00"


async def test_an_amount_sent_as_a_json_number_is_still_taken(api, users) -> None:
    """An integer is exact: 1 is 1.00 (a float, whose decimals are gone, is refused)."""
    shop = await open_shop(api, users, cash="100.00")

    sent = await _record(api, shop, 1)

    assert sent["result"]["accepted"] == 1
    assert (await campaign(api, sent["campaign_id"], shop.token))["spent"]["amount"] == "1.00"
