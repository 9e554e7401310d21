"""Conservation per campaign (DESIGN §9): a campaign's price, makegoods counted in two
parts, and the ledger check's per-campaign sums.

`price` is what a booking was bought for: the budget at launch, raised with the budget,
never lowered (a budget cut gives money back; it does not re-price what was delivered).
Existing campaigns start from their budget.

A makegood is given back from the campaign's reserve (`made_good_reserve`: it lowers the
budget by as much, so a makegood of the whole price leaves a budget of 0) or is a
reversal of billing for what was billed above the delivered value (`made_good_revenue`).
Makegoods accepted before this revision were all paid from revenue: their postings
(revenue to the wallet, MAKEGOOD_CREDIT, tagged with the campaign) set the new counter, so
`verify-ledger` reports any campaign that was paid back twice before the fix.

`ledger_verified_campaigns` keeps, besides `spent`, what the postings up to the
checkpoint said of every counter; those of an existing checkpoint are computed here from
the postings it covered. A month detached from `ledger_postings` is not read: attach it
again before upgrading, or its campaigns are reported until it is.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AMOUNTS = "taken >= 0 AND spent >= 0 AND credited >= 0 AND forfeited >= 0"
_OLD_BUDGET = "(budget > 0 OR (budget = 0 AND makegood_for_campaign_id IS NOT NULL))"
_NEW_BUDGET = (
    "(budget > 0 OR (budget = 0 AND (makegood_for_campaign_id IS NOT NULL "
    "OR made_good_reserve > 0)))"
)
_MADE_GOOD = "made_good_reserve >= 0 AND made_good_revenue >= 0 AND price >= budget"
_SUMS = ("taken", "credited", "forfeited", "made_good_reserve", "made_good_revenue", "other")


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("price", sa.BigInteger(), nullable=True))
    op.execute("UPDATE campaigns SET price = budget")
    op.alter_column("campaigns", "price", nullable=False)
    for column in ("made_good_reserve", "made_good_revenue"):
        op.add_column(
            "campaigns", sa.Column(column, sa.BigInteger(), nullable=False, server_default="0")
        )
    op.drop_constraint(op.f("ck_campaigns_amounts"), "campaigns", type_="check")
    op.create_check_constraint(
        op.f("ck_campaigns_amounts"), "campaigns", f"{_NEW_BUDGET} AND {_AMOUNTS} AND {_MADE_GOOD}"
    )
    for column in _SUMS:
        op.add_column(
            "ledger_verified_campaigns",
            sa.Column(column, sa.BigInteger(), nullable=False, server_default="0"),
        )
    op.execute(_MAKEGOODS_FROM_REVENUE)
    op.execute(_CHECKPOINT_SUMS)


# Every makegood before this revision moved revenue -> the wallet's cash.
_MAKEGOODS_FROM_REVENUE = (
    "UPDATE campaigns c SET made_good_revenue = m.amount FROM ("
    "SELECT e.campaign_id, -SUM(p.amount) AS amount FROM ledger_postings p "
    "JOIN ledger_entries e ON e.id = p.entry_id "
    "JOIN ledger_accounts a ON a.id = p.account_id "
    "WHERE a.kind = 'revenue' AND p.kind = 'MAKEGOOD_CREDIT' AND e.campaign_id IS NOT NULL "
    "GROUP BY e.campaign_id) m WHERE m.campaign_id = c.id"
)

# What the postings the latest checkpoint covered said of each counter (the rules of
# store/ledger_checks.py as of this revision, frozen here).
_CAMPAIGN_ACCOUNT = "a.campaign_id IS NOT NULL"
_CHECKPOINT_SUMS = (
    "INSERT INTO ledger_verified_campaigns (campaign_id, spent, taken, credited, forfeited, "
    "made_good_reserve, made_good_revenue, other) "
    "SELECT COALESCE(a.campaign_id, e.campaign_id), "
    "COALESCE(-SUM(p.amount) FILTER (WHERE p.kind = 'SPEND' AND p.amount < 0), 0), "
    f"COALESCE(SUM(p.amount) FILTER (WHERE {_CAMPAIGN_ACCOUNT} AND p.kind IN "
    "('CAMPAIGN_LAUNCH', 'BUDGET_INCREASE', 'INSTALLMENT_PAYMENT')), 0) "
    "+ COALESCE(-SUM(p.amount) FILTER (WHERE a.campaign_id IS NULL AND p.kind = 'SPEND' "
    "AND p.amount < 0), 0), "
    f"COALESCE(-SUM(p.amount) FILTER (WHERE {_CAMPAIGN_ACCOUNT} AND p.kind IN "
    "('BUDGET_REDUCTION_CREDIT', 'CANCELLATION_CREDIT', 'UNDERDELIVERY_CREDIT', "
    "'PAUSED_CAMPAIGN_CREDIT')), 0), "
    f"COALESCE(-SUM(p.amount) FILTER (WHERE {_CAMPAIGN_ACCOUNT} AND p.kind = 'ADJUSTMENT'), 0), "
    f"COALESCE(-SUM(p.amount) FILTER (WHERE {_CAMPAIGN_ACCOUNT} "
    "AND p.kind = 'MAKEGOOD_CREDIT'), 0), "
    "COALESCE(-SUM(p.amount) FILTER (WHERE a.kind = 'revenue' AND p.kind = 'MAKEGOOD_CREDIT'), 0), "
    f"COALESCE(SUM(p.amount) FILTER (WHERE {_CAMPAIGN_ACCOUNT} AND p.kind NOT IN "
    "('CAMPAIGN_LAUNCH', 'BUDGET_INCREASE', 'INSTALLMENT_PAYMENT', 'SPEND', "
    "'BUDGET_REDUCTION_CREDIT', 'CANCELLATION_CREDIT', 'UNDERDELIVERY_CREDIT', "
    "'PAUSED_CAMPAIGN_CREDIT', 'ADJUSTMENT', 'MAKEGOOD_CREDIT')), 0) "
    "FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
    "JOIN ledger_accounts a ON a.id = p.account_id "
    "WHERE p.created_at < (SELECT until FROM ledger_verifications ORDER BY id DESC LIMIT 1) "
    "AND (a.campaign_id IS NOT NULL OR (e.campaign_id IS NOT NULL "
    "AND p.kind IN ('SPEND', 'MAKEGOOD_CREDIT'))) "
    "GROUP BY 1 "
    "ON CONFLICT (campaign_id) DO UPDATE SET taken = EXCLUDED.taken, "
    "credited = EXCLUDED.credited, forfeited = EXCLUDED.forfeited, "
    "made_good_reserve = EXCLUDED.made_good_reserve, "
    "made_good_revenue = EXCLUDED.made_good_revenue, other = EXCLUDED.other"
)


def downgrade() -> None:
    for column in reversed(_SUMS):
        op.drop_column("ledger_verified_campaigns", column)
    op.drop_constraint(op.f("ck_campaigns_amounts"), "campaigns", type_="check")
    # A campaign made good for its whole price has a budget of 0, which the old rule
    # refuses: it is kept as it is, checked for rows written from now on only.
    op.execute(
        f"ALTER TABLE campaigns ADD CONSTRAINT ck_campaigns_amounts "
        f"CHECK ({_OLD_BUDGET} AND {_AMOUNTS}) NOT VALID"
    )
    for column in ("made_good_revenue", "made_good_reserve", "price"):
        op.drop_column("campaigns", column)
