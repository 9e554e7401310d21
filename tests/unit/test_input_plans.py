"""Planned input types build the same values Strawberry would, only faster (recordSpend
carries up to 1,000 events); DateTime parsing keeps dateutil's forms and errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import strawberry
from graphql import coerce_input_value
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.arguments import InputContext, convert_argument

from adledger.domain.money import Currency
from adledger.resolvers.root import build_schema
from adledger.schema.input_plans import _plan_of
from adledger.schema.inputs import RecordSpendInput, SpendEventInput
from adledger.schema.money import MoneyInput
from adledger.schema.scalars import _datetime


def _events() -> list[dict[str, object]]:
    event = {
        "eventId": "e1",
        "campaignId": "Q2FtcGFpZ246MQ==",
        "amount": {"amount": "12.50", "currencyCode": "EUR"},
        "occurredAt": "2026-11-23T10:00:00Z",
    }
    return [event, {**event, "eventId": "e2", "impressions": 7}]


def _built(schema: strawberry.Schema) -> RecordSpendInput:
    """The events as the resolver receives them: coerced by graphql-core, then built."""
    graphql_type = schema._schema.get_type("RecordSpendInput")
    coerced = coerce_input_value({"events": _events()}, graphql_type)  # type: ignore[arg-type]
    registry = schema.schema_converter.scalar_registry
    return convert_argument(coerced, RecordSpendInput, registry, schema.config)  # type: ignore[return-value]


def test_a_planned_input_is_built_as_strawberry_would(monkeypatch: pytest.MonkeyPatch) -> None:
    # given the served schema
    schema = build_schema()
    # when the events are built from their plan, and by Strawberry itself
    planned = _built(schema)
    for cls in (RecordSpendInput, SpendEventInput, MoneyInput):
        monkeypatch.setattr(cls.__strawberry_definition__, "from_input", None)
    unplanned = _built(schema)
    # then both are the same, defaults and enum members included
    assert planned == unplanned
    first, second = planned.events
    assert isinstance(first.amount, MoneyInput)
    assert (first.impressions, second.impressions) == (0, 7)
    assert first.amount.currency_code.value == Currency.EUR.value
    assert first.occurred_at == datetime(2026, 11, 23, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("2026-11-23T10:00:00Z", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        (
            "2026-11-23T10:00:00.123456789+01:00",
            datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1))),
        ),
        ("2026-11-23", datetime(2026, 11, 23)),
    ],
)
def test_date_times_parse_as_iso_8601(text: str, parsed: datetime) -> None:
    assert _datetime(text) == parsed


@pytest.mark.parametrize("value", ["garbage", 5, "2026-13-01T00:00:00Z"])
def test_a_bad_date_time_keeps_strawberrys_error(value: object) -> None:
    with pytest.raises(StrawberryInputCoercionError, match="Value cannot represent a DateTime"):
        _datetime(value)


def test_every_field_of_a_spend_event_is_built_by_its_plan() -> None:
    # given the served schema's view of the spend inputs
    schema = build_schema()
    context = InputContext(None, schema.config, schema.schema_converter.scalar_registry, ())
    # then no field of them falls back to Strawberry's generic (and slow) conversion:
    # a 1,000-event batch would pay for it per event (an enum's resolved type included)
    for cls in (RecordSpendInput, SpendEventInput, MoneyInput):
        fallbacks = [name for name, _, _, build in _plan_of(cls, context) if build is None]
        assert fallbacks == [], cls.__name__
