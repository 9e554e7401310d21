"""The documents say what the code does (what the first reader of each one tripped on)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from adledger.domain.campaigns import PaymentPlan
from adledger.domain.money import Currency, format_minor
from adledger.domain.schedules import CardPlan, card_schedule

ROOT = Path(__file__).resolve().parent.parent


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
