"""A wallet's balance reads its accounts by kind (issue 28): the index on ledger_accounts'
wallet_id becomes (wallet_id, kind). Every campaign adds four accounts under its wallet
(reserve, voucher reserve, hold, receivable), and the balance reads only the wallet's
cash, vouchers and credit line and its campaigns' holds: with the kind in the index a
wallet of many campaigns no longer has every one of their accounts read for its balance.

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_ledger_accounts_wallet_id_kind"), "ledger_accounts", ["wallet_id", "kind"]
    )
    op.drop_index(op.f("ix_ledger_accounts_wallet_id"), table_name="ledger_accounts")


def downgrade() -> None:
    op.create_index(op.f("ix_ledger_accounts_wallet_id"), "ledger_accounts", ["wallet_id"])
    op.drop_index(op.f("ix_ledger_accounts_wallet_id_kind"), table_name="ledger_accounts")
