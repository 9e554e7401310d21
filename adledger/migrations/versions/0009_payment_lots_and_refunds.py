"""Refunds to the original payment method (DESIGN §9): every payment that brought money in
is a lot (its provider payment, its amount, how much has gone back), refund requests, and
one provider refund per lot a request draws on.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "payment_lots",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("business_center_id", sa.BigInteger(), nullable=False),
        sa.Column("invoice_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_reference", sa.String(length=255), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        _fk("payment_lots", "business_center_id", "business_centers", "RESTRICT"),
        _fk("payment_lots", "invoice_id", "invoices", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_lots")),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_payment_lots_invoice_id")),
        sa.CheckConstraint(
            "amount > 0 AND refunded >= 0 AND refunded <= amount",
            name=op.f("ck_payment_lots_amounts"),
        ),
    )
    op.create_index("ix_payment_lots_business_center_id", "payment_lots", ["business_center_id"])
    op.create_table(
        "refund_requests",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("business_center_id", sa.BigInteger(), nullable=False),
        sa.Column("wallet_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        _fk("refund_requests", "business_center_id", "business_centers", "RESTRICT"),
        _fk("refund_requests", "wallet_id", "wallets", "RESTRICT"),
        _fk("refund_requests", "campaign_id", "campaigns", "RESTRICT"),
        _fk("refund_requests", "requested_by_user_id", "users", "SET NULL"),
        _fk("refund_requests", "decided_by_user_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_requests")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refund_requests_amount")),
    )
    op.create_index(
        "ix_refund_requests_business_center_id", "refund_requests", ["business_center_id"]
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("refund_request_id", sa.BigInteger(), nullable=False),
        sa.Column("lot_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider_reference", sa.String(length=255), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        _fk("refunds", "refund_request_id", "refund_requests", "RESTRICT"),
        _fk("refunds", "lot_id", "payment_lots", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("provider_reference", name=op.f("uq_refunds_provider_reference")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount")),
    )
    op.create_index("ix_refunds_refund_request_id", "refunds", ["refund_request_id"])


def downgrade() -> None:
    op.drop_index("ix_refunds_refund_request_id", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("ix_refund_requests_business_center_id", table_name="refund_requests")
    op.drop_table("refund_requests")
    op.drop_index("ix_payment_lots_business_center_id", table_name="payment_lots")
    op.drop_table("payment_lots")
