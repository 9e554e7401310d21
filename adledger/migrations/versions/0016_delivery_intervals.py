"""Delivering intervals (issue 23): spend is billed only for the time a campaign delivered.

A campaign delivers while SCHEDULED or ACTIVE. The interval it is in now starts at
`campaigns.delivering_since` (NULL when it does not deliver; a CHECK ties it to the
status, so a status written without its interval fails); each interval that closed (a
pause, a stop, its end) is a row of `campaign_delivery_intervals`. Keeping the open one on
the campaign row, which recordSpend locks anyway, lets an event inside it cost no read.

Backfill, from what the rows kept (generous where they kept nothing: late reports for a
moment the campaign may not have delivered are taken, as they were before):
- SCHEDULED and ACTIVE deliver since their launch;
- PAUSED delivered from the launch to the pause; COMPLETED to the pause when it was paused
  at its end, else to its completion; BUDGET_EXHAUSTED to its settlement, else to now (when
  it stopped was not kept);
- CANCELED and REJECTED campaigns that delivered something (spend or impressions) from the
  launch to their settlement, else to their cancellation request, else to now.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DELIVERING_SINCE = "(status IN ('SCHEDULED', 'ACTIVE')) = (delivering_since IS NOT NULL)"

_OPEN = (
    "UPDATE campaigns SET delivering_since = COALESCE(launched_at, created_at) "
    "WHERE status IN ('SCHEDULED', 'ACTIVE')"
)
_CLOSED = """
INSERT INTO campaign_delivery_intervals (campaign_id, opened_at, closed_at)
SELECT id, opened, GREATEST(opened, closed) FROM (
  SELECT c.id, COALESCE(c.launched_at, c.created_at) AS opened,
    CASE
      WHEN c.status = 'PAUSED' THEN COALESCE(c.paused_at, now())
      WHEN c.status = 'COMPLETED' AND c.paused_at_end
        THEN COALESCE(c.paused_at, c.completed_at, now())
      WHEN c.status = 'COMPLETED' THEN COALESCE(c.completed_at, c.settled_at, now())
      ELSE COALESCE(
        c.settled_at,
        (SELECT min(r.requested_at) FROM cancellation_requests r WHERE r.campaign_id = c.id),
        now())
    END AS closed
  FROM campaigns c
  WHERE c.status IN ('PAUSED', 'COMPLETED', 'BUDGET_EXHAUSTED')
     OR (c.status IN ('CANCELED', 'REJECTED') AND (c.spent > 0 OR c.impressions > 0))
) AS ended
"""


def upgrade() -> None:
    op.add_column(
        "campaigns", sa.Column("delivering_since", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "campaign_delivery_intervals",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "closed_at >= opened_at",
            name=op.f("ck_campaign_delivery_intervals_closed_after_opened"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_delivery_intervals_campaign_id_campaigns"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_delivery_intervals")),
    )
    op.create_index(
        "ix_campaign_delivery_intervals_campaign_id",
        "campaign_delivery_intervals",
        ["campaign_id", "closed_at"],
    )
    op.execute(_OPEN)
    op.execute(_CLOSED)
    op.create_check_constraint(
        op.f("ck_campaigns_delivering_since"), "campaigns", _DELIVERING_SINCE
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_campaigns_delivering_since"), "campaigns", type_="check")
    op.drop_index("ix_campaign_delivery_intervals_campaign_id", "campaign_delivery_intervals")
    op.drop_table("campaign_delivery_intervals")
    op.drop_column("campaigns", "delivering_since")
