"""Tables. Relationships are lazy="raise": every read goes through a repository query."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from adledger import clock

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _created_at() -> Mapped[datetime]:
    """When the row was written, by the app's one clock, as every moment the app compares
    it with is (the database's own clock is only the fallback of hand-written rows)."""
    return mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now(), nullable=False
    )


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    # The ad server's own user: may record spend, and nothing else that moves money.
    is_integration: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[datetime] = _created_at()


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created_at()
    user: Mapped[User] = relationship(lazy="raise")


class BusinessCenter(Base):
    __tablename__ = "business_centers"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    allocation_mode: Mapped[str] = mapped_column(String(16), default="MANUAL")
    allocation_mode_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    credit_line_cycle: Mapped[str | None] = mapped_column(String(32))
    credit_line_net_terms_days: Mapped[int | None] = mapped_column(Integer)
    payment_customer_reference: Mapped[str | None] = mapped_column(String(255))
    # The saved card INSTALLMENTS and PREPAY campaigns are charged to (the provider's id).
    card_reference: Mapped[str | None] = mapped_column(String(255))
    card_brand: Mapped[str | None] = mapped_column(String(32))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp_month: Mapped[int | None] = mapped_column(Integer)
    card_exp_year: Mapped[int | None] = mapped_column(Integer)
    card_attached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Where the credit line's 28-day cycles are counted from.
    credit_line_cycle_anchor: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()


