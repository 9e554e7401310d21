"""A GUARANTEED campaign's money comes back once, whatever the order of the rules (issue
23, DESIGN §9 "Conservation per campaign"): a makegood compensates only what the
cancellation or the credit sweep does not already return, and those never return what a
makegood gave back. Each test reproduces an order seen paying twice on main (800.00
back on 500.00 paid after 100.00 delivered), through the API; docs/billing.md has the
table of orders these results come from."""

from __future__ import annotations

import pytest

from tests.api.makegood_fixtures import (
    accept,
    booked_campaign,
    cancel,
    cash,
    credits,
    end_and_sweep,
    made_good,
    offer,
    refunds_sent,
)

# 500.00 for 100,000 impressions, 20,000 delivered for 100.00: worth 100.00, so 400.00
# is the under-delivered share and all of it is still in the reserve.


async def test_a_credit_makegood_then_the_cancellation_gives_the_unspent_budget_back_once(
    api, users
) -> None:
    # given a makegood credit of the under-delivered share, accepted
    booked = await booked_campaign(api, users)
    assert await made_good(api, booked, "CREDIT") == "400.00"
    # when the customer cancels the campaign
    await cancel(api, booked)
    # then the 400.00 came back once, as the makegood, and the cancellation had nothing left
    assert await cash(api, booked) == "400.00"
    assert await credits(api, booked) == [("MAKEGOOD_CREDIT", "CASH", "400.00")]


async def test_a_credit_makegood_then_completion_and_the_sweep_give_it_back_once(
    api, users, sessions, jobs
) -> None:
    booked = await booked_campaign(api, users)
    assert await made_good(api, booked, "CREDIT") == "400.00"

    await end_and_sweep(sessions, jobs, booked)

    assert await cash(api, booked) == "400.00"
    assert await credits(api, booked) == [("MAKEGOOD_CREDIT", "CASH", "400.00")]


async def test_a_refund_makegood_then_the_sweep_gives_it_back_once(
    api, users, sessions, jobs, webhooks
) -> None:
    # given 300.00 paid by card, 30.00 delivered for 10,000 of 100,000 impressions
    booked = await booked_campaign(
        api, users, budget="300.00", spend="30.00", impressions=10_000, webhooks=webhooks
    )
    # when a makegood refund of 270.00 is accepted, then the flight ends and is swept
    assert await made_good(api, booked, "REFUND") == "270.00"
    await end_and_sweep(sessions, jobs, booked)
    # then the 270.00 went to the card once, and nothing came back as credit after it
    assert await refunds_sent(api, booked) == [("MAKEGOOD", "270.00")]
    assert await cash(api, booked) == "0.00"


@pytest.mark.parametrize("kind", ["CREDIT", "REFUND"])
@pytest.mark.parametrize("first", ["cancel", "sweep"])
async def test_after_the_cancellation_or_the_sweep_nothing_is_left_to_make_good(
    api, users, sessions, jobs, webhooks, kind: str, first: str
) -> None:
    # given the unspent 400.00 already back, by the cancellation or the sweep
    booked = await booked_campaign(api, users, webhooks=webhooks)
    if first == "cancel":
        await cancel(api, booked)
    else:
        await end_and_sweep(sessions, jobs, booked)
    assert await cash(api, booked) == "400.00"
    # when staff offer a makegood for the under-delivered share
    offered = await offer(api, booked, kind)
    # then there is nothing left to make good, and nothing more comes back
    assert offered["code"] == "INVALID_STATE", offered
    assert "nothing is left to make good" in offered["message"]
    assert await cash(api, booked) == "400.00"
    assert await refunds_sent(api, booked) == []


async def test_an_offer_accepted_after_the_sweep_gave_the_money_back_pays_nothing(
    api, users, sessions, jobs
) -> None:
    # given an offer of 400.00, not yet decided, and then the sweep returning the 400.00
    booked = await booked_campaign(api, users)
    made = await offer(api, booked, "CREDIT")
    await end_and_sweep(sessions, jobs, booked)
    # when the customer accepts the offer
    accepted = await accept(api, booked, made["id"])
    # then it is refused: the share was given back already, once
    assert accepted["code"] == "INVALID_STATE", accepted
    assert await cash(api, booked) == "400.00"
    assert await credits(api, booked) == [("UNDERDELIVERY_CREDIT", "CASH", "400.00")]
