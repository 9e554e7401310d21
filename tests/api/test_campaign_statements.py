"""What createCampaign and launchCampaign cost the database, counted (issue 28): a
statement more per request is CPU every request pays. Counts, not times: they hold on any
machine."""

from __future__ import annotations

from datetime import timedelta

from adledger import clock
from tests.api.campaign_fixtures import open_shop

CREATE = """
mutation($input: CreateCampaignInput!) {
  createCampaign(input: $input) {
    __typename
    ... on CreateCampaignSuccess { campaign { id status budget { amount } } }
  }
}"""

LAUNCH = """
mutation($input: LaunchCampaignInput!) {
  launchCampaign(input: $input) {
    __typename
    ... on LaunchCampaignSuccess { campaign { status funded { amount } } shortfallInvoice { id } }
  }
}"""


def _new(account_id: str, name: str) -> dict[str, object]:
    starts = clock.now() + timedelta(days=1)
    return {
        "input": {
            "adAccountId": account_id,
            "name": name,
            "budget": {"amount": "50.00", "currencyCode": "USD"},
            "startsAt": starts.isoformat(),
            "endsAt": (starts + timedelta(days=7)).isoformat(),
        }
    }


async def test_creating_and_launching_a_funded_campaign_costs_two_and_at_most_eight_statements(
    api, users, statements
) -> None:
    # given a subscribed center whose ad account holds 1,000.00, and a campaign created and
    # launched there once already (the caller's token cached, its activity noted)
    shop = await open_shop(api, users, cash="1000.00")
    first = (await api.data(CREATE, _new(shop.account.id, "First"), shop.token))["createCampaign"]
    launch_first = {"input": {"campaignId": first["campaign"]["id"]}}
    await api.data(LAUNCH, launch_first, shop.token)
    statements.count = 0
    statements.statements.clear()

    # when it creates a campaign of 50.00 starting tomorrow
    created = (await api.data(CREATE, _new(shop.account.id, "Second"), shop.token))[
        "createCampaign"
    ]
    create_statements = list(statements.statements)
    statements.count = 0
    statements.statements.clear()
    # and launches it
    launch = {"input": {"campaignId": created["campaign"]["id"]}}
    launched = (await api.data(LAUNCH, launch, shop.token))["launchCampaign"]
    launch_statements = list(statements.statements)

    # then the answers are right: a draft of 50.00, then scheduled with all of it funded
    assert created["__typename"] == "CreateCampaignSuccess"
    assert (created["campaign"]["status"], created["campaign"]["budget"]["amount"]) == (
        "DRAFT",
        "50.00",
    )
    assert launched == {
        "__typename": "LaunchCampaignSuccess",
        "campaign": {"status": "SCHEDULED", "funded": {"amount": "50.00"}},
        "shortfallInvoice": None,
    }
    # and creating took two statements besides BEGIN and COMMIT: the account with its
    # center's mode, its wallet and the caller's role; the campaign with its accounts
    assert len(create_statements) == 2, create_statements
    # and launching at most eight, in one transaction: the campaign's center, the caller's
    # role and the subscription; the campaign locked; the wallet's and the campaign's
    # accounts locked; the entry; the campaign written; the balance guard; the event with
    # its center's counter locked; the event numbered
    assert len(launch_statements) <= 8, launch_statements
    assert not [s for s in launch_statements if "outbox" in s], launch_statements


BUDGET = """
mutation($input: UpdateCampaignBudgetInput!) {
  updateCampaignBudget(input: $input) {
    __typename
    ... on UpdateCampaignBudgetSuccess {
      campaign { budget { amount } }
      charged { amount }
      credited { amount }
    }
  }
}"""


async def test_raising_a_running_campaigns_budget_a_cent_costs_at_most_seven_statements(
    api, users, statements
) -> None:
    # given a launched campaign of 50.00 on an account holding 1,000.00, whose budget was
    # changed once already (the caller's token cached, its activity noted)
    shop = await open_shop(api, users, cash="1000.00")
    created = (await api.data(CREATE, _new(shop.account.id, "Running"), shop.token))[
        "createCampaign"
    ]
    campaign_id = created["campaign"]["id"]
    await api.data(LAUNCH, {"input": {"campaignId": campaign_id}}, shop.token)

    def change(amount: str) -> dict[str, object]:
        budget = {"amount": amount, "currencyCode": "USD"}
        return {"input": {"campaignId": campaign_id, "budget": budget}}

    await api.data(BUDGET, change("50.00"), shop.token)
    statements.count = 0
    statements.statements.clear()

    # when its budget goes up by 0.01
    raised = (await api.data(BUDGET, change("50.01"), shop.token))["updateCampaignBudget"]

    # then the answer shows the new budget and the cent charged
    assert raised == {
        "__typename": "UpdateCampaignBudgetSuccess",
        "campaign": {"budget": {"amount": "50.01"}},
        "charged": {"amount": "0.01"},
        "credited": {"amount": "0.00"},
    }
    # and it took at most seven statements besides BEGIN and COMMIT: the campaign with the
    # caller's role and its center's mode; the wallet's waiting campaigns; the campaign
    # locked; the wallet's and the campaign's accounts locked; the entry; the campaign
    # written; the balance guard
    assert len(statements.statements) <= 7, statements.statements
