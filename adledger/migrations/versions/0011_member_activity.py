"""The subscription inactivity refund (DESIGN §9): the days each member made an
authenticated request, and which plan periods an inactivity refund covers (each once).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_activity",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_member_activity_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_member_activity")),
    )
    op.create_table(
        "inactivity_refund_periods",
        sa.Column("refund_request_id", sa.BigInteger(), nullable=False),
        sa.Column("invoice_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["refund_request_id"],
            ["refund_requests.id"],
            name=op.f("fk_inactivity_refund_periods_refund_request_id_refund_requests"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_inactivity_refund_periods_invoice_id_invoices"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_inactivity_refund_periods")),
    )
    op.create_index(
        "ix_inactivity_refund_periods_request",
        "inactivity_refund_periods",
        ["refund_request_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_inactivity_refund_periods_request", table_name="inactivity_refund_periods")
    op.drop_table("inactivity_refund_periods")
    op.drop_table("member_activity")
