"""The subscription inactivity refund (DESIGN §9): a paid plan period in which no member
made an authenticated request, asked within 90 days after it, at most three periods,
each once; staff approve; back to the card that paid it or to the balance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import text

from adledger import clock
from adledger.schema.ids import db_id_of
from tests.api.campaign_fixtures import Shop, open_shop
from tests.helpers import create_center, subscribe

REQUEST = """
mutation($input: RequestInactivityRefundInput!) { requestInactivityRefund(input: $input) {
  __typename
  ... on RequestRefundSuccess { refundRequest { id status reason amount { amount } } }
  ... on UserError { code message }
} }"""
APPROVE = """
mutation($input: ApproveRefundInput!) { approveRefund(input: $input) {
  __typename
  ... on RefundDecisionSuccess { refundRequest { status refunds { amount { amount } status } } }
  ... on UserError { code message }
} }"""
CASH = "query($id: ID!) { wallet(id: $id) { balance { cash { amount } } } }"


async def _period_ended(sessions, center_gid: str, days_ago: int, *, number: int = 0) -> None:
    """Given the center's plan invoice for a period that ended `days_ago` days ago (a copy
    of its first plan invoice, when `number` > 0)."""
    center_id = db_id_of(center_gid, "BusinessCenter")
    start = clock.now() - timedelta(days=days_ago + 30)
    async with sessions() as session:
        if number:
            await session.execute(
                text(
                    "INSERT INTO invoices (number, business_center_id, wallet_id, kind, status, "
                    "currency, subtotal, discount, issue_on, due_at, paid_at, cycle_start) "
                    "SELECT 'INV-TEST-' || :n, business_center_id, wallet_id, kind, status, "
                    "currency, subtotal, discount, issue_on, due_at, paid_at, :start "
                    "FROM invoices WHERE business_center_id = :c AND kind = 'SUBSCRIPTION' "
                    "ORDER BY id LIMIT 1"
                ),
                {"n": str(number), "start": start, "c": center_id},
            )
        else:
            await session.execute(
                text(
                    "UPDATE invoices SET cycle_start = :start WHERE business_center_id = :c "
                    "AND kind = 'SUBSCRIPTION'"
                ),
                {"start": start, "c": center_id},
            )
        await session.commit()


async def _ask(api, shop: Shop) -> dict[str, Any]:
    variables = {"input": {"businessCenterId": shop.center.id}}
    return dict((await api.data(REQUEST, variables, shop.token))["requestInactivityRefund"])


async def test_an_inactive_period_paid_from_the_balance_goes_back_to_it(
    api, users, sessions
) -> None:
    # given a plan period (199.00, paid from the balance) that ended 10 days ago, unused
    shop = await open_shop(api, users)
    await _period_ended(sessions, shop.center.id, 10)
    staff = await users.create("billing", staff=True)
    # when the admin asks and staff approve
    asked = await _ask(api, shop)
    approved = await api.data(
        APPROVE, {"input": {"refundRequestId": asked["refundRequest"]["id"]}}, staff.token
    )
    # then the period's price is back in the balance
    request = asked["refundRequest"]
    assert (request["reason"], request["amount"]["amount"]) == ("INACTIVITY", "199.00")
    assert approved["approveRefund"]["refundRequest"] == {"status": "SUCCEEDED", "refunds": []}
    cash = await api.data(CASH, {"id": shop.center.wallet_id}, shop.token)
    assert cash["wallet"]["balance"]["cash"]["amount"] == "199.00"


async def test_an_inactive_period_paid_by_card_goes_back_to_the_card(
    api, users, sessions, webhooks
) -> None:
    admin = await users.create("admin")
    center = await create_center(api, admin)
    subscribed = await subscribe(api, center, from_balance=False)
    await webhooks.pay(subscribed["invoice"]["paymentReference"])
    shop = Shop(center, None, admin, admin)  # type: ignore[arg-type]
    await _period_ended(sessions, center.id, 5)
    staff = await users.create("billing", staff=True)

    asked = await _ask(api, shop)
    approved = await api.data(
        APPROVE, {"input": {"refundRequestId": asked["refundRequest"]["id"]}}, staff.token
    )

    request = approved["approveRefund"]["refundRequest"]
    assert request["status"] == "SENT"
    assert [(r["amount"]["amount"], r["status"]) for r in request["refunds"]] == [
        ("199.00", "PENDING")
    ]


async def test_a_period_with_activity_or_older_than_90_days_is_not_refunded(
    api, users, sessions
) -> None:
    shop = await open_shop(api, users)
    await _period_ended(sessions, shop.center.id, 100)  # ended 100 days ago

    too_late = await _ask(api, shop)

    await _period_ended(sessions, shop.center.id, 1)  # ended yesterday: the admin was active
    async with sessions() as session:
        await session.execute(
            text(
                "INSERT INTO member_activity (user_id, day) SELECT user_id, :day "
                "FROM memberships WHERE business_center_id = :c"
            ),
            {
                "c": db_id_of(shop.center.id, "BusinessCenter"),
                "day": (clock.now() - timedelta(days=10)).date(),
            },
        )
        await session.commit()
    active = await _ask(api, shop)

    assert too_late["code"] == "INVALID_STATE"
    assert active["code"] == "INVALID_STATE"


async def test_at_most_three_periods_each_once(api, users, sessions) -> None:
    # given four paid periods that ended 5, 20, 40 and 60 days ago, all unused
    shop = await open_shop(api, users)
    await _period_ended(sessions, shop.center.id, 5)
    for n, days in enumerate((20, 40, 60), start=1):
        await _period_ended(sessions, shop.center.id, days, number=n)
    # when the admin asks twice
    first = await _ask(api, shop)
    second = await _ask(api, shop)
    # then three periods, the newest, are in the first request; the last one alone after
    assert first["refundRequest"]["amount"]["amount"] == "597.00"
    assert second["refundRequest"]["amount"]["amount"] == "199.00"
    assert (await _ask(api, shop))["code"] == "INVALID_STATE"


async def test_members_activity_is_noted_once_a_day(api, users, sessions) -> None:
    shop = await open_shop(api, users)
    for _ in range(3):
        await api.data("{ viewer { email } }", None, shop.token)
    async with sessions() as session:
        days = await session.scalar(
            text(
                "SELECT count(*) FROM member_activity a JOIN users u ON u.id = a.user_id "
                "WHERE u.email = :e"
            ),
            {"e": shop.admin.email},
        )
    assert days == 1
