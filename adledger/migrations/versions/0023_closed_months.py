"""Closed months (issue 29): the balance of every wallet bucket at the end of each month,
a statement that never changes once its month is closed, and the credit limits a wallet
had, for its balance at any instant.

- `ledger_months`: the months closed, one row each, by the `close-ledger-months` job
  once every posting dated in the month is committed (services/closings.py), and when
  `verify-ledger` first found its closings true to its postings.
- `ledger_account_months`: per wallet bucket account (cash, vouchers, credit line) and
  closed month in which it moved: what it moved in the month and its balance at the end.
  An account that did not move in a month has no row for it: its balance is its last
  row's. A balance at an instant is then the last closing before the instant's month plus
  the postings since: a few rows, however many years the wallet has.
- A posting dated in a closed month is refused (a statement-level trigger on
  `ledger_postings`): postings are dated when they are written, so only a clock that
  went back could date one there.
- `wallet_credit_limits`: each credit limit a wallet was given, from when. Wallets with
  a limit now get one row dated at their creation (the history before this migration was
  not kept).

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFUSE = """
CREATE FUNCTION ledger_refuse_closed_months() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM added WHERE created_at <
      (SELECT (max(month) + interval '1 month') AT TIME ZONE 'UTC' FROM ledger_months)
  ) THEN
    RAISE EXCEPTION 'a posting dated in a closed month'
      USING ERRCODE = 'check_violation',
            HINT = 'postings are dated when written: is this host''s clock behind?';
  END IF;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute(
        "CREATE TABLE ledger_months ("
        "month date PRIMARY KEY CHECK (extract(day FROM month) = 1), "
        "closed_at timestamptz NOT NULL, verified_at timestamptz)"
    )
    op.execute(
        "CREATE TABLE ledger_account_months ("
        "account_id bigint NOT NULL REFERENCES ledger_accounts (id) ON DELETE RESTRICT, "
        "month date NOT NULL REFERENCES ledger_months (month) ON DELETE RESTRICT, "
        "moved bigint NOT NULL, closing bigint NOT NULL, "
        "PRIMARY KEY (account_id, month))"
    )
    op.execute(
        "CREATE TABLE wallet_credit_limits ("
        "id bigserial PRIMARY KEY, "
        "wallet_id bigint NOT NULL REFERENCES wallets (id) ON DELETE CASCADE, "
        "set_at timestamptz NOT NULL, "
        "credit_limit bigint NOT NULL CHECK (credit_limit >= 0))"
    )
    op.execute(
        "CREATE INDEX ix_wallet_credit_limits_wallet_id_set_at "
        "ON wallet_credit_limits (wallet_id, set_at)"
    )
    op.execute(
        "INSERT INTO wallet_credit_limits (wallet_id, set_at, credit_limit) "
        "SELECT id, created_at, credit_limit FROM wallets WHERE credit_limit <> 0"
    )
    op.execute(_REFUSE)
    op.execute(
        "CREATE TRIGGER ledger_postings_closed_months AFTER INSERT ON ledger_postings "
        "REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
        "EXECUTE FUNCTION ledger_refuse_closed_months()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_postings_closed_months ON ledger_postings")
    op.execute("DROP FUNCTION ledger_refuse_closed_months()")
    op.execute("DROP TABLE wallet_credit_limits")
    op.execute("DROP TABLE ledger_account_months")
    op.execute("DROP TABLE ledger_months")
