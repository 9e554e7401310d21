"""Given: a business center with more than a page of everything each connection lists, and
every relation a front end asks per node set, written in bulk (a few statements a table).

The newest (or, for oldest-first lists, the oldest) node of each list has every optional
relation the queries ask for, so a page of 1 reads every relation a page of N reads."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from itertools import count
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.domain.ledger import WALLET_BUCKETS, AccountKind, TransactionKind
from adledger.domain.months import month_of
from adledger.domain.statements import month_text
from adledger.schema.ids import db_id_of, to_global_id
from adledger.schema.pages import MAX_PAGE_SIZE
from adledger.store import ledger as ledger_repo
from adledger.store import models as m
from adledger.store.webhook_models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from tests.helpers import Api, User, UserFactory, create_center

PAGE = MAX_PAGE_SIZE
MORE = PAGE + 1  # one more than a page of each list: a full page has a next page
USD = "USD"


@dataclass
class World:
    admin: User
    staff: User
    finance: User
    """The center's FINANCE_MANAGER."""
    center: str
    center_wallet: str
    accounts: list[str]
    """Oldest first; accounts[0] has MORE campaigns and MORE budget changes."""
    long_plan: str
    """A campaign of accounts[1] with MORE installment invoices."""
    endpoint: str
    """A webhook endpoint of the center with MORE delivery attempts, one per event."""
    month: str
    """The month the world was seeded in (`YYYY-MM`): its postings' statement."""


async def build_world(api: Api, users: UserFactory, sessions: async_sessionmaker[Any]) -> World:
    admin = await users.create("admin")
    staff = await users.create("staff", staff=True)
    finance = await users.create("finance")
    center = await create_center(api, admin)
    center_id = db_id_of(center.id, "BusinessCenter")
    assert center_id is not None
    async with sessions() as session:
        emails = [admin.email, staff.email, finance.email]
        found = await session.execute(
            select(m.User.email, m.User.id).where(m.User.email.in_(emails))
        )
        ids = {email: user_id for email, user_id in found.all()}
        seed = _Seed(session, center_id, ids[admin.email], ids[staff.email])
        accounts, long_plan = await seed.run(finance_id=ids[finance.email])
        await session.commit()
    # Each member's first request of a day writes it down: made here, not in a count.
    for user in (admin, staff, finance):
        await api.data("{ viewer { email } }", token=user.token)
    return World(
        admin=admin,
        staff=staff,
        finance=finance,
        center=center.id,
        center_wallet=center.wallet_id,
        accounts=[to_global_id("AdAccount", a) for a in accounts],
        long_plan=to_global_id("Campaign", long_plan),
        endpoint=to_global_id("WebhookEndpoint", seed.endpoint_id),
        month=month_text(month_of(seed.now)),
    )


