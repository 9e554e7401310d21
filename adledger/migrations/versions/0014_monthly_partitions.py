"""Ledger postings and spend events partitioned by month, and the ledger's verification
checkpoint.

Both tables only grow. Partitioned by month (postings by `created_at`, spend events by
`recorded_at`), the hourly ledger check reads only the newest partitions and old months
can be archived whole. A partitioned table's unique keys must hold its partition column,
so the once-ever rule for a delivery report's event id moves to `spend_event_ids`, one
narrow row per event. Existing rows are copied month by month, with a line per month.

The checkpoint (`ledger_verifications`, and the sums in `ledger_verified_accounts` and
`ledger_verified_campaigns`) lets `adledger verify-ledger` check only what was written
since its last clean run.

Revision ID: 0014
Revises: 0013
"""

import sys
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

from adledger import clock
from adledger.domain.months import month_of, months_from, next_month
from adledger.store.partitions import attach_month_sql, default_partition_sql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHS_AHEAD = 3

_POSTING_COLUMNS = "id, entry_id, account_id, amount, balance_after, kind, created_at"
_EVENT_COLUMNS = (
    "id, event_id, campaign_id, amount, refused, refusal, impressions, occurred_at, recorded_at"
)


def upgrade() -> None:
    _partition_postings()
    _partition_spend_events()
    _checkpoint_tables()
    op.create_index("ix_ledger_entries_created_at", "ledger_entries", ["created_at"])


def _partition_postings() -> None:
    _set_aside("ledger_postings", ["pk_ledger_postings", "ix_ledger_postings_account_id_id",
                                   "ix_ledger_postings_entry_id"])  # fmt: skip
    op.execute("DROP TRIGGER ledger_postings_append_only ON ledger_postings_unpartitioned")
    op.execute(
        "CREATE TABLE ledger_postings ("
        "id bigint NOT NULL DEFAULT nextval('ledger_postings_id_seq'), "
        "entry_id bigint NOT NULL, account_id bigint NOT NULL, amount bigint NOT NULL, "
        "balance_after bigint, kind varchar(40) NOT NULL, "
        "created_at timestamptz NOT NULL DEFAULT now(), "
        "CONSTRAINT pk_ledger_postings PRIMARY KEY (id, created_at), "
        "CONSTRAINT ck_ledger_postings_amount_non_zero CHECK (amount <> 0), "
        "CONSTRAINT fk_ledger_postings_account_id_ledger_accounts FOREIGN KEY (account_id) "
        "REFERENCES ledger_accounts (id) ON DELETE RESTRICT, "
        "CONSTRAINT fk_ledger_postings_entry_id_ledger_entries FOREIGN KEY (entry_id) "
        "REFERENCES ledger_entries (id) ON DELETE RESTRICT"
        ") PARTITION BY RANGE (created_at)"
    )
    op.execute("CREATE INDEX ix_ledger_postings_account_id_id ON ledger_postings (account_id, id)")
    op.execute("CREATE INDEX ix_ledger_postings_entry_id ON ledger_postings (entry_id)")
    # Postings arrive in time order: a block range index finds a window for little upkeep.
    op.execute(
        "CREATE INDEX ix_ledger_postings_created_at ON ledger_postings USING brin (created_at)"
    )
    _partitions_and_rows("ledger_postings", "created_at", _POSTING_COLUMNS)
    op.execute(
        "CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings "
        "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
    )


def _partition_spend_events() -> None:
    _set_aside("spend_events", ["pk_spend_events", "ix_spend_events_campaign_id",
                                "uq_spend_events_event_id"])  # fmt: skip
    op.execute(
        "CREATE TABLE spend_events ("
        "id bigint NOT NULL DEFAULT nextval('spend_events_id_seq'), "
        "event_id varchar(200) NOT NULL, campaign_id bigint NOT NULL, amount bigint NOT NULL, "
        "refused bigint NOT NULL DEFAULT 0, refusal varchar(40), "
        "impressions bigint NOT NULL DEFAULT 0, occurred_at timestamptz NOT NULL, "
        "recorded_at timestamptz NOT NULL DEFAULT now(), "
        "CONSTRAINT pk_spend_events PRIMARY KEY (id, recorded_at), "
        "CONSTRAINT ck_spend_events_amounts "
        "CHECK (amount >= 0 AND refused >= 0 AND refused <= amount), "
        "CONSTRAINT fk_spend_events_campaign_id_campaigns FOREIGN KEY (campaign_id) "
        "REFERENCES campaigns (id) ON DELETE RESTRICT"
        ") PARTITION BY RANGE (recorded_at)"
    )
    op.execute(
        "CREATE INDEX ix_spend_events_campaign_id ON spend_events (campaign_id, recorded_at)"
    )
    op.create_table(
        "spend_event_ids",
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_spend_event_ids")),
    )
    op.execute(
        "INSERT INTO spend_event_ids (event_id, recorded_at) "
        "SELECT event_id, recorded_at FROM spend_events_unpartitioned"
    )
    _partitions_and_rows("spend_events", "recorded_at", _EVENT_COLUMNS)


