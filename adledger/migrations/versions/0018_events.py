"""Partner events (issue 26): `events`, partitioned by month of `created_at`, and the
per-center sequence counter `event_sequences`.

An event is written in the transaction of the change it reports, without a sequence
number; the sequencer numbers a center's committed events under its `event_sequences`
row, so the numbers are gapless in the order the feed shows them. Old months are dropped
whole (`prune-events`), hence the partitions; their unique key must hold `created_at`.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adledger import clock
from adledger.domain.months import month_of, months_from
from adledger.store.partitions import attach_month_sql, default_partition_sql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHS_AHEAD = 3


def upgrade() -> None:
    op.execute("CREATE SEQUENCE events_id_seq AS bigint")
    op.execute(
        "CREATE TABLE events ("
        "id bigint NOT NULL DEFAULT nextval('events_id_seq'), "
        "business_center_id bigint NOT NULL, type varchar(64) NOT NULL, sequence bigint, "
        "api_version varchar(16) NOT NULL, subject_type varchar(40) NOT NULL, "
        "subject_id bigint NOT NULL, data jsonb NOT NULL, created_at timestamptz NOT NULL, "
        "CONSTRAINT pk_events PRIMARY KEY (id, created_at)"
        ") PARTITION BY RANGE (created_at)"
    )
    # The feed: a center's events in sequence order.
    op.execute(
        "CREATE INDEX ix_events_business_center_id_sequence ON events "
        "(business_center_id, sequence) WHERE sequence IS NOT NULL"
    )
    # The sequencer: a center's events still to number, in id order.
    op.execute(
        "CREATE INDEX ix_events_unsequenced ON events (business_center_id, id) "
        "WHERE sequence IS NULL"
    )
    op.execute(default_partition_sql("events"))
    # A test run at another date gets its months.
    for month in months_from(month_of(clock.now()), MONTHS_AHEAD + 1):
        for statement in attach_month_sql("events", month):
            op.execute(statement)
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
    op.create_table(
        "event_sequences",
        sa.Column("business_center_id", sa.BigInteger(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["business_center_id"],
            ["business_centers.id"],
            name=op.f("fk_event_sequences_business_center_id_business_centers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("business_center_id", name=op.f("pk_event_sequences")),
    )


def downgrade() -> None:
    op.drop_table("event_sequences")
    op.execute("DROP TABLE events")  # its partitions and its sequence go with it