class _Seed:
    def __init__(self, session: AsyncSession, center_id: int, admin_id: int, staff_id: int):
        self.session = session
        self.center_id = center_id
        self.admin_id = admin_id
        self.staff_id = staff_id
        self.now = clock.now()
        self.numbers = count(1)
        self.endpoint_id = 0

    def _event(self, sequence: int) -> dict[str, Any]:
        """A numbered partner event of the center (the feed shows only those)."""
        return {
            "business_center_id": self.center_id,
            "type": "top_up.paid",
            "sequence": sequence,
            "api_version": "2026-12-01",
            "subject_type": "TopUp",
            "subject_id": sequence,
            "data": {"id": to_global_id("TopUp", sequence)},
            "created_at": self.now,
        }

    async def deliveries(self, events: list[int]) -> None:
        """An endpoint of the center, one message per event, and one attempt each."""
        s, now = self.session, self.now
        endpoint = {
            "business_center_id": self.center_id,
            "url": "https://hooks.example.com/seeded",
            "event_types": [],
            "status": "ENABLED",
            "secret": "whsec_c2VlZGVkLXNlZWRlZC1zZWVkZWQtc2VlZGVkLXM=",
            "cursor": MORE,
            "created_at": now,
            "updated_at": now,
        }
        (self.endpoint_id,) = await _insert(s, WebhookEndpoint, [endpoint])
        common = {"endpoint_id": self.endpoint_id, "event_created_at": now}
        messages = await _insert(
            s,
            WebhookMessage,
            [
                {**common, "event_id": e, "sequence": n, "status": "DELIVERED", "attempts": 1}
                | {"next_attempt_at": now, "created_at": now}
                for n, e in enumerate(events, start=1)
            ],
        )
        await _insert(
            s,
            WebhookAttempt,
            [
                {**common, "message_id": message, "event_id": e, "attempt": 1, "attempted_at": now}
                | {"response_status": 200, "duration_ms": 5, "succeeded": True}
                for message, e in zip(messages, events, strict=True)
            ],
        )

    async def run(self, finance_id: int) -> tuple[list[int], int]:
        s, center_id, now = self.session, self.center_id, self.now
        await _insert(
            s,
            m.Membership,
            [{"business_center_id": center_id, "user_id": finance_id, "role": "FINANCE_MANAGER"}],
        )
        await s.execute(
            update(m.BusinessCenter)
            .where(m.BusinessCenter.id == center_id)
            .values(
                card_reference="pm_seeded",
                card_brand="visa",
                card_last4="4242",
                card_exp_month=12,
                card_exp_year=now.year + 3,
                card_attached_at=now,
            )
        )
        await _insert(
            s,
            m.PlanSubscription,
            [
                {
                    "business_center_id": center_id,
                    "plan": "PRO",
                    "status": "ACTIVE",
                    "anchor": now,
                    "current_period_start": now,
                    "current_period_end": now + timedelta(days=30),
                }
            ],
        )
        events = await _insert(s, m.Event, [self._event(n) for n in range(1, MORE + 1)])
        await self.deliveries(events)
        center_wallet = await s.scalar(
            select(m.Wallet.id).where(
                m.Wallet.business_center_id == center_id, m.Wallet.ad_account_id.is_(None)
            )
        )
        assert center_wallet is not None
        accounts = await _insert(
            s,
            m.AdAccount,
            [
                {
                    "business_center_id": center_id,
                    "name": f"Account {i}",
                    "currency": USD,
                    "billing_option": "PREPAID",
                    "account_type": "AUCTION",
                }
                for i in range(MORE)
            ],
        )
        wallets = await _wallets(s, [(center_id, a) for a in accounts])
        # One canceled GUARANTEED campaign per account, with a cancellation request and a
        # makegood offer; a long installment plan; then MORE campaigns of accounts[0], each
        # waiting on a shortfall invoice and the makegood flight of one canceled campaign.
        canceled = await self.campaigns(
            [
                (a, w, f"Canceled {i}", "CANCELED")
                for i, (a, w) in enumerate(zip(accounts, wallets, strict=True))
            ]
        )
        (long_plan,) = await self.campaigns([(accounts[1], wallets[1], "Long plan", "ACTIVE")])
        pending = await self.campaigns(
            [(accounts[0], wallets[0], f"Campaign {i}", "PENDING_FUNDS") for i in range(MORE)],
            makegood_for=canceled,
        )
        top_up = await self.invoices([(None, "TOP_UP", "PAID", None)], wallet_id=center_wallet)
        shortfalls = await self.invoices([(c, "CAMPAIGN_SHORTFALL", "OPEN", None) for c in pending])
        await s.execute(
            update(m.Campaign),
            [
                {"id": c, "shortfall_invoice_id": i}
                for c, i in zip(pending, shortfalls, strict=True)
            ],
        )
        await self.invoices(
            [(c, "INSTALLMENT", status, (n, 2)) for c in pending for n, status in _TWO_PARTS]
        )
        await self.invoices(
            [(long_plan, "INSTALLMENT", "SCHEDULED", (n, MORE)) for n in range(1, MORE + 1)]
        )
        # The newest invoices of the center: one paid installment of each canceled campaign.
        paid = await self.invoices([(c, "INSTALLMENT", "PAID", (1, 1)) for c in canceled])
        # Opening balances: accounts[i] holds 100 + i dollars, the center 1.00 per entry.
        await self.credit(
            [(w, (100 + i) * 100, paid[i], canceled[i]) for i, w in enumerate(wallets)]
            + [(center_wallet, 100, paid[i], canceled[i]) for i in range(MORE)]
        )
        await self.requests(canceled, wallets, top_up[0])
        await self.history(accounts, pending)
        await self.other_centers()
        return accounts, long_plan

    async def campaigns(
        self, specs: list[tuple[int, int, str, str]], makegood_for: list[int] | None = None
    ) -> list[int]:
        starts = self.now - timedelta(days=1)
        return await _insert(
            self.session,
            m.Campaign,
            [
                {
                    "ad_account_id": account,
                    "business_center_id": self.center_id,
                    "wallet_id": wallet,
                    "name": name,
                    "status": status,
                    # a live campaign delivers (services/delivery.py); the others do not
                    "delivering_since": starts if status in ("SCHEDULED", "ACTIVE") else None,
                    "delivery_type": "GUARANTEED",
                    "payment_plan": "INSTALLMENTS",
                    "currency": USD,
                    "budget": 200_000,
                    "booked_impressions": 100_000,
                    "starts_at": starts,
                    "ends_at": starts + timedelta(days=30),
                    "makegood_for_campaign_id": None if makegood_for is None else makegood_for[i],
                    "created_by_user_id": self.admin_id,
                }
                for i, (account, wallet, name, status) in enumerate(specs)
            ],
        )

    async def invoices(
        self,
        specs: list[tuple[int | None, str, str, tuple[int, int] | None]],
        wallet_id: int | None = None,
    ) -> list[int]:
        """(campaign, kind, status, (installment, of)) each, with one line of 1000.00."""
        rows = []
        for campaign, kind, status, installment in specs:
            number, of = installment or (None, None)
            rows.append(
                {
                    "number": f"SEED-{next(self.numbers):06d}",
                    "business_center_id": self.center_id,
                    "wallet_id": wallet_id,
                    "kind": kind,
                    "status": status,
                    "currency": USD,
                    "subtotal": 100_000,
                    "issue_on": self.now,
                    "paid_at": self.now if status == "PAID" else None,
                    "campaign_id": campaign,
                    "installment_number": number,
                    "installment_count": of,
                }
            )
        invoices = await _insert(self.session, m.Invoice, rows)
        await _insert(
            self.session,
            m.InvoiceLine,
            [{"invoice_id": i, "description": "Seeded line", "amount": 100_000} for i in invoices],
        )
        return invoices

    async def credit(self, credits: list[tuple[int, int, int, int]]) -> None:
        """(wallet, minor, invoice, campaign) each: one ADJUSTMENT from the payments
        clearing account into the wallet's cash, as `credit_from_platform` writes it."""
        s = self.session
        wallet_ids = sorted({wallet for wallet, *_ in credits})
        cash = dict(
            (
                await s.execute(
                    select(m.LedgerAccount.wallet_id, m.LedgerAccount.id).where(
                        m.LedgerAccount.wallet_id.in_(wallet_ids),
                        m.LedgerAccount.kind == AccountKind.CASH.value,
                    )
                )
            ).all()
        )
        clearing = await ledger_repo.platform_account_id(s, AccountKind.PAYMENTS_CLEARING, USD)
        kind = TransactionKind.ADJUSTMENT.value
        entries = await _insert(
            s,
            m.LedgerEntry,
            [
                {
                    "operation": kind.lower(),
                    "idempotency_key": f"seed:{n}",
                    "description": "Opening balance",
                    "actor_user_id": self.admin_id,
                    "invoice_id": invoice,
                    "campaign_id": campaign,
                }
                for n, (_, _, invoice, campaign) in enumerate(credits)
            ],
        )
        balances: dict[int, int] = defaultdict(int)
        postings = []
        for entry, (wallet, minor, _, _) in zip(entries, credits, strict=True):
            balances[wallet] += minor
            postings += [
                {
                    "entry_id": entry,
                    "account_id": clearing,
                    "amount": -minor,
                    "balance_after": None,
                    "kind": kind,
                    "created_at": self.now,  # the month World.month names, whenever it runs
                },
                {
                    "entry_id": entry,
                    "account_id": cash[wallet],
                    "amount": minor,
                    "balance_after": balances[wallet],
                    "kind": kind,
                    "created_at": self.now,
                },
            ]
        await _insert(s, m.LedgerPosting, postings)
        await s.execute(
            update(m.LedgerAccount),
            [{"id": cash[wallet], "balance": total} for wallet, total in balances.items()],
        )

    async def requests(self, canceled: list[int], wallets: list[int], top_up: int) -> None:
        """A cancellation request and a makegood offer per canceled campaign; a refund
        request of 5.00 sent for each account's wallet, with its provider refund."""
        s, now = self.session, self.now
        await _insert(
            s,
            m.CancellationRequest,
            [
                {
                    "campaign_id": c,
                    "business_center_id": self.center_id,
                    "requested_by_user_id": self.admin_id,
                    "requested_at": now,
                    "status": "OPEN",
                }
                for c in canceled
            ],
        )
        await _insert(
            s,
            m.MakegoodOffer,
            [
                {
                    "campaign_id": c,
                    "business_center_id": self.center_id,
                    "kind": "CREDIT",
                    "missing_impressions": 1_000,
                    "amount": 2_000,
                    "currency": USD,
                    "status": "OFFERED",
                    "offered_by_user_id": self.staff_id,
                    "offered_at": now,
                }
                for c in canceled
            ],
        )
        (lot,) = await _insert(
            s,
            m.PaymentLot,
            [
                {
                    "business_center_id": self.center_id,
                    "invoice_id": top_up,
                    "payment_reference": "in_seeded",
                    "currency": USD,
                    "amount": 1_000_000,
                    "paid_at": now,
                }
            ],
        )
        requests = await _insert(
            s,
            m.RefundRequest,
            [
                {
                    "business_center_id": self.center_id,
                    "wallet_id": w,
                    "reason": "CREDIT_BALANCE",
                    "currency": USD,
                    "amount": 500,
                    "status": "SENT",
                    "requested_by_user_id": self.admin_id,
                    "requested_at": now,
                    "decided_by_user_id": self.staff_id,
                    "decided_at": now,
                }
                for w in wallets
            ],
        )
        await _insert(
            s,
            m.Refund,
            [
                {
                    "refund_request_id": r,
                    "lot_id": lot,
                    "amount": 500,
                    "status": "PENDING",
                    "provider_reference": f"re_seeded_{r}",
                }
                for r in requests
            ],
        )

    async def history(self, accounts: list[int], pending: list[int]) -> None:
        """MORE audit events, notifications (one per pending campaign) and budget changes
        of accounts[0], by the admin and staff in turn; one budget change of the others."""
        s, now = self.session, self.now
        actors = [self.admin_id, self.staff_id]
        await _insert(
            s,
            m.AuditEvent,
            [
                {
                    "business_center_id": self.center_id,
                    "actor_user_id": actors[i % 2],
                    "action": "INVOICE_DISCOUNTED",
                    "subject": f"invoice {i}",
                    "amount": 100 + i,
                    "currency": USD,
                    "detail": "seeded",
                    "at": now,
                }
                for i in range(MORE)
            ],
        )
        await _insert(
            s,
            m.Notification,
            [
                {
                    "business_center_id": self.center_id,
                    "campaign_id": c,
                    "kind": "UNDERDELIVERY_LIKELY",
                    "message": f"Campaign {i} may under-deliver",
                    "created_by_user_id": self.staff_id,
                    "created_at": now,
                }
                for i, c in enumerate(pending)
            ],
        )
        changes = [(accounts[0], actors[i % 2], 1_000 + i) for i in range(MORE)]
        changes += [(a, self.admin_id, 1_000) for a in accounts[1:]]
        await _insert(
            s,
            m.AdAccountBudgetChange,
            [
                {
                    "ad_account_id": account,
                    "actor_user_id": actor,
                    "source": "USER",
                    "changed_at": now - timedelta(days=2),
                    "before_mode": "UNLIMITED",
                    "before_amount": None,
                    "before_period_start": None,
                    "before_period_end": None,
                    "after_mode": "MONTHLY",
                    "after_amount": amount * 100,
                    "after_period_start": None,
                    "after_period_end": None,
                }
                for account, actor, amount in changes
            ],
        )

    async def other_centers(self) -> None:
        """The admin administers MORE - 1 other centers (each with its wallet); every center
        has a pending invitation."""
        s = self.session
        centers = await _insert(
            s,
            m.BusinessCenter,
            [{"name": f"Center {i}", "currency": USD} for i in range(1, MORE)],
        )
        await _wallets(s, [(c, None) for c in centers])
        await _insert(
            s,
            m.Membership,
            [{"business_center_id": c, "user_id": self.admin_id, "role": "ADMIN"} for c in centers],
        )
        await _insert(
            s,
            m.BusinessCenterInvitation,
            [
                {
                    "business_center_id": c,
                    "email": f"invitee{c}@example.com",
                    "role": "STANDARD",
                    "status": "PENDING",
                    "invited_by_user_id": self.admin_id,
                    "expires_at": self.now + timedelta(days=7),
                }
                for c in [self.center_id, *centers]
            ],
        )


_TWO_PARTS = ((1, "PAID"), (2, "SCHEDULED"))


async def _insert(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """One multi-row INSERT; the new ids in the order of `rows`."""
    stmt = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(await session.scalars(stmt, rows))


async def _wallets(session: AsyncSession, owners: list[tuple[int, int | None]]) -> list[int]:
    """(center, ad account or None) each: a wallet with its bucket accounts, as
    `insert_wallet` makes it."""
    wallets = await _insert(
        session,
        m.Wallet,
        [
            {"business_center_id": c, "ad_account_id": a, "currency": USD, "credit_limit": 0}
            for c, a in owners
        ],
    )
    await _insert(
        session,
        m.LedgerAccount,
        [
            {
                "key": f"wallet:{w}:{kind.value}",
                "kind": kind.value,
                "currency": USD,
                "wallet_id": w,
                "balance": 0,
            }
            for w in wallets
            for kind in WALLET_BUCKETS
        ],
    )
    return wallets
