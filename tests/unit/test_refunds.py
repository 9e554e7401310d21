"""Refunds lot by lot, newest first, never more than a lot holds (the under-delivered
share of a price is in test_conservation.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adledger.domain.errors import InsufficientFunds
from adledger.domain.refunds import Lot, LotRefund, split_refund

lots = st.lists(
    st.tuples(st.integers(1, 10**9), st.integers(0, 10**9)).map(lambda t: (t[0], min(t[1], t[0]))),
    min_size=1,
    max_size=20,
).map(lambda pairs: [Lot(i + 1, amount, refunded) for i, (amount, refunded) in enumerate(pairs)])


def test_the_issue_example_two_provider_refunds_newest_first() -> None:
    # a refund of 150.00 over lots of 100.00 (older) and 80.00 (newer)
    parts = split_refund(15000, [Lot(1, 10000, 0), Lot(2, 8000, 0)], "USD")
    assert parts == [LotRefund(2, 8000), LotRefund(1, 7000)]


@given(lots, st.data())
def test_a_refund_never_exceeds_a_lot_and_sums_to_the_amount(lots: list[Lot], data) -> None:
    available = sum(lot.left for lot in lots)
    if available == 0:
        with pytest.raises(InsufficientFunds):
            split_refund(1, lots, "USD")
        return
    amount = data.draw(st.integers(1, available))
    parts = split_refund(amount, lots, "USD")
    by_id = {lot.id: lot for lot in lots}
    assert sum(p.amount for p in parts) == amount
    assert all(0 < p.amount <= by_id[p.lot_id].left for p in parts)
    ids = [p.lot_id for p in parts]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    # newest first: every lot newer than the last one used is used up
    for lot in lots:
        if lot.id > ids[-1]:
            assert lot.left == 0 or (
                lot.id in ids and next(p.amount for p in parts if p.lot_id == lot.id) == lot.left
            )


@given(lots)
def test_more_than_the_lots_hold_is_refused_whole(lots: list[Lot]) -> None:
    with pytest.raises(InsufficientFunds, match="USD"):
        split_refund(sum(lot.left for lot in lots) + 1, lots, "USD")
