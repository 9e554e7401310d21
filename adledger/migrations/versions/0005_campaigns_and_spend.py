"""Campaigns paid from the credit balance, spend events (each applied once ever), the
voucher-funded part of a campaign's reserve, integration users, and provider voids retried.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("ad_account_id", sa.BigInteger(), nullable=False),
        sa.Column("business_center_id", sa.BigInteger(), nullable=False),
        sa.Column("wallet_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("delivery_type", sa.String(length=16), nullable=False),
        sa.Column("payment_plan", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("budget", sa.BigInteger(), nullable=False),
        sa.Column("taken", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("credited", sa.BigInteger(), nullable=False),
        sa.Column("forfeited", sa.BigInteger(), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("launched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at_end", sa.Boolean(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shortfall_invoice_id", sa.BigInteger(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("created_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "budget > 0 AND taken >= 0 AND spent >= 0 AND credited >= 0 AND forfeited >= 0",
            name=op.f("ck_campaigns_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["ad_account_id"],
            ["ad_accounts.id"],
            name=op.f("fk_campaigns_ad_account_id_ad_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["business_center_id"],
            ["business_centers.id"],
            name=op.f("fk_campaigns_business_center_id_business_centers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_campaigns_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shortfall_invoice_id"],
            ["invoices.id"],
            name=op.f("fk_campaigns_shortfall_invoice_id_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name=op.f("fk_campaigns_wallet_id_wallets"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index(
        op.f("ix_campaigns_ad_account_id"), "campaigns", ["ad_account_id"], unique=False
    )
    op.create_index(
        op.f("ix_campaigns_business_center_id"), "campaigns", ["business_center_id"], unique=False
    )
    op.create_index("ix_campaigns_status_ends_at", "campaigns", ["status", "ends_at"], unique=False)
    op.create_index(
        "ix_campaigns_status_starts_at", "campaigns", ["status", "starts_at"], unique=False
    )
    op.create_index(
        "ix_campaigns_unsettled_ends_at",
        "campaigns",
        ["ends_at"],
        unique=False,
        postgresql_where=sa.text(
            "settled_at IS NULL AND status NOT IN ('DRAFT', 'CANCELED', 'REJECTED')"
        ),
    )
    op.create_index(
        "ix_campaigns_wallet_id_status", "campaigns", ["wallet_id", "status"], unique=False
    )
    op.create_table(
        "spend_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("refused", sa.BigInteger(), nullable=False),
        sa.Column("refusal", sa.String(length=40), nullable=True),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "amount > 0 AND refused >= 0 AND refused <= amount",
            name=op.f("ck_spend_events_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_spend_events_campaign_id_campaigns"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_spend_events_event_id")),
    )
    op.create_index(
        op.f("ix_spend_events_campaign_id"), "spend_events", ["campaign_id"], unique=False
    )
    op.add_column(
        "invoices", sa.Column("void_pending", sa.Boolean(), server_default="false", nullable=False)
    )
    op.add_column("ledger_entries", sa.Column("campaign_id", sa.BigInteger(), nullable=True))
    op.create_index(
        op.f("ix_ledger_entries_campaign_id"), "ledger_entries", ["campaign_id"], unique=False
    )
    op.create_foreign_key(
        op.f("fk_ledger_entries_campaign_id_campaigns"),
        "ledger_entries",
        "campaigns",
        ["campaign_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.add_column(
        "users", sa.Column("is_integration", sa.Boolean(), server_default="false", nullable=False)
    )
    _customer_kinds("'cash', 'vouchers', 'reserve', 'voucher_reserve', 'hold'")


def _customer_kinds(kinds: str) -> None:
    """Customer money never goes below zero, the voucher reserve included."""
    op.drop_constraint(
        op.f("ck_ledger_accounts_customer_balance_non_negative"), "ledger_accounts", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_ledger_accounts_customer_balance_non_negative"),
        "ledger_accounts",
        f"kind NOT IN ({kinds}) OR balance >= 0",
    )


def downgrade() -> None:
    _customer_kinds("'cash', 'vouchers', 'reserve', 'hold'")
    op.drop_column("users", "is_integration")
    op.drop_constraint(
        op.f("fk_ledger_entries_campaign_id_campaigns"), "ledger_entries", type_="foreignkey"
    )
    op.drop_index(op.f("ix_ledger_entries_campaign_id"), table_name="ledger_entries")
    op.drop_column("ledger_entries", "campaign_id")
    op.drop_column("invoices", "void_pending")
    op.drop_index(op.f("ix_spend_events_campaign_id"), table_name="spend_events")
    op.drop_table("spend_events")
    op.drop_index("ix_campaigns_wallet_id_status", table_name="campaigns")
    op.drop_index(
        "ix_campaigns_unsettled_ends_at",
        table_name="campaigns",
        postgresql_where=sa.text(
            "settled_at IS NULL AND status NOT IN ('DRAFT', 'CANCELED', 'REJECTED')"
        ),
    )
    op.drop_index("ix_campaigns_status_starts_at", table_name="campaigns")
    op.drop_index("ix_campaigns_status_ends_at", table_name="campaigns")
    op.drop_index(op.f("ix_campaigns_business_center_id"), table_name="campaigns")
    op.drop_index(op.f("ix_campaigns_ad_account_id"), table_name="campaigns")
    op.drop_table("campaigns")
