from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adledger.domain.access import Permission, Role, role_allows
from adledger.domain.errors import InsufficientFunds, InvalidInput
from adledger.domain.ledger import (
    AccountKind,
    AccountState,
    Move,
    TransactionKind,
    apply_postings,
    postings_for,
)

account_ids = st.integers(min_value=1, max_value=8)
moves = st.lists(
    st.tuples(account_ids, account_ids, st.integers(min_value=1, max_value=10**12)).filter(
        lambda m: m[0] != m[1]
    ),
    min_size=1,
    max_size=20,
).map(lambda items: [Move(s, d, a, TransactionKind.ADJUSTMENT) for s, d, a in items])


@given(moves=moves)
def test_postings_of_any_entry_sum_to_zero(moves: list[Move]) -> None:
    assert sum(p.amount for p in postings_for(moves)) == 0


@given(moves=moves)
def test_applying_an_entry_keeps_the_total_of_all_balances(moves: list[Move]) -> None:
    accounts = {i: AccountState(AccountKind.REVENUE, 0, "USD") for i in range(1, 9)}
    applied = apply_postings(accounts, postings_for(moves))
    assert sum(applied.balances.values()) == 0
    assert len(applied.balances_after) == 2 * len(moves)


def test_a_customer_bucket_never_goes_below_zero() -> None:
    accounts = {
        1: AccountState(AccountKind.CASH, 500, "USD"),
        2: AccountState(AccountKind.CASH, 0, "USD"),
    }
    with pytest.raises(InsufficientFunds) as caught:
        apply_postings(accounts, postings_for([Move(1, 2, 501, TransactionKind.ALLOCATION_OUT)]))
    assert caught.value.available_minor == 500


def test_a_credit_line_may_be_used_up_to_its_limit_only() -> None:
    accounts = {
        1: AccountState(AccountKind.CREDIT_LINE, 0, "USD", credit_limit=1000),
        2: AccountState(AccountKind.REVENUE, 0, "USD"),
    }
    used_up = apply_postings(accounts, postings_for([Move(1, 2, 1000, TransactionKind.SPEND)]))
    assert used_up.balances[1] == -1000
    with pytest.raises(InsufficientFunds):
        apply_postings(accounts, postings_for([Move(1, 2, 1001, TransactionKind.SPEND)]))


def test_balances_after_follow_posting_order() -> None:
    accounts = {
        1: AccountState(AccountKind.CASH, 100, "USD"),
        2: AccountState(AccountKind.CASH, 0, "USD"),
    }
    entry = [Move(1, 2, 30, TransactionKind.ALLOCATION_OUT, TransactionKind.ALLOCATION_IN)]
    applied = apply_postings(accounts, postings_for(entry))
    assert applied.balances_after == [70, 30]
    assert [p.kind for p in postings_for(entry)] == [
        TransactionKind.ALLOCATION_OUT,
        TransactionKind.ALLOCATION_IN,
    ]


def test_an_entry_moves_one_currency_only() -> None:
    accounts = {
        1: AccountState(AccountKind.CASH, 100, "USD"),
        2: AccountState(AccountKind.CASH, 0, "EUR"),
    }
    with pytest.raises(InvalidInput, match="one currency"):
        apply_postings(accounts, postings_for([Move(1, 2, 1, TransactionKind.ADJUSTMENT)]))


@pytest.mark.parametrize("amount", [0, -5])
def test_a_move_carries_a_positive_amount(amount: int) -> None:
    with pytest.raises(InvalidInput):
        Move(1, 2, amount, TransactionKind.ADJUSTMENT)


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [
        (Role.ADMIN, Permission.MOVE_MONEY, True),
        (Role.FINANCE_MANAGER, Permission.MOVE_MONEY, True),
        (Role.FINANCE_MANAGER, Permission.MANAGE_ACCOUNTS, False),
        (Role.FINANCE_ANALYST, Permission.READ_MONEY, True),
        (Role.FINANCE_ANALYST, Permission.MOVE_MONEY, False),
        (Role.STANDARD, Permission.READ_MONEY, False),
        (Role.STANDARD, Permission.RUN_CAMPAIGNS, True),
        (None, Permission.READ, False),
    ],
)
def test_roles_grant_what_design_section_4_says(
    role: Role | None, permission: Permission, allowed: bool
) -> None:
    assert role_allows(role, permission) is allowed


def test_staff_read_everything_but_move_nothing_through_customer_roles() -> None:
    assert role_allows(None, Permission.READ_MONEY, is_staff=True)
    assert not role_allows(None, Permission.MOVE_MONEY, is_staff=True)
