"""The integration token (the ad server's) records spend and does nothing else: every
other mutation of the served schema answers FORBIDDEN, whatever ids it is given, before
any id is looked up (docs/api.md, "Authentication")."""

from __future__ import annotations

import pytest

from tests.api.campaign_fixtures import open_shop
from tests.api.schema_walk import call, mutations, served_schema
from tests.helpers import balance, new_campaign

SCHEMA = served_schema()
NOT_FOR_INTEGRATION = sorted(name for name in mutations(SCHEMA) if name != "recordSpend")


@pytest.mark.parametrize("real_ids", [True, False], ids=["real ids", "ids of nothing"])
async def test_every_mutation_but_record_spend_is_forbidden_to_it(api, users, real_ids) -> None:
    # given a center with an ad account, a wallet with cash and a campaign, and the ad server
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    ids = {
        "BusinessCenter": shop.center.id,
        "AdAccount": shop.account.id,
        "Wallet": shop.account.wallet_id,
        "Campaign": campaign_id,
    }
    fields = mutations(SCHEMA)
    # when it calls each mutation with a minimal valid-looking input
    answers = {}
    for name in NOT_FOR_INTEGRATION:
        document, variables = call(name, fields[name], ids if real_ids else {})
        answers[name] = (await api.data(document, variables, shop.adserver.token))[name]
    # then each answers a ForbiddenError, and no money moved
    assert {n: (a["__typename"], a["code"]) for n, a in answers.items()} == {
        name: ("ForbiddenError", "FORBIDDEN") for name in NOT_FOR_INTEGRATION
    }
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "100.00"
