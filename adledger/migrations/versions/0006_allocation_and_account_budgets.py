"""Automatic balance allocation and account budget caps: each ad account's cap and the
spend counted in its current period, the history of cap changes, why a campaign stopped,
spend events stamped with the service clock, and one credit-line statement per center
and cycle.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _ad_account_budgets()
    op.create_table(
        "ad_account_budget_changes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("ad_account_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("before_mode", sa.String(length=16), nullable=False),
        sa.Column("before_amount", sa.BigInteger(), nullable=True),
        sa.Column("before_period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("before_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("after_mode", sa.String(length=16), nullable=False),
        sa.Column("after_amount", sa.BigInteger(), nullable=True),
        sa.Column("after_period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("after_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ad_account_id"],
            ["ad_accounts.id"],
            name=op.f("fk_ad_account_budget_changes_ad_account_id_ad_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_ad_account_budget_changes_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_account_budget_changes")),
    )
    op.create_index(
        "ix_ad_account_budget_changes_account_changed",
        "ad_account_budget_changes",
        ["ad_account_id", "changed_at"],
    )
    op.add_column("campaigns", sa.Column("stop_reason", sa.String(length=40), nullable=True))
    op.create_index(
        "ix_campaigns_business_center_id_status", "campaigns", ["business_center_id", "status"]
    )
    op.add_column("invoices", sa.Column("cycle_start", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "uq_invoices_center_kind_cycle",
        "invoices",
        ["business_center_id", "kind", "cycle_start"],
        unique=True,
        postgresql_where=sa.text("cycle_start IS NOT NULL"),
    )


def _ad_account_budgets() -> None:
    op.add_column(
        "ad_accounts",
        sa.Column("budget_mode", sa.String(length=16), server_default="UNLIMITED", nullable=False),
    )
    op.add_column("ad_accounts", sa.Column("budget_amount", sa.BigInteger(), nullable=True))
    op.add_column(
        "ad_accounts", sa.Column("budget_period_start", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "ad_accounts", sa.Column("budget_period_end", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "ad_accounts",
        sa.Column("budget_spent", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_ad_accounts_budget_amounts"),
        "ad_accounts",
        "(budget_amount IS NULL OR budget_amount >= 0) AND budget_spent >= 0",
    )


def downgrade() -> None:
    op.drop_index(
        "uq_invoices_center_kind_cycle",
        table_name="invoices",
        postgresql_where=sa.text("cycle_start IS NOT NULL"),
    )
    op.drop_column("invoices", "cycle_start")
    op.drop_index("ix_campaigns_business_center_id_status", table_name="campaigns")
    op.drop_column("campaigns", "stop_reason")
    op.drop_index(
        "ix_ad_account_budget_changes_account_changed", table_name="ad_account_budget_changes"
    )
    op.drop_table("ad_account_budget_changes")
    op.drop_constraint(op.f("ck_ad_accounts_budget_amounts"), "ad_accounts", type_="check")
    for column in (
        "budget_spent",
        "budget_period_end",
        "budget_period_start",
        "budget_amount",
        "budget_mode",
    ):
        op.drop_column("ad_accounts", column)