def _set_aside(table: str, indexes: list[str]) -> None:
    """Rename the table and its indexes out of the way; its sequence outlives it."""
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE")
    op.execute(f"ALTER TABLE {table} RENAME TO {table}_unpartitioned")
    for index in indexes:
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_unpartitioned")


def _partitions_and_rows(table: str, column: str, columns: str) -> None:
    """A partition per month from the oldest row's to MONTHS_AHEAD after this one, the
    default partition, then the rows, a month at a time (a line each on stderr: this is
    the one long step of an upgrade of a large ledger)."""
    oldest = op.get_bind().scalar(sa.text(f"SELECT min({column}) FROM {table}_unpartitioned"))
    this_month = month_of(clock.now())  # a test run at another date gets its months
    first = min(month_of(oldest), this_month) if oldest is not None else this_month
    months = _months_between(first, this_month)
    op.execute(default_partition_sql(table))
    for month in months:
        for statement in attach_month_sql(table, month):
            op.execute(statement)
    for done, month in enumerate(months, start=1):
        _copy_month(table, column, columns, month)
        if oldest is not None:  # a new database has nothing to copy, nor to report
            print(f"  {table}: copied {month:%Y-%m} [{done}/{len(months)}]", file=sys.stderr)
    op.execute(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_unpartitioned "
        f"WHERE {column} >= '{next_month(months[-1]):%Y-%m-%d}+00'"
    )
    op.execute(f"DROP TABLE {table}_unpartitioned")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")


def _months_between(first: date, this_month: date, ahead: int = MONTHS_AHEAD) -> list[date]:
    count = (this_month.year - first.year) * 12 + this_month.month - first.month + 1
    return months_from(first, count + ahead)


def _copy_month(table: str, column: str, columns: str, month: date) -> None:
    op.execute(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_unpartitioned "
        f"WHERE {column} >= '{month:%Y-%m-%d}+00' AND {column} < '{next_month(month):%Y-%m-%d}+00' "
        f"ORDER BY id"
    )


def _checkpoint_tables() -> None:
    op.create_table(
        "ledger_verifications",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        # The clean run this one continues (0 for the first): of two runs that started
        # from the same checkpoint, only the first to commit records its sums.
        sa.Column("follows", sa.BigInteger(), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        # The postings checked were those written in [since, until): no since, all.
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("postings_read", sa.BigInteger(), nullable=False),
        sa.Column(
            "checked_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_verifications")),
        sa.UniqueConstraint("follows", name=op.f("uq_ledger_verifications_follows")),
    )
    op.create_table(
        "ledger_verified_accounts",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("posted", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_ledger_verified_accounts")),
    )
    op.create_table(
        "ledger_verified_campaigns",
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_ledger_verified_campaigns")),
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_created_at", table_name="ledger_entries")
    for table in ("ledger_verified_campaigns", "ledger_verified_accounts", "ledger_verifications"):
        op.drop_table(table)
    _unpartition("spend_events", _EVENT_COLUMNS)
    op.execute("DROP TABLE spend_event_ids")
    op.execute(
        "ALTER TABLE spend_events ADD CONSTRAINT pk_spend_events PRIMARY KEY (id), "
        "ADD CONSTRAINT uq_spend_events_event_id UNIQUE (event_id), "
        "ADD CONSTRAINT fk_spend_events_campaign_id_campaigns FOREIGN KEY (campaign_id) "
        "REFERENCES campaigns (id) ON DELETE RESTRICT"
    )
    op.execute("CREATE INDEX ix_spend_events_campaign_id ON spend_events (campaign_id)")
    _unpartition("ledger_postings", _POSTING_COLUMNS)
    op.execute(
        "ALTER TABLE ledger_postings ADD CONSTRAINT pk_ledger_postings PRIMARY KEY (id), "
        "ADD CONSTRAINT fk_ledger_postings_account_id_ledger_accounts FOREIGN KEY (account_id) "
        "REFERENCES ledger_accounts (id) ON DELETE RESTRICT, "
        "ADD CONSTRAINT fk_ledger_postings_entry_id_ledger_entries FOREIGN KEY (entry_id) "
        "REFERENCES ledger_entries (id) ON DELETE RESTRICT"
    )
    op.execute("CREATE INDEX ix_ledger_postings_account_id_id ON ledger_postings (account_id, id)")
    op.execute("CREATE INDEX ix_ledger_postings_entry_id ON ledger_postings (entry_id)")
    op.execute(
        "CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings "
        "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
    )


def _unpartition(table: str, columns: str) -> None:
    """A plain table again with the same rows; the caller adds its keys and indexes."""
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE")
    op.execute(
        f"CREATE TABLE {table}_plain (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    op.execute(f"INSERT INTO {table}_plain ({columns}) SELECT {columns} FROM {table} ORDER BY id")
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {table}_plain RENAME TO {table}")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
