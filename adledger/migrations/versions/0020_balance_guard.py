"""Balance guard (issue 27): what each wallet spent per day (the runway's burn rate, kept
as spend is applied, never summed from postings on a read), its low-balance alerts and
its automatic recharge rule.

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _wallet_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["wallet_id"],
        ["wallets.id"],
        name=op.f(f"fk_{table}_wallet_id_wallets"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "wallet_spend_days",
        sa.Column("wallet_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_wallet_spend_days_amount_not_negative")),
        _wallet_fk("wallet_spend_days"),
        sa.PrimaryKeyConstraint("wallet_id", "day", name=op.f("pk_wallet_spend_days")),
    )
    op.create_table(
        "balance_alerts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("wallet_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=True),
        sa.Column("days", sa.Numeric(6, 2), nullable=True),
        sa.Column("armed", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("last_triggered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('BALANCE_BELOW', 'RUNWAY_BELOW_DAYS')",
            name=op.f("ck_balance_alerts_kind_known"),
        ),
        sa.CheckConstraint(
            "(kind = 'BALANCE_BELOW' AND threshold > 0 AND days IS NULL) OR "
            "(kind = 'RUNWAY_BELOW_DAYS' AND days > 0 AND threshold IS NULL)",
            name=op.f("ck_balance_alerts_one_measure"),
        ),
        _wallet_fk("balance_alerts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_balance_alerts")),
        sa.UniqueConstraint("wallet_id", "position", name=op.f("uq_balance_alerts_wallet_id")),
    )
    op.create_table(
        "auto_recharge_rules",
        sa.Column("wallet_id", sa.BigInteger(), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("target_balance", sa.BigInteger(), nullable=True),
        sa.Column("monthly_cap", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("armed", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("in_flight_invoice_id", sa.BigInteger(), nullable=True),
        sa.Column("crossings", sa.Integer(), server_default="0", nullable=False),
        sa.Column("pending_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("month", sa.Date(), nullable=True),
        sa.Column("recharged_this_month", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cap_noted_month", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('ACTIVE', 'SUSPENDED', 'DISABLED')",
            name=op.f("ck_auto_recharge_rules_status_known"),
        ),
        sa.CheckConstraint(
            "threshold > 0 AND (amount IS NULL) <> (target_balance IS NULL) "
            "AND (amount IS NULL OR amount > 0) AND (target_balance IS NULL OR "
            "target_balance > threshold) AND (monthly_cap IS NULL OR monthly_cap > 0)",
            name=op.f("ck_auto_recharge_rules_amounts"),
        ),
        sa.CheckConstraint(
            "failures >= 0 AND recharged_this_month >= 0 AND crossings >= 0",
            name=op.f("ck_auto_recharge_rules_counts_not_negative"),
        ),
        sa.CheckConstraint(
            "pending_since IS NULL OR in_flight_invoice_id IS NULL",
            name=op.f("ck_auto_recharge_rules_one_at_a_time"),
        ),
        _wallet_fk("auto_recharge_rules"),
        sa.ForeignKeyConstraint(
            ["in_flight_invoice_id"],
            ["invoices.id"],
            name=op.f("fk_auto_recharge_rules_in_flight_invoice_id_invoices"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("wallet_id", name=op.f("pk_auto_recharge_rules")),
    )


def downgrade() -> None:
    op.drop_table("auto_recharge_rules")
    op.drop_table("balance_alerts")
    op.drop_table("wallet_spend_days")
