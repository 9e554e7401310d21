"""Cards on file and campaigns paid by installments (DESIGN §8): each business center's
saved card and the setups that saved it, a receivable account per campaign (what its
invoices still owe), installment invoices unique per campaign and number, their charge
attempts, why a campaign was paused, and where a credit line's 28-day cycles start.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _card_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("card_reference", sa.String(length=255), nullable=True),
        sa.Column("card_brand", sa.String(length=32), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("card_exp_month", sa.Integer(), nullable=True),
        sa.Column("card_exp_year", sa.Integer(), nullable=True),
        sa.Column("card_attached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("credit_line_cycle_anchor", sa.DateTime(timezone=True), nullable=True),
    ]


def _charge_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("charge_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_charge_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_charge_error", sa.Text(), nullable=True),
        sa.Column("superseded_reference", sa.String(length=255), nullable=True),
    ]


def upgrade() -> None:
    for column in _card_columns():
        op.add_column("business_centers", column)
    op.create_table(
        "card_setups",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("business_center_id", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("created_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.ForeignKeyConstraint(
            ["business_center_id"],
            ["business_centers.id"],
            name=op.f("fk_card_setups_business_center_id_business_centers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_card_setups_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_setups")),
        sa.UniqueConstraint("reference", name=op.f("uq_card_setups_reference")),
    )
    op.create_index("ix_card_setups_business_center_id", "card_setups", ["business_center_id"])
    for column in _charge_columns():
        op.add_column("invoices", column)
    op.create_index(
        "uq_invoices_campaign_installment",
        "invoices",
        ["campaign_id", "installment_number"],
        unique=True,
        postgresql_where=sa.text("installment_number IS NOT NULL"),
    )
    op.create_index(
        "ix_invoices_due_work",
        "invoices",
        ["issue_on"],
        postgresql_where=sa.text("status = 'SCHEDULED' OR next_charge_at IS NOT NULL"),
    )
    op.add_column("campaigns", sa.Column("pause_reason", sa.Text(), nullable=True))
    # Every campaign gets its receivable account (zero unless it is paid by installments).
    op.execute(
        sa.text(
            "INSERT INTO ledger_accounts (key, kind, currency, wallet_id, campaign_id, balance) "
            "SELECT 'campaign' || chr(58) || id || chr(58) || 'receivable', 'receivable', "
            "currency, wallet_id, id, 0 FROM campaigns ON CONFLICT (key) DO NOTHING"
        )
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM ledger_accounts a WHERE a.kind = 'receivable' "
        "AND NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.account_id = a.id)"
    )
    op.drop_column("campaigns", "pause_reason")
    op.drop_index("ix_invoices_due_work", table_name="invoices")
    op.drop_index("uq_invoices_campaign_installment", table_name="invoices")
    for column in _charge_columns():
        op.drop_column("invoices", column.name)
    op.drop_index("ix_card_setups_business_center_id", table_name="card_setups")
    op.drop_table("card_setups")
    for column in _card_columns():
        op.drop_column("business_centers", column.name)
