"""BusinessCenter.invoices: every invoice of the center (top-ups, shortfalls, installments,
credit-line statements, subscriptions), newest first, filtered by status and/or kind, for
the members who may read money and for staff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from adledger import clock
from adledger.domain.ledger import AccountKind
from adledger.jobs.credit_line import StatementReport, close_monthly_invoices_job
from adledger.schema.ids import db_id_of
from adledger.schema.pages import MAX_PAGE_SIZE
from tests.api.campaign_fixtures import Shop, open_shop
from tests.api.installment_fixtures import card_campaign, card_shop
from tests.api.installment_fixtures import launch as launch_by_card
from tests.api.test_credit_line_statements import grant_line, spend
from tests.helpers import add_member, create_center, launch, new_campaign, subscribe, top_up

INVOICES = """
query($id: ID!, $status: InvoiceStatus, $kind: InvoiceKind, $first: Int, $after: String) {
  businessCenter(id: $id) {
    invoices(status: $status, kind: $kind, first: $first, after: $after) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id number kind status installmentNumber } }
    }
  }
}"""

CENTERS = """
query($first: Int!) {
  viewer { businessCenters(first: $first) { edges { node {
    name
    invoices(first: 5) { pageInfo { hasNextPage } edges { node {
      number kind status amountDue { amount } lines { description amount { amount } }
      campaign { name }
    } } }
    open: invoices(status: OPEN, kind: TOP_UP, first: 1) { edges { node { number } } }
  } } } }
}"""

EMPTY_PAGE = {
    "pageInfo": {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    },
    "edges": [],
}


@dataclass
class Billed:
    """A center billed for every kind of invoice, and the numbers of its invoices."""

    shop: Shop
    subscription: str
    top_up: str
    shortfall: str
    installments: list[str]
    statement: str

    @property
    def center_id(self) -> str:
        return self.shop.center.id


async def _invoices(api, center_id: str, token: str, **variables: Any) -> dict[str, Any] | None:
    data = await api.data(INVOICES, {"id": center_id, **variables}, token)
    center = data["businessCenter"]
    return None if center is None else dict(center["invoices"])


def _listed(connection: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (e["node"]["number"], e["node"]["kind"], e["node"]["status"]) for e in connection["edges"]
    ]


def _db_ids(connection: dict[str, Any]) -> list[int]:
    ids = [db_id_of(e["node"]["id"], "Invoice") for e in connection["edges"]]
    return [i for i in ids if i is not None]


async def _numbers_of_kind(sessions, center_id: str, kind: str) -> list[str]:
    from sqlalchemy import select

    from adledger.store.models import Invoice

    async with sessions() as session:
        stmt = (
            select(Invoice.number)
            .where(
                Invoice.business_center_id == db_id_of(center_id, "BusinessCenter"),
                Invoice.kind == kind,
            )
            .order_by(Invoice.id)
        )
        return list(await session.scalars(stmt))


async def billed_center(api, users, webhooks, sessions, jobs) -> Billed:
    """Given, in this order: the PRO subscription (PAID, from the balance), a top-up of the
    center's wallet (OPEN), a campaign launched with nothing in its wallet (its shortfall
    invoice OPEN), a campaign paid by card in three installments (PAID, SCHEDULED,
    SCHEDULED) and last month's credit-line statement (OPEN)."""
    shop = await card_shop(api, users, webhooks)
    [subscription] = await _numbers_of_kind(sessions, shop.center.id, "SUBSCRIPTION")

    topped = await top_up(api, shop.center.wallet_id, shop.token, amount="50.00")
    assert topped["__typename"] == "TopUpWalletSuccess", topped
    assert topped["topUp"]["invoice"]["status"] == "OPEN"

    short = await launch(
        api, await new_campaign(api, shop.account, shop.token, "400.00"), shop.token
    )
    assert short["shortfallInvoice"]["status"] == "OPEN", short

    by_card = await card_campaign(api, shop, budget="1000.00", days=30)
    assert (await launch_by_card(api, shop, by_card))["__typename"] == "LaunchCampaignSuccess"
    installments = await _numbers_of_kind(sessions, shop.center.id, "INSTALLMENT")
    assert len(installments) == 3

    staff = await users.create("staff", staff=True)
    await grant_line(api, staff, shop.center, net_terms=30)
    this_month = clock.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    wallet_id = db_id_of(shop.center.wallet_id, "Wallet")
    assert wallet_id is not None
    await spend(sessions, wallet_id, 12000, last_month + timedelta(days=2), AccountKind.CREDIT_LINE)
    assert await close_monthly_invoices_job(jobs, this_month) == StatementReport(opened=1)
    [statement] = await _numbers_of_kind(sessions, shop.center.id, "CREDIT_LINE_CYCLE")

    return Billed(
        shop,
        subscription,
        topped["topUp"]["invoice"]["number"],
        short["shortfallInvoice"]["number"],
        installments,
        statement,
    )


