"""Makegood flights (DESIGN §9): a linked zero-price campaign for a GUARANTEED campaign's
missing impressions. Its price is 0 and its delivery reports carry impressions for an
amount of 0, so those two checks allow 0 for it; an offer of a flight carries its dates.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CAMPAIGN_AMOUNTS = "taken >= 0 AND spent >= 0 AND credited >= 0 AND forfeited >= 0"


def upgrade() -> None:
    op.add_column(
        "campaigns", sa.Column("makegood_for_campaign_id", sa.BigInteger(), nullable=True)
    )
    op.create_foreign_key(
        op.f("fk_campaigns_makegood_for_campaign_id_campaigns"),
        "campaigns",
        "campaigns",
        ["makegood_for_campaign_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.drop_constraint(op.f("ck_campaigns_amounts"), "campaigns", type_="check")
    op.create_check_constraint(
        op.f("ck_campaigns_amounts"),
        "campaigns",
        f"(budget > 0 OR (budget = 0 AND makegood_for_campaign_id IS NOT NULL)) AND "
        f"{_CAMPAIGN_AMOUNTS}",
    )
    op.drop_constraint(op.f("ck_spend_events_amounts"), "spend_events", type_="check")
    op.create_check_constraint(
        op.f("ck_spend_events_amounts"),
        "spend_events",
        "amount >= 0 AND refused >= 0 AND refused <= amount",
    )
    op.add_column("makegood_offers", sa.Column("starts_at", sa.DateTime(timezone=True)))
    op.add_column("makegood_offers", sa.Column("ends_at", sa.DateTime(timezone=True)))
    op.add_column(
        "makegood_offers", sa.Column("makegood_campaign_id", sa.BigInteger(), nullable=True)
    )
    op.drop_constraint(op.f("ck_makegood_offers_amounts"), "makegood_offers", type_="check")
    op.create_check_constraint(
        op.f("ck_makegood_offers_amounts"),
        "makegood_offers",
        "missing_impressions > 0 AND (amount > 0 OR (kind = 'FLIGHT' AND amount = 0))",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_makegood_offers_amounts"), "makegood_offers", type_="check")
    op.create_check_constraint(
        op.f("ck_makegood_offers_amounts"),
        "makegood_offers",
        "amount > 0 AND missing_impressions > 0",
    )
    for column in ("makegood_campaign_id", "ends_at", "starts_at"):
        op.drop_column("makegood_offers", column)
    op.drop_constraint(op.f("ck_spend_events_amounts"), "spend_events", type_="check")
    op.create_check_constraint(
        op.f("ck_spend_events_amounts"),
        "spend_events",
        "amount > 0 AND refused >= 0 AND refused <= amount",
    )
    op.drop_constraint(op.f("ck_campaigns_amounts"), "campaigns", type_="check")
    op.create_check_constraint(
        op.f("ck_campaigns_amounts"), "campaigns", f"budget > 0 AND {_CAMPAIGN_AMOUNTS}"
    )
    op.drop_constraint(
        op.f("fk_campaigns_makegood_for_campaign_id_campaigns"), "campaigns", type_="foreignkey"
    )
    op.drop_column("campaigns", "makegood_for_campaign_id")
