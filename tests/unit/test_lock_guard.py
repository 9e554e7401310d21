"""The lock-order guard (adledger/store/locks.py), on a session that talks to no database:
what a transaction holds is remembered in its session and forgotten when it ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from adledger.store import locks
from adledger.store.locks import Level, LockOrderViolation, register, register_owned


@pytest.fixture
def session() -> Iterator[Session]:
    assert locks.enabled()  # tests/conftest.py turns it on for the whole suite
    with Session() as session:
        session.begin()
        yield session


def test_levels_taken_in_order_pass(session: Session) -> None:
    register(session, Level.BUSINESS_CENTERS, [3])
    register(session, Level.CAMPAIGNS, [5])
    register(session, Level.AD_ACCOUNTS, [1, 2])
    register(session, Level.LEDGER_ACCOUNTS, [7])
    register(session, Level.INVOICE_COUNTER)


def test_a_level_below_one_held_raises_naming_both(session: Session) -> None:
    register(session, Level.CAMPAIGNS, [5])
    register(session, Level.LEDGER_ACCOUNTS, [7, 9])

    with pytest.raises(LockOrderViolation) as raised:
        register(session, Level.BUSINESS_CENTERS, [3])

    message = str(raised.value)
    assert "BUSINESS_CENTERS [3]" in message
    assert "LEDGER_ACCOUNTS [7, 9]" in message


def test_same_level_by_ascending_id_passes(session: Session) -> None:
    register(session, Level.CAMPAIGNS, [2, 1])  # one statement, ORDER BY id
    register(session, Level.CAMPAIGNS, [3])
    register(session, Level.CAMPAIGNS, [2, 3, 8])  # what is held is not waited for


def test_same_level_by_descending_id_raises(session: Session) -> None:
    register(session, Level.CAMPAIGNS, [8])

    with pytest.raises(LockOrderViolation, match=r"CAMPAIGNS \[3\] while holding CAMPAIGNS \[8\]"):
        register(session, Level.CAMPAIGNS, [3])


def test_relocking_a_held_row_below_the_top_passes(session: Session) -> None:
    register(session, Level.LEDGER_ACCOUNTS, [4])
    register(session, Level.INVOICE_COUNTER)

    register(session, Level.LEDGER_ACCOUNTS, [4])


def test_owned_rows_need_their_owner_held(session: Session) -> None:
    with pytest.raises(LockOrderViolation, match="without holding CAMPAIGNS"):
        register_owned(session, Level.CAMPAIGNS)

    register(session, Level.CAMPAIGNS, [5])
    register(session, Level.LEDGER_ACCOUNTS, [9])
    register_owned(session, Level.CAMPAIGNS)  # a campaign's own accounts, in any order


@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_a_new_transaction_starts_clean(session: Session, end: str) -> None:
    register(session, Level.INVOICE_COUNTER)

    getattr(session, end)()
    session.begin()

    register(session, Level.BUSINESS_CENTERS, [1])


def test_the_documented_order_is_the_modules() -> None:
    assert [level.name for level in Level] == [
        "SUBJECT",
        "BUSINESS_CENTERS",
        "CAMPAIGNS",
        "AD_ACCOUNTS",
        "CAMPAIGN_ROWS",
        "LEDGER_ACCOUNTS",
        "REFUND_ROWS",
        "INVOICE_COUNTER",
        "BALANCE_GUARD",
        "EVENT_SEQUENCE",
    ]
    assert [level for level in Level if level.by_id] == [
        Level.BUSINESS_CENTERS,
        Level.CAMPAIGNS,
        Level.AD_ACCOUNTS,
        Level.LEDGER_ACCOUNTS,
    ]


def test_an_ad_account_held_refuses_its_campaigns(session: Session) -> None:
    # the guide's order: business center, campaigns, ad accounts, ledger accounts
    register(session, Level.AD_ACCOUNTS, [4])

    with pytest.raises(LockOrderViolation, match=r"CAMPAIGNS \[2\] while holding AD_ACCOUNTS"):
        register(session, Level.CAMPAIGNS, [2])
