"""Makegoods (DESIGN §9): the impressions a GUARANTEED campaign booked, notifications to a
business center (a campaign likely to under-deliver, a makegood offered), and the
makegood offers staff make and customers accept or decline.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("booked_impressions", sa.BigInteger(), nullable=True))
    op.create_check_constraint(
        op.f("ck_campaigns_booked_impressions"),
        "campaigns",
        "booked_impressions IS NULL OR booked_impressions > 0",
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("business_center_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("notifications", "business_center_id", "business_centers", "CASCADE"),
        _fk("notifications", "campaign_id", "campaigns", "CASCADE"),
        _fk("notifications", "created_by_user_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_center", "notifications", ["business_center_id", "id"])
    op.create_index("ix_notifications_campaign_id", "notifications", ["campaign_id"])
    op.create_table(
        "makegood_offers",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("business_center_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("missing_impressions", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("offered_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        _fk("makegood_offers", "campaign_id", "campaigns", "RESTRICT"),
        _fk("makegood_offers", "business_center_id", "business_centers", "RESTRICT"),
        _fk("makegood_offers", "offered_by_user_id", "users", "SET NULL"),
        _fk("makegood_offers", "decided_by_user_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_makegood_offers")),
        sa.CheckConstraint(
            "amount > 0 AND missing_impressions > 0", name=op.f("ck_makegood_offers_amounts")
        ),
    )
    op.create_index(
        "uq_makegood_offers_open",
        "makegood_offers",
        ["campaign_id"],
        unique=True,
        postgresql_where=sa.text("status = 'OFFERED'"),
    )


def downgrade() -> None:
    op.drop_index("uq_makegood_offers_open", table_name="makegood_offers")
    op.drop_table("makegood_offers")
    op.drop_index("ix_notifications_campaign_id", table_name="notifications")
    op.drop_index("ix_notifications_center", table_name="notifications")
    op.drop_table("notifications")
    op.drop_constraint(op.f("ck_campaigns_booked_impressions"), "campaigns", type_="check")
    op.drop_column("campaigns", "booked_impressions")
