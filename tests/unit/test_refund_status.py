"""A refund request's status from its refunds' (domain/refunds.py): settled only when none
is pending; SUCCEEDED, PARTLY_FAILED or FAILED after what the provider made of each."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adledger.domain.refunds import (
    RefundRequestStatus,
    RefundStatus,
    approved_status,
    final_status,
    settled_status,
)

refund_statuses = st.lists(st.sampled_from(list(RefundStatus)), min_size=1, max_size=12)


@given(refund_statuses)
def test_a_request_stays_open_while_any_refund_is_pending(statuses: list[RefundStatus]) -> None:
    # Given a request's refunds, one of them still pending
    statuses = [*statuses, RefundStatus.PENDING]

    # Then it has no final status yet
    assert final_status(statuses) is None


@given(refund_statuses.filter(lambda s: RefundStatus.PENDING not in s))
def test_a_settled_request_says_what_came_of_its_refunds(statuses: list[RefundStatus]) -> None:
    # When every refund of the request is settled
    final = final_status(statuses)

    # Then it succeeded when all did, failed when none did, and partly failed otherwise
    succeeded, failed = RefundStatus.SUCCEEDED in statuses, RefundStatus.FAILED in statuses
    expected = {
        (True, False): RefundRequestStatus.SUCCEEDED,
        (False, True): RefundRequestStatus.FAILED,
        (True, True): RefundRequestStatus.PARTLY_FAILED,
    }[(succeeded, failed)]
    assert final is expected


@given(st.permutations(["SUCCEEDED", "FAILED", "SUCCEEDED", "FAILED"]))
def test_the_rule_takes_the_stored_strings_in_any_order(statuses: list[str]) -> None:
    assert final_status(iter(statuses)) is RefundRequestStatus.PARTLY_FAILED


@pytest.mark.parametrize(
    ("provider", "ours"),
    [
        ("pending", None),
        ("succeeded", RefundStatus.SUCCEEDED),
        ("failed", RefundStatus.FAILED),
        ("canceled", RefundStatus.FAILED),
    ],
)
def test_a_refund_settles_on_the_providers_final_answer(
    provider: str, ours: RefundStatus | None
) -> None:
    assert settled_status(provider) is ours


def test_an_approved_request_waits_only_for_refunds_under_way() -> None:
    assert approved_status(refunds_under_way=True) is RefundRequestStatus.SENT
    assert approved_status(refunds_under_way=False) is RefundRequestStatus.SUCCEEDED
