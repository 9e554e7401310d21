"""Runway (issue 27): what each wallet's money paid for per day, kept as spend is applied;
`Wallet.runway` and `BusinessCenter.runway` read from it."""

from __future__ import annotations

from sqlalchemy import text

from adledger import clock
from adledger.schema.ids import db_id_of
from tests.api.allocation_fixtures import live_campaigns, open_center, unlimited
from tests.api.campaign_fixtures import open_shop
from tests.helpers import launch, new_campaign, record_spend, spend_event


async def _spend_days(sessions, *wallet_gids: str) -> dict[int, int]:
    ids = [db_id_of(gid, "Wallet") for gid in wallet_gids]
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT wallet_id, amount FROM wallet_spend_days "
                "WHERE wallet_id = ANY(:ids) AND day = :day"
            ),
            {"ids": ids, "day": clock.now().date()},
        )
        return {wallet_id: amount for wallet_id, amount in rows.all()}


async def test_a_prepaid_campaigns_spend_is_its_accounts_wallets_spend(
    api, users, sessions
) -> None:
    # given a campaign launched from its account's wallet
    shop = await open_shop(api, users, cash="500.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "500.00")
    await launch(api, campaign_id, shop.token)
    # when two batches deliver 16.50 in all
    await record_spend(api, [spend_event("e1", campaign_id, "10.00"), spend_event("e2", campaign_id, "5.50")], shop.adserver.token)  # fmt: skip
    await record_spend(api, [spend_event("e3", campaign_id, "1.00")], shop.adserver.token)
    # then the account's wallet spent 16.50 today, the center's nothing
    days = await _spend_days(sessions, shop.account.wallet_id, shop.center.wallet_id)
    assert days == {db_id_of(shop.account.wallet_id, "Wallet"): 1_650}


async def test_a_drawn_campaigns_spend_is_split_between_account_and_center(
    api, users, sessions
) -> None:
    # given an automatic center: the account has 10.00 of its own, the center 30.00
    shop = await open_center(api, users, ["0.00"])
    await unlimited(api, shop)
    account = shop.accounts[0]
    await users.fund(account.wallet_id, "10.00")
    await users.fund(shop.center.wallet_id, "30.00")
    campaign_id = (await live_campaigns(api, shop))[0]
    # when 25.00 is delivered
    await record_spend(api, [spend_event("d1", campaign_id, "25.00")], shop.adserver.token)
    # then the account's wallet paid 10.00 and the center's 15.00
    days = await _spend_days(sessions, account.wallet_id, shop.center.wallet_id)
    assert days == {
        db_id_of(account.wallet_id, "Wallet"): 1_000,
        db_id_of(shop.center.wallet_id, "Wallet"): 1_500,
    }


RUNWAY = """query($id: ID!) { businessCenter(id: $id) {
  runway { burnRatePerDay { amount } daysLeft runsOutAt committedShortfallAt committedShortfall { amount } }
  wallet { runway { committedShortfall { amount } } } } }"""


async def _center_with_drawing_campaigns(api, users, accounts: int):
    shop = await open_center(api, users, ["0.00"] * accounts)
    await unlimited(api, shop)
    await users.fund(shop.center.wallet_id, "300.00")
    await live_campaigns(api, shop, budget="1000.00")
    return shop


async def test_a_centers_runway_costs_the_same_statements_for_50_accounts_as_for_1(
    api, users, statements
) -> None:
    # given a center with one drawing campaign, and one with 50 (one per account)
    small = await _center_with_drawing_campaigns(api, users, 1)
    large = await _center_with_drawing_campaigns(api, users, 50)
    # when each reads its runway
    costs, answers = [], []
    for shop in (small, large):
        # (a read first: the token is then in the process's 5-second token cache for both)
        await api.data(RUNWAY, {"id": shop.center.id}, shop.token)
        statements.count = 0
        answers.append((await api.data(RUNWAY, {"id": shop.center.id}, shop.token))["businessCenter"])  # fmt: skip
        costs.append(statements.count)
    # then the same statements, a few; and the committed view of what the campaigns may take
    assert costs[0] == costs[1], statements.statements
    assert costs[1] <= 12
    one, fifty = (a["runway"] for a in answers)
    assert one["committedShortfall"] == {"amount": "700.00"}
    assert fifty["committedShortfall"] == {"amount": "49700.00"}
    assert fifty["committedShortfallAt"] is not None
    assert (fifty["burnRatePerDay"], fifty["daysLeft"], fifty["runsOutAt"]) == ({"amount": "0.00"}, None, None)  # fmt: skip
    assert answers[1]["wallet"]["runway"]["committedShortfall"] == {"amount": "49700.00"}