class CardSetup(Base):
    """A card setup (SetupIntent) started for a business center; the root of its key."""

    __tablename__ = "card_setups"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="CASCADE"), index=True
    )
    reference: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created_at()


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("business_center_id", "user_id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _created_at()


class AdAccount(Base):
    __tablename__ = "ad_accounts"
    __table_args__ = (
        CheckConstraint(
            "(budget_amount IS NULL OR budget_amount >= 0) AND budget_spent >= 0",
            name="budget_amounts",
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # The business center's currency, copied because it never changes and every read needs it.
    currency: Mapped[str] = mapped_column(String(3))
    billing_option: Mapped[str] = mapped_column(String(32))
    account_type: Mapped[str] = mapped_column(String(32))
    # The budget cap, and the spend counted in its current period (for UNLIMITED: the
    # calendar month), kept on the row that spend locks anyway so a cap costs no query.
    budget_mode: Mapped[str] = mapped_column(String(16), default="UNLIMITED")
    budget_amount: Mapped[int | None] = mapped_column(BigInteger)
    budget_period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    budget_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    budget_spent: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = _created_at()


class AdAccountBudgetChange(Base):
    """One change of an ad account's budget cap: who, when, before and after."""

    __tablename__ = "ad_account_budget_changes"
    __table_args__ = (
        Index("ix_ad_account_budget_changes_account_changed", "ad_account_id", "changed_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ad_account_id: Mapped[int] = mapped_column(ForeignKey("ad_accounts.id", ondelete="CASCADE"))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # USER changes count toward the daily limit; BUDGET_SYNC (the allocation switch) does not.
    source: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    before_mode: Mapped[str] = mapped_column(String(16))
    before_amount: Mapped[int | None] = mapped_column(BigInteger)
    before_period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    before_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    after_mode: Mapped[str] = mapped_column(String(16))
    after_amount: Mapped[int | None] = mapped_column(BigInteger)
    after_period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    after_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Wallet(Base):
    """One per business center (ad_account_id NULL) and one per ad account."""

    __tablename__ = "wallets"
    __table_args__ = (
        Index(
            "uq_wallets_business_center_own",
            "business_center_id",
            unique=True,
            postgresql_where="ad_account_id IS NULL",
        ),
        CheckConstraint("credit_limit >= 0", name="credit_limit_non_negative"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="CASCADE"), index=True
    )
    ad_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("ad_accounts.id", ondelete="CASCADE"), unique=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    credit_limit: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = _created_at()


class LedgerAccount(Base):
    """A balance in the ledger; `balance` caches its postings and changes in their transaction."""

    __tablename__ = "ledger_accounts"
    # The last line of defence behind the lock-and-check in services: customer money
    # other than a credit line never goes below zero, whatever code path writes it.
    __table_args__ = (
        CheckConstraint(
            "kind NOT IN ('cash', 'vouchers', 'reserve', 'voucher_reserve', 'hold') "
            "OR balance >= 0",
            name="customer_balance_non_negative",
        ),
        # A wallet's balance reads its accounts of four kinds among its campaigns' many.
        Index("ix_ledger_accounts_wallet_id_kind", "wallet_id", "kind"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    wallet_id: Mapped[int | None] = mapped_column(ForeignKey("wallets.id", ondelete="RESTRICT"))
    campaign_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = _created_at()


class LedgerEntry(Base):
    """One operation: its postings sum to zero. Append-only."""

    __tablename__ = "ledger_entries"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    operation: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoices.id", ondelete="RESTRICT"), index=True
    )
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = _created_at()


class LedgerPosting(Base):
    """Partitioned by month of `created_at` (migration 0014, store/partitions.py): its
    key in the database is (id, created_at)."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        Index("ix_ledger_postings_account_id_id", "account_id", "id"),
        CheckConstraint("amount <> 0", name="amount_non_zero"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_entries.id", ondelete="RESTRICT"), index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id", ondelete="RESTRICT"))
    amount: Mapped[int] = mapped_column(BigInteger)
    # None on platform accounts: their running balance is not tracked (never locked).
    balance_after: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = _created_at()


class IdempotencyRecord(Base):
    """The first answer to a keyed request, replayed for the same key and input."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    operation: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created_at()


class InvoiceCounter(Base):
    """Last invoice number of a year. Taken with UPDATE ... RETURNING inside the invoice's
    own transaction, so a rolled-back invoice gives its number back: no gaps."""

    __tablename__ = "invoice_counters"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("subtotal >= 0 AND discount >= 0 AND discount <= subtotal", name="amounts"),
        Index(
            "uq_invoices_center_kind_cycle",
            "business_center_id",
            "kind",
            "cycle_start",
            unique=True,
            postgresql_where=text("cycle_start IS NOT NULL"),
        ),
        Index(
            "uq_invoices_campaign_installment",
            "campaign_id",
            "installment_number",
            unique=True,
            postgresql_where=text("installment_number IS NOT NULL"),
        ),
        Index(
            "ix_invoices_due_work",
            "issue_on",
            postgresql_where=text("status = 'SCHEDULED' OR next_charge_at IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="RESTRICT"), index=True
    )
    wallet_id: Mapped[int | None] = mapped_column(ForeignKey("wallets.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    issue_on: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    campaign_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    installment_number: Mapped[int | None] = mapped_column(Integer)
    installment_count: Mapped[int | None] = mapped_column(Integer)
    payment_reference: Mapped[str | None] = mapped_column(String(255), unique=True)
    hosted_url: Mapped[str | None] = mapped_column(Text)
    flag_reason: Mapped[str | None] = mapped_column(Text)
    # Credit-line statements: the cycle (month) billed, unique per center and kind.
    cycle_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Voided here, not yet confirmed void at the provider: a job retries the provider call.
    void_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # Invoices paid by card: failed charges so far, and when the next attempt is due.
    charge_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_charge_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_charge_error: Mapped[str | None] = mapped_column(Text)
    # The provider's invoice for an amount since reduced here: voided there by a job, and
    # the invoice issued again for what it now asks.
    superseded_reference: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _created_at()


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)


class TopUp(Base):
    __tablename__ = "top_ups"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("wallets.id", ondelete="RESTRICT"), index=True
    )
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="RESTRICT"), unique=True
    )
    status: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    target_balance: Mapped[int | None] = mapped_column(BigInteger)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()


class PlanSubscription(Base):
    __tablename__ = "plan_subscriptions"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="RESTRICT"), unique=True
    )
    plan: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    # Periods are counted from the anchor (period n starts anchor + n months) so that a
    # subscription started on the 31st does not drift to the 28th after February.
    anchor: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_index: Mapped[int] = mapped_column(Integer, default=0)
    current_period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    current_period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    pay_from_credit_balance: Mapped[bool] = mapped_column(Boolean, default=True)
    open_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    created_at: Mapped[datetime] = _created_at()


class WebhookEvent(Base):
    """Each provider event once, by its id; stored in the transaction of its effect."""

    __tablename__ = "webhook_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = _created_at()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BusinessCenterInvitation(Base):
    """A role offered to an email; it becomes a membership only when that user accepts, so
    inviting says nothing about whether the email has an account."""

    __tablename__ = "business_center_invitations"
    __table_args__ = (
        Index(
            "uq_business_center_invitations_pending",
            "business_center_id",
            "email",
            unique=True,
            postgresql_where=text("status = 'PENDING'"),
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    invited_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# A campaign delivers while SCHEDULED or ACTIVE, and only then has an open delivering
# interval: a status written without its interval (services/delivery.py) fails here.
DELIVERING_SINCE_CHECK = "(status IN ('SCHEDULED', 'ACTIVE')) = (delivering_since IS NOT NULL)"


def _budget_of_new_row(context: Any) -> Any:
    return context.get_current_parameters()["budget"]


class Campaign(Base):
    """A campaign and the counters of its money; the money itself sits in its ledger
    accounts (reserve, voucher_reserve, hold, receivable), which these counters explain:
    held = taken - spent - credited - forfeited - made_good_reserve (domain/conservation.py)."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(
            "(budget > 0 OR (budget = 0 AND (makegood_for_campaign_id IS NOT NULL "
            "OR made_good_reserve > 0))) AND "
            "taken >= 0 AND spent >= 0 AND credited >= 0 AND forfeited >= 0 AND "
            "made_good_reserve >= 0 AND made_good_revenue >= 0 AND price >= budget",
            name="amounts",
        ),
        CheckConstraint(
            "booked_impressions IS NULL OR booked_impressions > 0", name="booked_impressions"
        ),
        CheckConstraint(DELIVERING_SINCE_CHECK, name="delivering_since"),
        Index("ix_campaigns_wallet_id_status", "wallet_id", "status"),
        Index("ix_campaigns_business_center_id_status", "business_center_id", "status"),
        Index("ix_campaigns_status_starts_at", "status", "starts_at"),
        Index("ix_campaigns_status_ends_at", "status", "ends_at"),
        Index(
            "ix_campaigns_unsettled_ends_at",
            "ends_at",
            postgresql_where=text(
                "settled_at IS NULL AND status NOT IN ('DRAFT', 'CANCELED', 'REJECTED')"
            ),
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ad_account_id: Mapped[int] = mapped_column(
        ForeignKey("ad_accounts.id", ondelete="RESTRICT"), index=True
    )
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="RESTRICT"), index=True
    )
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32))
    delivery_type: Mapped[str] = mapped_column(String(16))
    payment_plan: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    budget: Mapped[int] = mapped_column(BigInteger)
    # What the booking was bought for (domain/conservation.py): the budget at launch,
    # raised with it, never lowered. Inserted as the budget.
    price: Mapped[int] = mapped_column(BigInteger, default=_budget_of_new_row)
    taken: Mapped[int] = mapped_column(BigInteger, default=0)
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    credited: Mapped[int] = mapped_column(BigInteger, default=0)
    forfeited: Mapped[int] = mapped_column(BigInteger, default=0)
    # Accepted makegood credits and refunds: given back from the reserve (the budget is
    # lowered by as much), and billing reversed from revenue (spend above the delivered
    # value).
    made_good_reserve: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    made_good_revenue: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    impressions: Mapped[int] = mapped_column(BigInteger, default=0)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    launched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_at_end: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Its delivering interval still open: since when it has been SCHEDULED or ACTIVE
    # (closed ones are in campaign_delivery_intervals). Kept on the row spend locks anyway,
    # so that an event in the open interval costs no read.
    delivering_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    shortfall_invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoices.id", ondelete="RESTRICT")
    )
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    # Why a BUDGET_EXHAUSTED campaign stopped (domain.budgets.StopReason).
    stop_reason: Mapped[str | None] = mapped_column(String(40))
    # Why the platform paused it (a card that kept declining); None when the customer did.
    pause_reason: Mapped[str | None] = mapped_column(Text)
    # What a GUARANTEED campaign booked: under-delivery is measured against it.
    booked_impressions: Mapped[int | None] = mapped_column(BigInteger)
    # A makegood flight (price 0) names the campaign whose missing impressions it delivers.
    makegood_for_campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="RESTRICT")
    )
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created_at()


class CampaignDeliveryInterval(Base):
    """A time a campaign delivered, now over: from when it entered SCHEDULED or ACTIVE (its
    launch funded, a start, a resume, a restart) to when it left them (a pause, a stop, its
    end). Spend is billed only for delivering time (services/spend.py)."""

    __tablename__ = "campaign_delivery_intervals"
    __table_args__ = (
        CheckConstraint("closed_at >= opened_at", name="closed_after_opened"),
        Index("ix_campaign_delivery_intervals_campaign_id", "campaign_id", "closed_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="RESTRICT"))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CancellationRequest(Base):
    """A GUARANTEED campaign paid by card canceled by its customer: the billing department
    decides what happens to the unspent rest (DESIGN §8)."""

    __tablename__ = "cancellation_requests"
    __table_args__ = (CheckConstraint("amount IS NULL OR amount >= 0", name="amount"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="RESTRICT"), unique=True
    )
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="RESTRICT")
    )
    requested_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    resolution: Mapped[str | None] = mapped_column(String(16))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    resolved_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InvoiceAdjustment(Base):
    """Staff voiding or discounting an invoice by hand: who, when, how much, why."""

    __tablename__ = "invoice_adjustments"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="RESTRICT"), index=True
    )
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class PaymentLot(Base):
    """A payment that brought money in: refunds go back to it, never beyond its amount."""

    __tablename__ = "payment_lots"
    __table_args__ = (
        CheckConstraint("amount > 0 AND refunded >= 0 AND refunded <= amount", name="amounts"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="RESTRICT"), index=True
    )
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="RESTRICT"), unique=True
    )
    payment_reference: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RefundRequest(Base):
    """Money a customer asked back to the payments that brought it in."""

    __tablename__ = "refund_requests"
    __table_args__ = (CheckConstraint("amount > 0", name="amount"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="RESTRICT"), index=True
    )
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id", ondelete="RESTRICT"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="RESTRICT"))
    reason: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    requested_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


class Refund(Base):
    """One provider refund: the part of a request that goes back to one lot."""

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    refund_request_id: Mapped[int] = mapped_column(
        ForeignKey("refund_requests.id", ondelete="RESTRICT"), index=True
    )
    lot_id: Mapped[int] = mapped_column(ForeignKey("payment_lots.id", ondelete="RESTRICT"))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    provider_reference: Mapped[str | None] = mapped_column(String(255), unique=True)
    failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """One thing done to a business center's money: who, when, what (append-only)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_center_id", "business_center_id", "id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="RESTRICT")
    )
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MemberActivity(Base):
    """A day on which a user made an authenticated request (the inactivity refund)."""

    __tablename__ = "member_activity"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class InactivityRefundPeriod(Base):
    """A paid plan period an inactivity refund covers: each period once."""

    __tablename__ = "inactivity_refund_periods"
    __table_args__ = (Index("ix_inactivity_refund_periods_request", "refund_request_id"),)
    refund_request_id: Mapped[int] = mapped_column(
        ForeignKey("refund_requests.id", ondelete="RESTRICT")
    )
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="RESTRICT"), primary_key=True
    )


class Notification(Base):
    """A word to a business center from the platform (a campaign likely to under-deliver,
    a makegood offered)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_center", "business_center_id", "id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MakegoodOffer(Base):
    """What staff offer for a GUARANTEED campaign's missing impressions; nothing moves
    until its customer accepts."""

    __tablename__ = "makegood_offers"
    __table_args__ = (
        CheckConstraint(
            "missing_impressions > 0 AND (amount > 0 OR (kind = 'FLIGHT' AND amount = 0))",
            name="amounts",
        ),
        Index(
            "uq_makegood_offers_open",
            "campaign_id",
            unique=True,
            postgresql_where=text("status = 'OFFERED'"),
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="RESTRICT"))
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="RESTRICT")
    )
    kind: Mapped[str] = mapped_column(String(16))
    missing_impressions: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    offered_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    offered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A flight: its dates, and the campaign made when the customer accepted it.
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    makegood_campaign_id: Mapped[int | None] = mapped_column(BigInteger)


class SpendEventId(Base):
    """A delivery report's event id, taken once ever (the partitioned `spend_events` can
    only be unique per month)."""

    __tablename__ = "spend_event_ids"
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SpendEvent(Base):
    """One delivery report, applied once ever: its event id is in `spend_event_ids`.
    Partitioned by month of `recorded_at`: its key in the database is (id, recorded_at)."""

    __tablename__ = "spend_events"
    __table_args__ = (
        CheckConstraint("amount >= 0 AND refused >= 0 AND refused <= amount", name="amounts"),
        {"postgresql_partition_by": "RANGE (recorded_at)"},
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200))
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="RESTRICT"), index=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    refused: Mapped[int] = mapped_column(BigInteger, default=0)
    refusal: Mapped[str | None] = mapped_column(String(40))
    impressions: Mapped[int] = mapped_column(BigInteger, default=0)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = _created_at()


class OutboxEffect(Base):
    """What is to happen after a commit, declared in it (migration 0017, services/outbox.py)."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_outbox_undone", "next_attempt_at", postgresql_where=text("done_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = _created_at()
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class Event(Base):
    """Something that happened to a center's money, as partners receive it (migration
    0018, services/events.py). Written in the transaction of the change it reports,
    without a sequence; the sequencer numbers it once it is committed. Partitioned by
    month of `created_at`: its key in the database is (id, created_at)."""

    __tablename__ = "events"
    __table_args__ = (
        Index(
            "ix_events_business_center_id_sequence",
            "business_center_id",
            "sequence",
            postgresql_where=text("sequence IS NOT NULL"),
        ),
        Index(
            "ix_events_unsequenced",
            "business_center_id",
            "id",
            postgresql_where=text("sequence IS NULL"),
        ),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    business_center_id: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int | None] = mapped_column(BigInteger)
    api_version: Mapped[str] = mapped_column(String(16))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The app's clock, as every moment the feed is compared with; never the database's.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EventSequence(Base):
    """A center's last event sequence number: its row is the sequencer's lock."""

    __tablename__ = "event_sequences"
    business_center_id: Mapped[int] = mapped_column(
        ForeignKey("business_centers.id", ondelete="RESTRICT"), primary_key=True
    )
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
