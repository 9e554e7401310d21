"""Room on each page for the rows every spend batch updates (issue 28): campaigns, ad
accounts and ledger accounts are filled to 50 % (new pages; VACUUM FULL rewrites old ones).

A spend batch updates each campaign's totals, its ad account's spend against the cap and
its ledger accounts' balances while it holds them locked. An update that finds room on
its row's page writes no index entry (a HOT update); on a full page it writes one into
each of the table's indexes (campaigns have eight). Under mixed spend batches a quarter
of the campaigns' updates were HOT, three fifths now, and the one write statement of a
batch of fifty campaigns went from 4.3-4.6 ms to 3.6 (bench/spend.py, case d).

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("campaigns", "ad_accounts", "ledger_accounts")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