# -- listing and filters -----------------------------------------------------------------


async def test_every_kind_of_invoice_of_the_center_is_listed_newest_first(
    api, users, webhooks, sessions, jobs
) -> None:
    # given a center billed for every kind of invoice
    billed = await billed_center(api, users, webhooks, sessions, jobs)
    first, second, third = billed.installments

    # when its admin lists its invoices
    page = await _invoices(api, billed.center_id, billed.shop.token)

    # then all seven are there, newest (highest id) first, in one page
    assert page is not None
    assert _listed(page) == [
        (billed.statement, "CREDIT_LINE_CYCLE", "OPEN"),
        (third, "INSTALLMENT", "SCHEDULED"),
        (second, "INSTALLMENT", "SCHEDULED"),
        (first, "INSTALLMENT", "PAID"),
        (billed.shortfall, "CAMPAIGN_SHORTFALL", "OPEN"),
        (billed.top_up, "TOP_UP", "OPEN"),
        (billed.subscription, "SUBSCRIPTION", "PAID"),
    ]
    ids = _db_ids(page)
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 7
    assert [e["node"]["installmentNumber"] for e in page["edges"][1:4]] == [3, 2, 1]
    assert page["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": page["edges"][0]["cursor"],
        "endCursor": page["edges"][6]["cursor"],
    }


async def test_a_kind_filter_lists_only_invoices_of_that_kind(
    api, users, webhooks, sessions, jobs
) -> None:
    # given a center billed for every kind of invoice
    billed = await billed_center(api, users, webhooks, sessions, jobs)
    token = billed.shop.token

    # when its invoices are listed by kind
    installments = await _invoices(api, billed.center_id, token, kind="INSTALLMENT")
    top_ups = await _invoices(api, billed.center_id, token, kind="TOP_UP")
    statements = await _invoices(api, billed.center_id, token, kind="CREDIT_LINE_CYCLE")

    # then each lists that kind only, newest first
    assert installments is not None and top_ups is not None and statements is not None
    assert [n for n, _, _ in _listed(installments)] == billed.installments[::-1]
    assert {k for _, k, _ in _listed(installments)} == {"INSTALLMENT"}
    assert _listed(top_ups) == [(billed.top_up, "TOP_UP", "OPEN")]
    assert _listed(statements) == [(billed.statement, "CREDIT_LINE_CYCLE", "OPEN")]


async def test_a_status_filter_tells_the_open_top_up_from_the_paid_subscription(
    api, users, webhooks, sessions, jobs
) -> None:
    # given a center billed for every kind of invoice
    billed = await billed_center(api, users, webhooks, sessions, jobs)
    token = billed.shop.token
    first, second, third = billed.installments

    # when its invoices are listed by status, and by status and kind together
    paid = await _invoices(api, billed.center_id, token, status="PAID")
    open_ = await _invoices(api, billed.center_id, token, status="OPEN")
    scheduled = await _invoices(api, billed.center_id, token, status="SCHEDULED")
    open_top_ups = await _invoices(api, billed.center_id, token, status="OPEN", kind="TOP_UP")
    paid_top_ups = await _invoices(api, billed.center_id, token, status="PAID", kind="TOP_UP")
    voided = await _invoices(api, billed.center_id, token, status="VOID")

    # then each lists what matches every filter given, newest first
    assert paid is not None and open_ is not None and scheduled is not None
    assert _listed(paid) == [
        (first, "INSTALLMENT", "PAID"),
        (billed.subscription, "SUBSCRIPTION", "PAID"),
    ]
    assert _listed(open_) == [
        (billed.statement, "CREDIT_LINE_CYCLE", "OPEN"),
        (billed.shortfall, "CAMPAIGN_SHORTFALL", "OPEN"),
        (billed.top_up, "TOP_UP", "OPEN"),
    ]
    assert [n for n, _, _ in _listed(scheduled)] == [third, second]
    assert open_top_ups is not None and _listed(open_top_ups) == [(billed.top_up, "TOP_UP", "OPEN")]
    assert paid_top_ups == EMPTY_PAGE
    assert voided == EMPTY_PAGE


