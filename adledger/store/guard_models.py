"""Balance guard's tables (migration 0020, issue 27): spend per wallet and day, low-balance
alerts, automatic recharge rules."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from adledger.store.models import Base


class WalletSpendDay(Base):
    """What a wallet's money paid for on one UTC day (the runway's burn rate)."""

    __tablename__ = "wallet_spend_days"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("wallets.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class BalanceAlert(Base):
    """One of a wallet's (at most 5) alerts: fires once when the balance (or its runway)
    falls below it, re-armed when it climbs back above it plus a margin."""

    __tablename__ = "balance_alerts"
    __table_args__ = (
        CheckConstraint("kind IN ('BALANCE_BELOW', 'RUNWAY_BELOW_DAYS')", name="kind_known"),
        CheckConstraint(
            "(kind = 'BALANCE_BELOW' AND threshold > 0 AND days IS NULL) OR "
            "(kind = 'RUNWAY_BELOW_DAYS' AND days > 0 AND threshold IS NULL)",
            name="one_measure",
        ),
        UniqueConstraint("wallet_id", "position", name="uq_balance_alerts_wallet_id"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[int | None] = mapped_column(BigInteger)
    days: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    armed: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    last_triggered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AutoRechargeRule(Base):
    """A wallet's automatic recharge: below `threshold`, charge the center's saved card
    `amount`, or up to `target_balance`; at most one at a time (decided and not opened
    yet: `pending_since`; opened and not paid or voided: `in_flight_invoice_id`), one per
    crossing (`armed`), at most `monthly_cap` a month; SUSPENDED after 3 failed charges in
    a row, DISABLED by a member."""

    __tablename__ = "auto_recharge_rules"
    __table_args__ = (
        CheckConstraint("status IN ('ACTIVE', 'SUSPENDED', 'DISABLED')", name="status_known"),
        CheckConstraint(
            "threshold > 0 AND (amount IS NULL) <> (target_balance IS NULL) "
            "AND (amount IS NULL OR amount > 0) AND (target_balance IS NULL OR "
            "target_balance > threshold) AND (monthly_cap IS NULL OR monthly_cap > 0)",
            name="amounts",
        ),
        CheckConstraint(
            "failures >= 0 AND recharged_this_month >= 0 AND crossings >= 0",
            name="counts_not_negative",
        ),
        CheckConstraint(
            "pending_since IS NULL OR in_flight_invoice_id IS NULL", name="one_at_a_time"
        ),
    )
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("wallets.id", ondelete="CASCADE"), primary_key=True
    )
    threshold: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    target_balance: Mapped[int | None] = mapped_column(BigInteger)
    monthly_cap: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    armed: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    in_flight_invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoices.id", ondelete="SET NULL")
    )
    crossings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many recharges the rule decided: the n-th's outbox effect is keyed by n
    (`effect_kinds.open_recharge`)."""
    pending_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Since when the last decided recharge waits for its effect to open its invoice (set
    by `balance_guard.settle`, which numbers no invoice; cleared by the effect)."""
    month: Mapped[date | None] = mapped_column(Date)
    recharged_this_month: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cap_noted_month: Mapped[date | None] = mapped_column(Date)
    """The month whose cap stopped a recharge and was told (a notification once a month)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
