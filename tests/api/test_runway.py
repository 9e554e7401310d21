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