# -- paging ------------------------------------------------------------------------------


async def _shop_with_top_ups(api, users, count: int) -> tuple[Shop, list[str]]:
    """Given a subscribed center with `count` open top-ups after its subscription invoice."""
    shop = await open_shop(api, users)
    numbers = []
    for index in range(count):
        made = await top_up(api, shop.center.wallet_id, shop.token, amount=f"{10 + index}.00")
        assert made["__typename"] == "TopUpWalletSuccess", made
        numbers.append(made["topUp"]["invoice"]["number"])
    return shop, numbers


async def test_pages_follow_the_cursor_newest_first_without_gaps_or_repeats(api, users) -> None:
    # given five invoices: the subscription, then four top-ups
    shop, top_ups = await _shop_with_top_ups(api, users, 4)
    everything = await _invoices(api, shop.center.id, shop.token)
    assert everything is not None and len(everything["edges"]) == 5

    # when they are read two at a time, each page after the previous page's endCursor
    pages, after = [], None
    for _ in range(3):
        page = await _invoices(api, shop.center.id, shop.token, first=2, after=after)
        assert page is not None
        pages.append(page)
        after = page["pageInfo"]["endCursor"]

    # then the pages hold 2, 2 and 1 invoices, together the whole list in the same order
    assert [len(p["edges"]) for p in pages] == [2, 2, 1]
    numbers = [n for p in pages for n, _, _ in _listed(p)]
    assert numbers == [n for n, _, _ in _listed(everything)]
    assert numbers[:4] == top_ups[::-1]
    assert _listed(pages[2])[0][1] == "SUBSCRIPTION"
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, False]
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True]
    assert [p["pageInfo"]["endCursor"] for p in pages] == [p["edges"][-1]["cursor"] for p in pages]


async def test_a_filtered_list_pages_by_the_same_cursors(api, users) -> None:
    # given the subscription and three top-ups
    shop, top_ups = await _shop_with_top_ups(api, users, 3)

    # when the top-ups are read two at a time
    page_one = await _invoices(api, shop.center.id, shop.token, kind="TOP_UP", first=2)
    assert page_one is not None
    after = page_one["pageInfo"]["endCursor"]
    page_two = await _invoices(api, shop.center.id, shop.token, kind="TOP_UP", first=2, after=after)

    # then the second page holds the oldest top-up and ends the list: no subscription
    assert page_two is not None
    assert [n for n, _, _ in _listed(page_one)] == [top_ups[2], top_ups[1]]
    assert page_one["pageInfo"]["hasNextPage"] is True
    assert _listed(page_two) == [(top_ups[0], "TOP_UP", "OPEN")]
    assert page_two["pageInfo"]["hasNextPage"] is False


async def test_first_above_the_maximum_is_capped_and_zero_is_an_empty_page(api, users) -> None:
    # given the subscription and two top-ups
    shop, _ = await _shop_with_top_ups(api, users, 2)

    # when a page larger than the maximum, and a page of none, are asked for
    large = await _invoices(api, shop.center.id, shop.token, first=MAX_PAGE_SIZE + 400)
    none = await _invoices(api, shop.center.id, shop.token, first=0)

    # then the first holds every invoice (at most MAX_PAGE_SIZE), the second none
    assert large is not None and len(large["edges"]) == 3
    assert large["pageInfo"]["hasNextPage"] is False
    assert none is not None and none["edges"] == []
    assert none["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"first": -1}, "`first` may not be negative"),
        ({"after": "zzz"}, "`after` is not a cursor"),
    ],
)
async def test_a_negative_first_or_a_malformed_cursor_is_an_input_error(
    api, users, variables, message
) -> None:
    # given a center
    center = await create_center(api, await users.create("admin"))

    # when its invoices are asked for with bad page arguments
    body = await api.post(INVOICES, {"id": center.id, **variables}, center.admin.token)

    # then the field answers an INVALID_INPUT error and the center null
    [error] = body["errors"]
    assert (error["message"], error["extensions"]["code"]) == (message, "INVALID_INPUT")
    assert error["path"] == ["businessCenter", "invoices"]
    assert body["data"] == {"businessCenter": None}


