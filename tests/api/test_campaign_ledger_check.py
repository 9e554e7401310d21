"""verify-ledger checks conservation per campaign (issue 23, DESIGN §9): a counter or a
posting changed behind the services' back is reported, from the counters and from the
postings, whether the run reads everything or only what was written since its last
clean checkpoint."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.domain.conservation import CONSERVED, POSTED, REVERSED
from adledger.jobs.ledger import verify_from_checkpoint
from adledger.schema.ids import db_id_of
from adledger.services.verify import verify_ledger
from adledger.store.ledger import Violation
from tests.api.makegood_fixtures import Booked, booked_campaign, made_good


async def _sql(sessions: async_sessionmaker[AsyncSession], sql: str, **params: object) -> None:
    """Runs `sql` with `at`: the one clock's now, which the app dates its postings by."""
    async with sessions() as session:
        await session.execute(text(sql), {"at": clock.now(), **params})
        await session.commit()


async def _found(sessions: async_sessionmaker[AsyncSession]) -> list[Violation]:
    async with sessions() as session:
        return await verify_ledger(session)


def _id(booked: Booked) -> int:
    found = db_id_of(booked.campaign_id, "Campaign")
    assert found is not None
    return found


# A balanced entry of the campaign paying its customer 400.00 from revenue, with the
# wallet's cached cash moved to match: what a rule that forgets the campaign would write.
_PAID_FROM_REVENUE = (
    "WITH e AS (INSERT INTO ledger_entries (operation, idempotency_key, description, "
    "campaign_id, created_at) VALUES ('tampered', :key, '', :campaign, :at) RETURNING id), "
    "cash AS (SELECT a.id FROM ledger_accounts a JOIN campaigns c ON c.wallet_id = a.wallet_id "
    "WHERE c.id = :campaign AND a.kind = 'cash' AND a.campaign_id IS NULL), "
    "revenue AS (SELECT id FROM ledger_accounts WHERE kind = 'revenue' AND currency = 'USD'), "
    "moved AS (UPDATE ledger_accounts SET balance = balance + :amount "
    "WHERE id = (SELECT id FROM cash) RETURNING id) "
    "INSERT INTO ledger_postings (entry_id, account_id, amount, kind, created_at) "
    "SELECT e.id, x.account_id, x.amount, 'MAKEGOOD_CREDIT', :at FROM e, (VALUES "
    "((SELECT id FROM revenue), -CAST(:amount AS bigint)), "
    "((SELECT id FROM moved), CAST(:amount AS bigint))) AS x(account_id, amount)"
)


async def test_a_counter_changed_by_hand_is_reported_from_the_counters_and_the_postings(
    api, users, sessions
) -> None:
    # given a campaign made good for 400.00 from its reserve, and a clean ledger
    booked = await booked_campaign(api, users)
    await made_good(api, booked, "CREDIT")
    assert await _found(sessions) == []
    # when its counter of what was made good from the reserve is set to 0 by SQL
    campaign = _id(booked)
    await _sql(sessions, "UPDATE campaigns SET made_good_reserve = 0 WHERE id = :c", c=campaign)
    # then the check reports it: its counters no longer explain what it holds, and its
    # postings say otherwise
    found = await _found(sessions)
    assert [(v.rule, v.detail.split(",")[0]) for v in found] == [
        (CONSERVED, f"campaign {campaign}: by its counters"),
        (POSTED, f"campaign {campaign}: made_good_reserve 0"),
    ]
    assert found[1].detail == f"campaign {campaign}: made_good_reserve 0, posted 40000"
    await _sql(sessions, "UPDATE campaigns SET made_good_reserve = 40000 WHERE id = :c", c=campaign)


async def test_a_payment_from_revenue_no_counter_knows_is_reported_from_a_checkpoint(
    api, users, sessions
) -> None:
    # given 100.00 delivered of a 500.00 campaign, checked: the checkpoint is recorded
    booked = await booked_campaign(api, users)
    campaign = _id(booked)
    assert (await verify_from_checkpoint(sessions)).recorded
    # when a balanced entry pays its customer 400.00 more from revenue, behind the rules
    await _sql(sessions, _PAID_FROM_REVENUE, key="tamper:1", campaign=campaign, amount=40000)
    # then the run from the checkpoint reports the posting no counter knows
    since = await verify_from_checkpoint(sessions)
    assert (since.full, since.recorded) == (False, False)
    assert [(v.rule, v.detail) for v in since.violations] == [
        (POSTED, f"campaign {campaign}: made_good_revenue 0, posted 40000")
    ]
    # and when the counter is set to match, the makegood is beyond what was overbilled
    await _sql(sessions, "UPDATE campaigns SET made_good_revenue = 40000 WHERE id = :c", c=campaign)
    full = await verify_from_checkpoint(sessions, full=True)
    assert [(v.rule, v.detail) for v in full.violations] == [
        (
            REVERSED,
            f"campaign {campaign}: reversed 40000 of its billing, billed 10000 for a "
            "delivered value of 10000",
        )
    ]
    # (put back: the entry reversed, the counter at 0, for the suite's own check)
    await _sql(sessions, _PAID_FROM_REVENUE, key="tamper:2", campaign=campaign, amount=-40000)
    await _sql(sessions, "UPDATE campaigns SET made_good_revenue = 0 WHERE id = :c", c=campaign)
    assert (await verify_from_checkpoint(sessions)).violations == []


# `amount` from the campaign's reserve to its wallet's cash under a kind no rule knows,
# with the cached balances moved to match.
_GIFT = (
    "WITH e AS (INSERT INTO ledger_entries (operation, idempotency_key, description, "
    "campaign_id, created_at) VALUES ('tampered', :key, '', :c, :at) RETURNING id), "
    "r AS (UPDATE ledger_accounts SET balance = balance - :amount WHERE campaign_id = :c "
    "AND kind = 'reserve' RETURNING id), "
    "w AS (UPDATE ledger_accounts SET balance = balance + :amount WHERE kind = 'cash' "
    "AND campaign_id IS NULL AND wallet_id = (SELECT wallet_id FROM campaigns "
    "WHERE id = :c) RETURNING id) "
    "INSERT INTO ledger_postings (entry_id, account_id, amount, kind, created_at) "
    "SELECT e.id, r.id, -CAST(:amount AS bigint), 'GIFT', :at FROM e, r UNION ALL "
    "SELECT e.id, w.id, CAST(:amount AS bigint), 'GIFT', :at FROM e, w"
)


async def test_money_moved_off_a_campaign_under_no_known_rule_is_reported(
    api, users, sessions
) -> None:
    # given a campaign holding 400.00 of unspent budget
    booked = await booked_campaign(api, users)
    campaign = _id(booked)
    # when 10.00 leave its reserve for the wallet under a kind no rule knows, and its
    # counter says they were credited
    await _sql(sessions, _GIFT, key="tamper:3", c=campaign, amount=1000)
    await _sql(sessions, "UPDATE campaigns SET credited = 1000 WHERE id = :c", c=campaign)
    # then its postings do not account for them, nor back the counter
    found = await _found(sessions)
    assert [v.rule for v in found] == [CONSERVED, POSTED]
    assert found[0].detail.startswith(f"campaign {campaign}: by its postings, taken 50000")
    assert found[1].detail == f"campaign {campaign}: credited 1000, posted 0"
    # (put back for the suite's own check)
    await _sql(sessions, _GIFT, key="tamper:4", c=campaign, amount=-1000)
    await _sql(sessions, "UPDATE campaigns SET credited = 0 WHERE id = :c", c=campaign)
