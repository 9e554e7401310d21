"""Every instant a mutation takes is INVALID_INPUT naming its field when it cannot be
represented in UTC (year 0 or 10000 once converted) or lies outside 1900-2999, never an
unexpected error; and nothing changes (issue 23)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from adledger import clock
from tests.api.allocation_fixtures import SET_BUDGET, account_state
from tests.api.campaign_fixtures import open_shop
from tests.api.installment_fixtures import card_campaign, launch
from tests.helpers import record_spend, spend_event

YEAR_0 = "0001-01-01T00:00:00+14:00"  # year 0 once in UTC
YEAR_10000 = "9999-12-31T23:00:00-14:00"  # year 10000 once in UTC
DECEMBER_9999 = "9999-12-01T00:00:00+00:00"
# (field at fault, start, end): each start and end on its own, and a pair a month apart
# that passed every check on main and crashed later (OverflowError); the start is the
# first date checked, and already out of range.
CASES = [
    ("Start", YEAR_0, "+10"),
    ("End", "-1", YEAR_10000),
    ("Start", DECEMBER_9999, YEAR_10000),
    ("Start", "3000-01-01T00:00:00+00:00", "+10"),
    ("Start", "1899-12-31T23:59:59+00:00", "+10"),
    ("End", "-1", "3000-01-01T00:00:00+00:00"),
]

CREATE = """
mutation($input: CreateCampaignInput!) { createCampaign(input: $input) {
  __typename ... on UserError { code message field } } }"""
OFFER = """
mutation($input: OfferMakegoodInput!) { offerMakegood(input: $input) {
  __typename ... on UserError { code message field } } }"""
CAMPAIGNS = """query($id: ID!) { adAccount(id: $id) { campaigns(first: 10) { edges { node {
  id makegoodOffers { id } } } } } }"""


def _instant(given: str) -> str:
    """An ISO instant, or days from now ("+10", "-1")."""
    if given[0] in "+-":
        return (clock.now() + timedelta(days=int(given))).isoformat()
    return given


def _refusal(answer: dict[str, Any], field: str) -> tuple[str, list[str], bool]:
    """Its code and field, and whether its message names the field."""
    return answer.get("code", answer), answer.get("field", []), field in answer.get("message", "")


@pytest.mark.parametrize(("at_fault", "starts", "ends"), CASES)
async def test_create_campaign_refuses_an_unrepresentable_flight(
    api, users, at_fault, starts, ends
) -> None:
    # given an ad account
    shop = await open_shop(api, users)
    given = {
        "adAccountId": shop.account.id,
        "name": "Far out",
        "budget": {"amount": "100.00", "currencyCode": "USD"},
        "startsAt": _instant(starts),
        "endsAt": _instant(ends),
    }

    # when the flight's start or end is out of range
    answer = (await api.data(CREATE, {"input": given}, shop.token))["createCampaign"]

    # then it is INVALID_INPUT naming its field, and no campaign was made
    field = f"{at_fault.lower()}sAt"
    assert _refusal(answer, field) == ("INVALID_INPUT", ["input", field], True)
    listed = await api.data(CAMPAIGNS, {"id": shop.account.id}, shop.token)
    assert listed["adAccount"]["campaigns"]["edges"] == []


@pytest.mark.parametrize(("at_fault", "starts", "ends"), CASES)
async def test_a_custom_budget_refuses_an_unrepresentable_period(
    api, users, at_fault, starts, ends
) -> None:
    # given an ad account with no cap
    shop = await open_shop(api, users)
    given = {
        "adAccountId": shop.account.id,
        "mode": "CUSTOM",
        "amount": {"amount": "70.00", "currencyCode": "USD"},
        "periodStart": _instant(starts),
        "periodEnd": _instant(ends),
    }

    # when its CUSTOM period starts or ends out of range
    answer = (await api.data(SET_BUDGET, {"input": given}, shop.token))["setAdAccountBudget"]

    # then it is INVALID_INPUT naming its field, and the cap is unchanged
    field = f"period{at_fault}"
    assert _refusal(answer, field) == ("INVALID_INPUT", ["input", field], True)
    state = await account_state(api, shop.account.id, shop.token)
    assert (state["budget"]["mode"], state["budgetChangesRemainingToday"]) == ("UNLIMITED", 10)


@pytest.mark.parametrize(("at_fault", "starts", "ends"), CASES)
async def test_a_makegood_flight_refuses_unrepresentable_dates(
    api, users, at_fault, starts, ends
) -> None:
    # given a GUARANTEED campaign, and staff
    shop = await open_shop(api, users, cash="1000.00")
    campaign_id = await card_campaign(
        api, shop, plan="CREDIT_BALANCE", delivery="GUARANTEED", booked=100_000
    )
    staff = await users.create("billing", staff=True)
    given = {
        "campaignId": campaign_id,
        "kind": "FLIGHT",
        "startsAt": _instant(starts),
        "endsAt": _instant(ends),
    }

    # when the flight's start or end is out of range
    answer = (await api.data(OFFER, {"input": given}, staff.token))["offerMakegood"]

    # then it is INVALID_INPUT naming its field, and nothing was offered
    field = f"{at_fault.lower()}sAt"
    assert _refusal(answer, field) == ("INVALID_INPUT", ["input", field], True)
    listed = await api.data(CAMPAIGNS, {"id": shop.account.id}, shop.token)
    [node] = [edge["node"] for edge in listed["adAccount"]["campaigns"]["edges"]]
    assert node["makegoodOffers"] == []


async def test_dates_given_with_a_credit_offer_are_instants_too(api, users) -> None:
    # given a GUARANTEED campaign that delivered 100.00 of its 1000.00, and staff
    shop = await open_shop(api, users, cash="1000.00")
    campaign_id = await card_campaign(
        api, shop, plan="CREDIT_BALANCE", delivery="GUARANTEED", booked=100_000
    )
    await launch(api, shop, campaign_id)
    delivered = await record_spend(api, [spend_event("d", campaign_id, "100.00")], shop.adserver.token)  # fmt: skip
    assert delivered["accepted"] == 1
    staff = await users.create("billing", staff=True)

    # when a CREDIT offer comes with dates UTC cannot represent
    given = {"campaignId": campaign_id, "kind": "CREDIT", "startsAt": YEAR_0, "endsAt": YEAR_10000}
    answer = (await api.data(OFFER, {"input": given}, staff.token))["offerMakegood"]

    # then it is INVALID_INPUT naming the first, and nothing was offered
    assert _refusal(answer, "startsAt") == ("INVALID_INPUT", ["input", "startsAt"], True)
    listed = await api.data(CAMPAIGNS, {"id": shop.account.id}, shop.token)
    [node] = [edge["node"] for edge in listed["adAccount"]["campaigns"]["edges"]]
    assert node["makegoodOffers"] == []