# -- who sees them -----------------------------------------------------------------------


async def test_members_who_read_money_and_staff_see_the_invoices(api, users) -> None:
    # given a center with invoices, a finance analyst, a finance manager and a staff user
    shop, _ = await _shop_with_top_ups(api, users, 2)
    analyst = await users.create("analyst")
    manager = await users.create("manager")
    staff = await users.create("staff", staff=True)
    await add_member(api, shop.center, analyst, "FINANCE_ANALYST")
    await add_member(api, shop.center, manager, "FINANCE_MANAGER")

    # when each lists the center's invoices
    admins = await _invoices(api, shop.center.id, shop.token)
    seen = [await _invoices(api, shop.center.id, u.token) for u in (analyst, manager, staff)]

    # then they see what the admin sees
    assert admins is not None and len(admins["edges"]) == 3
    assert seen == [admins, admins, admins]


async def test_a_standard_member_gets_an_empty_connection(api, users) -> None:
    # given a center with invoices and a STANDARD member
    shop, _ = await _shop_with_top_ups(api, users, 2)
    standard = await users.create("standard")
    await add_member(api, shop.center, standard, "STANDARD")

    # when the member lists the center's invoices, filtered or not, on any page
    plain = await _invoices(api, shop.center.id, standard.token)
    filtered = await _invoices(api, shop.center.id, standard.token, status="OPEN", kind="TOP_UP")

    # then the connection is empty, not an error
    assert plain == EMPTY_PAGE
    assert filtered == EMPTY_PAGE


async def test_another_customer_or_the_ad_server_cannot_reach_the_center(api, users) -> None:
    # given a center with invoices, the admin of another center, and the ad server
    shop, _ = await _shop_with_top_ups(api, users, 1)
    stranger = (await create_center(api, await users.create("stranger"), name="Other")).admin

    # when they ask for the center's invoices
    for token in (stranger.token, shop.adserver.token):
        body = await api.post(INVOICES, {"id": shop.center.id}, token)

        # then the center answers null, like one that does not exist
        assert body == {"data": {"businessCenter": None}}


# -- statements --------------------------------------------------------------------------


async def test_invoices_of_n_centers_cost_the_statements_of_one(api, users, statements) -> None:
    # given an admin of four subscribed centers, each with two open top-ups
    admin = await users.create("admin")
    for index in range(4):
        center = await create_center(api, admin, name=f"Center {index}")
        await users.fund(center.wallet_id, "199.00")
        assert (await subscribe(api, center))["invoice"]["status"] == "PAID"
        for amount in ("10.00", "20.00"):
            made = await top_up(api, center.wallet_id, admin.token, amount=amount)
            assert made["__typename"] == "TopUpWalletSuccess", made

    # when the admin's centers are listed with their invoices, one center then four
    statements.count = 0
    statements.statements.clear()
    one = await api.data(CENTERS, {"first": 1}, admin.token)
    cost_of_one = statements.count
    statements.count = 0
    four = await api.data(CENTERS, {"first": 4}, admin.token)
    cost_of_four = statements.count

    # then both cost the same statements, and each center lists its own invoices
    assert cost_of_one == cost_of_four, statements.statements
    centers = [e["node"] for e in four["viewer"]["businessCenters"]["edges"]]
    assert len(one["viewer"]["businessCenters"]["edges"]) == 1
    assert [c["name"] for c in centers] == [f"Center {i}" for i in range(4)]
    for center in centers:
        listed = [e["node"] for e in center["invoices"]["edges"]]
        assert [(i["kind"], i["status"]) for i in listed] == [
            ("TOP_UP", "OPEN"),
            ("TOP_UP", "OPEN"),
            ("SUBSCRIPTION", "PAID"),
        ]
        assert [i["amountDue"]["amount"] for i in listed[:2]] == ["20.00", "10.00"]
        assert [i["campaign"] for i in listed] == [None, None, None]
        assert all(len(i["lines"]) == 1 for i in listed)
        assert [e["node"]["number"] for e in center["open"]["edges"]] == [listed[0]["number"]]
    numbers = [i["node"]["number"] for c in centers for i in c["invoices"]["edges"]]
    assert len(set(numbers)) == 12
