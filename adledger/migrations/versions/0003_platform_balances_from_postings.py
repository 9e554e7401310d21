"""Platform ledger accounts are never locked: their balance is the sum of their postings.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

PLATFORM_KINDS = (
    "'payments_clearing', 'revenue', 'voucher_issuance', "
    "'credit_line_issuance', 'refunds_clearing', 'forfeited'"
)


def upgrade() -> None:
    op.alter_column(
        "ledger_postings", "balance_after", existing_type=sa.BigInteger(), nullable=True
    )
    op.execute(f"UPDATE ledger_accounts SET balance = 0 WHERE kind IN ({PLATFORM_KINDS})")


def downgrade() -> None:
    # Postings are append-only, so platform postings keep their NULL running balance;
    # only the cached balances the old code maintained are restored.
    op.execute(
        "UPDATE ledger_accounts a SET balance = COALESCE("
        "(SELECT SUM(p.amount) FROM ledger_postings p WHERE p.account_id = a.id), 0) "
        f"WHERE a.kind IN ({PLATFORM_KINDS})"
    )
