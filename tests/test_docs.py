"""The documents say what the code does (what the first reader of each one tripped on)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from adledger.domain.campaigns import PaymentPlan
from adledger.domain.events import API_VERSION, EventType
from adledger.domain.money import Currency, format_minor
from adledger.domain.schedules import CardPlan, card_schedule
from adledger.services.webhook_data import envelope

ROOT = Path(__file__).resolve().parent.parent
# The keys of what a partner receives (services/webhook_data.envelope), read off a row.
ENVELOPE_KEYS = set(
    envelope(
        SimpleNamespace(
            id=1,
            type="test.ping",
            sequence=1,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            api_version=API_VERSION,
            business_center_id=1,
            data={},
        )
    )
)


def _section(path: Path, heading: str) -> str:
    text = path.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_billing_guide_offers_every_payment_plan_it_takes() -> None:
    section = _section(ROOT / "docs" / "billing.md", "Campaigns paid from the credit balance")
    table = [line for line in section.splitlines() if line.startswith(("| `MANUAL`", "| `AUTO"))]

    assert len(table) == 3
    for plan in PaymentPlan:
        assert any(f"`{plan.value}`" in row for row in table), plan
    assert "come later" not in section
    assert "the only one" not in section


def test_the_readme_shows_the_demo_installments_as_they_are_charged() -> None:
    # The demo's card campaign: 1000.00, a flight from an hour ago to 30 days ahead.
    now = datetime(2026, 3, 1, tzinfo=UTC)
    flight = (now - timedelta(hours=1), now + timedelta(days=30))
    schedule = card_schedule(CardPlan.INSTALLMENTS, 100_000, 25_000, flight, now)
    parts = " + ".join(format_minor(i.amount, Currency("USD")) for i in schedule.installments)

    readme = " ".join((ROOT / "README.md").read_text().split())
    assert parts == "333.33 + 333.33 + 333.34"
    assert f"1000.00 over 30 days is split into three installments ({parts})" in readme


def _json_examples(text: str) -> list[dict[str, object]]:
    """Every ```json block of a document, parsed (one that does not parse fails here)."""
    blocks = text.split("```json\n")[1:]
    return [json.loads(block.split("\n```", 1)[0]) for block in blocks]


def test_the_integration_guide_shows_every_event_type_with_its_envelope() -> None:
    text = (ROOT / "docs" / "integrations.md").read_text()
    examples = {e.get("type"): e for e in _json_examples(text) if isinstance(e, dict)}

    for event_type in EventType:
        assert f"#### `{event_type.value}`" in text, event_type
        example = examples.get(event_type.value)
        assert example is not None, f"no JSON example whose type is {event_type.value}"
        assert set(example) == ENVELOPE_KEYS, event_type
        assert example["apiVersion"] == API_VERSION, event_type


def test_the_readme_and_the_docs_index_link_the_integration_guide() -> None:
    assert "(docs/integrations.md)" in (ROOT / "README.md").read_text()
    assert "(integrations.md)" in (ROOT / "docs" / "README.md").read_text()
