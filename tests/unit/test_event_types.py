"""The published event types and the pure rules of partner events (domain/events.py)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adledger.domain.campaigns import CampaignStatus
from adledger.domain.errors import InvalidInput
from adledger.domain.events import (
    API_VERSION,
    MAX_DATA_BYTES,
    EventType,
    bounded,
    campaign_event_types,
    check_types,
    cutoff,
    months_to_drop,
)

# Every type the issue names, and the two the webhooks add.
ISSUE_26 = {
    "top_up.paid", "top_up.failed",
    "invoice.opened", "invoice.paid", "invoice.payment_failed", "invoice.voided",
    "invoice.discounted",
    "campaign.launched", "campaign.activated", "campaign.paused", "campaign.resumed",
    "campaign.stopped", "campaign.completed", "campaign.canceled", "campaign.rejected",
    "spend.applied", "credit.issued",
    "refund.requested", "refund.approved", "refund.declined", "refund.succeeded",
    "refund.failed",
    "makegood.offered", "makegood.accepted", "makegood.declined",
    "automatic_allocation.enabled", "ad_account.budget_cap_changed", "credit_line.changed",
    "card.saved", "plan_subscription.renewed", "plan_subscription.canceled",
    "webhook_endpoint.disabled", "test.ping",
}  # fmt: skip
# Issue 27's, each with the code that records it.
ISSUE_27 = {"balance.low", "runway.low", "auto_recharge.suspended"}


def test_the_published_list_is_every_type_the_issue_names() -> None:
    assert {t.value for t in EventType} == ISSUE_26 | ISSUE_27
    assert API_VERSION == "2026-12-01"


def test_a_filter_keeps_its_known_types_once_in_order() -> None:
    assert check_types(["invoice.paid", "top_up.paid", "invoice.paid"]) == [
        EventType.INVOICE_PAID,
        EventType.TOP_UP_PAID,
    ]
    assert check_types([]) == []


def test_an_unknown_type_is_refused_naming_it_and_where() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_types(["invoice.paid", "Invoice.Paid"])

    assert "'Invoice.Paid'" in refused.value.message
    assert refused.value.field == ("types", "1")


def test_a_long_unknown_type_is_named_cut_short() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_types(["x" * 10_000])

    assert len(refused.value.message) < 120


def test_more_names_than_types_are_refused_before_any_is_read() -> None:
    with pytest.raises(InvalidInput, match="at most"):
        check_types(["invoice.paid"] * (len(EventType) + 1))


@given(st.lists(st.text(max_size=20), max_size=len(EventType)))
def test_a_filter_answers_known_types_or_refuses(names: list[str]) -> None:
    try:
        kept = check_types(names)
    except InvalidInput:
        assert any(name not in ISSUE_26 for name in names)
    else:
        assert kept == list(dict.fromkeys(EventType(name) for name in names))


S = CampaignStatus


@pytest.mark.parametrize(
    ("was", "now", "told"),
    [
        (S.DRAFT, S.ACTIVE, ["campaign.launched", "campaign.activated"]),
        (S.DRAFT, S.SCHEDULED, ["campaign.launched"]),
        (S.DRAFT, S.PENDING_FUNDS, ["campaign.launched"]),
        (S.SCHEDULED, S.ACTIVE, ["campaign.activated"]),
        (S.PENDING_FUNDS, S.ACTIVE, ["campaign.activated"]),
        (S.PENDING_FUNDS, S.SCHEDULED, []),
        (S.ACTIVE, S.PAUSED, ["campaign.paused"]),
        (S.PAUSED, S.ACTIVE, ["campaign.resumed"]),
        (S.PAUSED, S.SCHEDULED, ["campaign.resumed"]),
        (S.ACTIVE, S.BUDGET_EXHAUSTED, ["campaign.stopped"]),
        (S.BUDGET_EXHAUSTED, S.ACTIVE, ["campaign.resumed"]),
        (S.ACTIVE, S.COMPLETED, ["campaign.completed"]),
        (S.PENDING_FUNDS, S.CANCELED, ["campaign.canceled"]),
        (S.SCHEDULED, S.REJECTED, ["campaign.rejected"]),
        (S.ACTIVE, S.ACTIVE, []),
    ],
)
def test_a_status_change_is_the_events_partners_expect(was, now, told) -> None:
    assert [t.value for t in campaign_event_types(was, now)] == told


@given(st.sampled_from(list(CampaignStatus)), st.sampled_from(list(CampaignStatus)))
def test_every_change_into_an_end_or_a_halt_is_told_once(was, now) -> None:
    told = campaign_event_types(was, now)
    if was is now:
        assert told == ()
    elif now in (S.PAUSED, S.BUDGET_EXHAUSTED, S.COMPLETED, S.CANCELED, S.REJECTED):
        assert len(told) == 1


def test_a_snapshot_within_the_bound_is_kept_whole() -> None:
    data = {"id": "SW52b2ljZToy", "number": "INV-2026-000002"}

    assert bounded(data, "SW52b2ljZToy") is data


def test_a_snapshot_past_the_bound_is_its_id_and_a_note() -> None:
    data = {"id": "Q2FtcGFpZ246MQ==", "lines": ["x" * 1000] * 300}

    cut = bounded(data, "Q2FtcGFpZ246MQ==")

    assert cut == {
        "id": "Q2FtcGFpZ246MQ==",
        "truncated": True,
        "note": "larger than 256 KB: read the object with node(id:)",
    }
    assert len(json.dumps(cut)) < MAX_DATA_BYTES


def test_retention_is_never_less_than_30_days() -> None:
    now = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)

    assert cutoff(now, 1) == datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
    assert cutoff(now, 90) == datetime(2026, 9, 16, 12, 0, tzinfo=UTC)


def test_only_months_entirely_before_the_cutoff_are_dropped() -> None:
    months = [date(2026, m, 1) for m in (8, 9, 10, 11, 12)]

    mid_october = months_to_drop(months, datetime(2026, 10, 15, tzinfo=UTC))
    first_of_october = months_to_drop(months, datetime(2026, 10, 1, tzinfo=UTC))

    assert mid_october == [date(2026, 8, 1), date(2026, 9, 1)]
    assert first_of_october == [date(2026, 8, 1), date(2026, 9, 1)]
    assert months_to_drop(months, datetime(2026, 9, 30, 23, 59, tzinfo=UTC)) == [date(2026, 8, 1)]
