"""Every connection of the served schema: a page of 100 nodes, with the relations a front end
asks for on each node, costs the statements a page of 1 costs (issue 11).

The world is seeded once for the module (tests/api/connection_fixtures.py) and only read."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from graphql import GraphQLObjectType, get_named_type

from adledger.app.asgi import create_app
from adledger.app.settings import Settings
from adledger.domain.events import EventType
from adledger.resolvers.root import build_schema
from adledger.services.users import TokenCache
from adledger.services.verify import verify_ledger
from adledger.store.db import make_sessionmaker
from tests import stack
from tests.api.connection_fixtures import PAGE, World, build_world
from tests.helpers import Api, UserFactory


@dataclass
class Seeded:
    api: Api
    world: World
    tokens: TokenCache


@pytest.fixture(scope="module")
async def seeded(engine, database_url: str, redis_url: str) -> AsyncIterator[Seeded]:
    await stack.empty_everything(engine, redis_url)
    sessions = make_sessionmaker(engine)
    app = create_app(Settings(database_url=database_url, redis_url=redis_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            api = Api(client)
            world = await build_world(api, UserFactory(sessions), sessions)
            yield Seeded(api, world, app.state.adledger.tokens)
    async with sessions() as session:
        assert await verify_ledger(session) == []


# What a front end asks for, per connection ------------------------------------------------

WHO = "{ viewer { email } }"

AD_ACCOUNTS = """
query($id: ID!, $first: Int!) { businessCenter(id: $id) { adAccounts(first: $first) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id name billingOption accountType
    businessCenter { name viewerRole }
    budget { mode spentInPeriod { amount } }
    budgetChangesRemainingToday
    budgetChanges(first: 2) { edges { node { actorEmail after { mode amount { amount } } } } }
    availableToSpend { amount }
    wallet {
      id owner { __typename ... on AdAccount { name } }
      balance { cash { amount } available { amount } pendingRefunds { amount } }
      pendingTopUps { id }
      transactions(first: 2) { edges { node { kind amount { amount } actorEmail invoice { number } campaign { name } } } }
    }
    campaigns(first: 2) { edges { node { name status invoices(first: 2) { edges { node { number } } } } } }
  } }
} } }"""

CAMPAIGNS = """
query($id: ID!, $first: Int!) { adAccount(id: $id) { campaigns(first: $first) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id name status paymentPlan budget { amount } funded { amount } minimumBudget { amount }
    adAccount { id name wallet { id balance { total { amount } cash { amount } available { amount } } } }
    shortfallInvoice { number status amountDue { amount } lines { amount { amount } } }
    invoices(first: 5) { pageInfo { hasNextPage } edges { node {
      number kind status installmentNumber amountDue { amount } lines { description amount { amount } }
    } } }
    cancellationRequest { status }
    makegoodFor { name cancellationRequest { status } makegoodOffers { kind amount { amount } } }
    notifications { kind message }
    makegoodOffers { kind }
  } }
} } }"""

CAMPAIGN_INVOICES = """
query($id: ID!, $first: Int!) { campaign(id: $id) { invoices(first: $first) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id number kind status installmentNumber installmentCount amountDue { amount }
    lines { description amount { amount } }
    campaign { name adAccount { name wallet { balance { total { amount } cash { amount } available { amount } } } } }
  } }
} } }"""

CENTER_INVOICES = """
query($id: ID!, $first: Int!) { businessCenter(id: $id) { invoices(first: $first) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id number kind status amountDue { amount } lines { amount { amount } }
    campaign {
      name status cancellationRequest { status } makegoodOffers { kind }
      adAccount { name wallet { balance { cash { amount } } } }
    }
  } }
} } }"""

TRANSACTIONS = """
query($id: ID!, $first: Int!) { wallet(id: $id) { transactions(first: $first) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id kind bucket amount { amount } balanceAfter { amount } description createdAt actorEmail
    invoice { number status lines { amount { amount } } }
    campaign { name adAccount { name wallet { balance { cash { amount } } } } }
  } }
} } }"""

AUDIT_TRAIL = """
query($id: ID!, $first: Int!) { businessCenter(id: $id) { auditTrail(first: $first) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node { action subject at amount { amount currencyCode } detail actorEmail } }
} } }"""

NOTIFICATIONS = """
query($id: ID!, $first: Int!) { businessCenter(id: $id) { notifications(first: $first) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node { kind message campaignId createdAt } }
} } }"""

BUDGET_CHANGES = """
query($id: ID!, $first: Int!) { adAccount(id: $id) { budgetChanges(first: $first) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    changedAt actorEmail byBudgetSync
    before { mode amount { amount } } after { mode amount { amount } periodStart periodEnd }
  } }
} } }"""

BUSINESS_CENTERS = """
query($first: Int!) { viewer { businessCenters(first: $first) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id name currencyCode allocationMode viewerRole
    paymentMethod { last4 } subscription { plan status }
    members { email role } invitations { email role }
    wallet { balance { total { amount } cash { amount } available { amount } } pendingTopUps { id } }
    adAccounts(first: 2) { edges { node { name wallet { balance { cash { amount } } } } } }
    invoices(first: 1) { edges { node { number } } }
    auditTrail(first: 1) { edges { node { action actorEmail } } }
    notifications(first: 1) { edges { node { kind } } }
  } }
} } }"""

REFUND_REQUESTS = """
query($first: Int!) { refundRequests(status: SENT, first: $first) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id status reason amount { amount } requestedAt decidedAt note
    refunds { amount { amount } status providerReference }
  } }
} }"""

CANCELLATION_REQUESTS = """
query($first: Int!) { cancellationRequests(first: $first) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id status requestedAt amount { amount }
    campaign {
      name status makegoodOffers { kind }
      adAccount { name wallet { balance { cash { amount } } } }
      invoices(first: 2) { edges { node { number lines { amount { amount } } } } }
    }
  } }
} }"""


# What each page of 100 holds -------------------------------------------------------------


def _dollars(whole: int) -> dict[str, str]:
    return {"amount": f"{whole}.00"}


def _check_ad_accounts(nodes: list[dict[str, Any]], world: World) -> None:
    assert [n["name"] for n in nodes] == [f"Account {i}" for i in range(PAGE)]
    assert [n["wallet"]["balance"]["cash"] for n in nodes] == [
        _dollars(100 + i) for i in range(PAGE)
    ]
    assert {n["wallet"]["balance"]["pendingRefunds"]["amount"] for n in nodes} == {"5.00"}
    assert [n["availableToSpend"] for n in nodes] == [_dollars(100 + i) for i in range(PAGE)]
    assert [
        [e["node"]["campaign"]["name"] for e in n["wallet"]["transactions"]["edges"]] for n in nodes
    ] == [[f"Canceled {i}"] for i in range(PAGE)]
    assert [e["node"]["name"] for e in nodes[0]["campaigns"]["edges"]] == [
        f"Campaign {PAGE}",
        f"Campaign {PAGE - 1}",
    ]
    assert [e["node"]["name"] for e in nodes[2]["campaigns"]["edges"]] == ["Canceled 2"]
    assert [e["node"]["actorEmail"] for e in nodes[0]["budgetChanges"]["edges"]] == [
        world.admin.email,
        world.staff.email,
    ]
    assert {n["wallet"]["owner"]["name"] == n["name"] for n in nodes} == {True}


def _check_campaigns(nodes: list[dict[str, Any]], world: World) -> None:
    assert [n["name"] for n in nodes] == [f"Campaign {i}" for i in range(PAGE, 0, -1)]
    assert {n["adAccount"]["id"] for n in nodes} == {world.accounts[0]}
    assert {n["adAccount"]["wallet"]["balance"]["cash"]["amount"] for n in nodes} == {"100.00"}
    assert {n["shortfallInvoice"]["amountDue"]["amount"] for n in nodes} == {"1000.00"}
    assert [
        [(i["node"]["kind"], i["node"]["status"]) for i in n["invoices"]["edges"]] for n in nodes
    ] == [
        [("INSTALLMENT", "SCHEDULED"), ("INSTALLMENT", "PAID"), ("CAMPAIGN_SHORTFALL", "OPEN")]
    ] * PAGE
    assert [n["makegoodFor"]["name"] for n in nodes] == [
        f"Canceled {i}" for i in range(PAGE, 0, -1)
    ]
    assert {n["makegoodFor"]["cancellationRequest"]["status"] for n in nodes} == {"OPEN"}
    assert [n["notifications"] for n in nodes] == [
        [{"kind": "UNDERDELIVERY_LIKELY", "message": f"Campaign {i} may under-deliver"}]
        for i in range(PAGE, 0, -1)
    ]
    assert {(n["cancellationRequest"], len(n["makegoodOffers"])) for n in nodes} == {(None, 0)}


def _check_campaign_invoices(nodes: list[dict[str, Any]], world: World) -> None:
    assert [n["installmentNumber"] for n in nodes] == list(range(PAGE + 1, 1, -1))
    assert {n["installmentCount"] for n in nodes} == {PAGE + 1}
    assert [n["lines"] for n in nodes] == [
        [{"description": "Seeded line", "amount": {"amount": "1000.00"}}]
    ] * PAGE
    assert {n["campaign"]["name"] for n in nodes} == {"Long plan"}
    assert {n["campaign"]["adAccount"]["wallet"]["balance"]["cash"]["amount"] for n in nodes} == {
        "101.00"
    }


def _check_center_invoices(nodes: list[dict[str, Any]], world: World) -> None:
    canceled = range(PAGE, 0, -1)
    assert [n["campaign"]["name"] for n in nodes] == [f"Canceled {i}" for i in canceled]
    assert [n["campaign"]["adAccount"]["wallet"]["balance"]["cash"] for n in nodes] == [
        _dollars(100 + i) for i in canceled
    ]
    assert {(n["kind"], n["status"], n["amountDue"]["amount"]) for n in nodes} == {
        ("INSTALLMENT", "PAID", "1000.00")
    }
    assert {n["campaign"]["cancellationRequest"]["status"] for n in nodes} == {"OPEN"}


def _check_transactions(nodes: list[dict[str, Any]], world: World) -> None:
    canceled = range(PAGE, 0, -1)
    assert [n["balanceAfter"] for n in nodes] == [_dollars(i + 1) for i in canceled]
    assert {(n["kind"], n["bucket"], n["amount"]["amount"]) for n in nodes} == {
        ("ADJUSTMENT", "CASH", "1.00")
    }
    assert {n["actorEmail"] for n in nodes} == {world.admin.email}
    assert [n["campaign"]["name"] for n in nodes] == [f"Canceled {i}" for i in canceled]
    assert [n["campaign"]["adAccount"]["wallet"]["balance"]["cash"] for n in nodes] == [
        _dollars(100 + i) for i in canceled
    ]
    assert {n["invoice"]["status"] for n in nodes} == {"PAID"}


def _check_audit_trail(nodes: list[dict[str, Any]], world: World) -> None:
    events = range(PAGE, 0, -1)
    assert [n["subject"] for n in nodes] == [f"invoice {i}" for i in events]
    emails = [world.admin.email, world.staff.email]
    assert [n["actorEmail"] for n in nodes] == [emails[i % 2] for i in events]
    assert [n["amount"] for n in nodes] == [
        {"amount": f"{(100 + i) / 100:.2f}", "currencyCode": "USD"} for i in events
    ]


def _check_notifications(nodes: list[dict[str, Any]], world: World) -> None:
    assert [n["message"] for n in nodes] == [
        f"Campaign {i} may under-deliver" for i in range(PAGE, 0, -1)
    ]
    assert {n["kind"] for n in nodes} == {"UNDERDELIVERY_LIKELY"}
    assert len({n["campaignId"] for n in nodes}) == PAGE


def _check_budget_changes(nodes: list[dict[str, Any]], world: World) -> None:
    changes = range(PAGE, 0, -1)
    emails = [world.admin.email, world.staff.email]
    assert [n["actorEmail"] for n in nodes] == [emails[i % 2] for i in changes]
    assert [n["after"]["amount"] for n in nodes] == [_dollars(1_000 + i) for i in changes]
    assert {(n["before"]["mode"], n["after"]["mode"], n["byBudgetSync"]) for n in nodes} == {
        ("UNLIMITED", "MONTHLY", False)
    }


def _check_business_centers(nodes: list[dict[str, Any]], world: World) -> None:
    assert [n["name"] for n in nodes] == ["Acme"] + [f"Center {i}" for i in range(1, PAGE)]
    assert {n["viewerRole"] for n in nodes} == {"ADMIN"}
    assert {len(n["invitations"]) for n in nodes} == {1}
    acme = nodes[0]
    assert acme["members"] == [
        {"email": world.admin.email, "role": "ADMIN"},
        {"email": world.finance.email, "role": "FINANCE_MANAGER"},
    ]
    assert (acme["paymentMethod"], acme["subscription"]) == (
        {"last4": "4242"},
        {"plan": "PRO", "status": "ACTIVE"},
    )
    assert [e["node"]["name"] for e in acme["adAccounts"]["edges"]] == ["Account 0", "Account 1"]
    assert acme["wallet"]["balance"]["cash"] == _dollars(PAGE + 1)
    assert {len(n["adAccounts"]["edges"]) for n in nodes[1:]} == {0}


def _check_refund_requests(nodes: list[dict[str, Any]], world: World) -> None:
    assert {(n["status"], n["reason"], n["amount"]["amount"]) for n in nodes} == {
        ("SENT", "CREDIT_BALANCE", "5.00")
    }
    assert [len(n["refunds"]) for n in nodes] == [1] * PAGE
    assert {(r["amount"]["amount"], r["status"]) for n in nodes for r in n["refunds"]} == {
        ("5.00", "PENDING")
    }


def _check_cancellation_requests(nodes: list[dict[str, Any]], world: World) -> None:
    assert [n["campaign"]["name"] for n in nodes] == [f"Canceled {i}" for i in range(PAGE)]
    assert [n["campaign"]["adAccount"]["wallet"]["balance"]["cash"] for n in nodes] == [
        _dollars(100 + i) for i in range(PAGE)
    ]
    assert [len(n["campaign"]["invoices"]["edges"]) for n in nodes] == [1] * PAGE
    assert {(n["status"], n["campaign"]["makegoodOffers"][0]["kind"]) for n in nodes} == {
        ("OPEN", "CREDIT")
    }


EVENTS = """
query($id: ID!, $first: Int!) { businessCenter(id: $id) { events(first: $first) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id type sequence createdAt data businessCenter { name viewerRole }
  } }
} } }"""


def _check_events(nodes: list[dict[str, Any]], world: World) -> None:
    assert [n["sequence"] for n in nodes] == list(range(1, PAGE + 1))
    assert {n["type"] for n in nodes} <= {t.value for t in EventType}
    assert {n["businessCenter"]["name"] for n in nodes} == {"Acme"}


DELIVERIES = """
query($id: ID!, $first: Int!) { node(id: $id) { ... on WebhookEndpoint {
  deliveries(first: $first) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id attempt attemptedAt responseStatus durationMs succeeded nextAttemptAt responseBody error
      event { id type sequence businessCenter { name } }
    } }
  }
} } }"""


def _check_deliveries(nodes: list[dict[str, Any]], world: World) -> None:
    # newest first: the attempt of the last event first
    assert [n["event"]["sequence"] for n in nodes] == list(range(PAGE + 1, 1, -1))
    assert {(n["attempt"], n["responseStatus"], n["succeeded"]) for n in nodes} == {(1, 200, True)}
    assert {n["event"]["businessCenter"]["name"] for n in nodes} == {"Acme"}


STATEMENT_LINES = """
query($id: ID!, $first: Int!, $month: String!) { wallet(id: $id) { statement(month: $month) {
  lines(first: $first) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      at bucket amount { amount } description balanceAfter { amount }
      transaction { id kind actorEmail campaign { name } }
    } }
  }
} } }"""


def _check_statement_lines(nodes: list[dict[str, Any]], world: World) -> None:
    # oldest first: the ledger's order
    assert [n["balanceAfter"] for n in nodes] == [_dollars(i) for i in range(1, PAGE + 1)]
    assert {(n["bucket"], n["amount"]["amount"]) for n in nodes} == {("CASH", "1.00")}
    assert {(n["transaction"]["kind"], n["transaction"]["actorEmail"]) for n in nodes} == {
        ("ADJUSTMENT", world.admin.email)
    }


@dataclass(frozen=True)
class Case:
    document: str
    variables: Callable[[World], dict[str, Any]]
    path: tuple[str, ...]
    """From `data` to the connection."""
    check: Callable[[list[dict[str, Any]], World], None]
    """The nodes of the page of 100, as the seeded world has them."""
    staff: bool = False


CASES: dict[str, Case] = {
    "BusinessCenter.adAccounts": Case(
        AD_ACCOUNTS,
        lambda w: {"id": w.center},
        ("businessCenter", "adAccounts"),
        _check_ad_accounts,
    ),
    "AdAccount.campaigns": Case(
        CAMPAIGNS, lambda w: {"id": w.accounts[0]}, ("adAccount", "campaigns"), _check_campaigns
    ),
    "Campaign.invoices": Case(
        CAMPAIGN_INVOICES,
        lambda w: {"id": w.long_plan},
        ("campaign", "invoices"),
        _check_campaign_invoices,
    ),
    "BusinessCenter.invoices": Case(
        CENTER_INVOICES,
        lambda w: {"id": w.center},
        ("businessCenter", "invoices"),
        _check_center_invoices,
    ),
    "Wallet.transactions": Case(
        TRANSACTIONS,
        lambda w: {"id": w.center_wallet},
        ("wallet", "transactions"),
        _check_transactions,
    ),
    "Statement.lines": Case(
        STATEMENT_LINES,
        lambda w: {"id": w.center_wallet, "month": w.month},
        ("wallet", "statement", "lines"),
        _check_statement_lines,
    ),
    "BusinessCenter.auditTrail": Case(
        AUDIT_TRAIL,
        lambda w: {"id": w.center},
        ("businessCenter", "auditTrail"),
        _check_audit_trail,
    ),
    "BusinessCenter.notifications": Case(
        NOTIFICATIONS,
        lambda w: {"id": w.center},
        ("businessCenter", "notifications"),
        _check_notifications,
    ),
    "AdAccount.budgetChanges": Case(
        BUDGET_CHANGES,
        lambda w: {"id": w.accounts[0]},
        ("adAccount", "budgetChanges"),
        _check_budget_changes,
    ),
    "BusinessCenter.events": Case(
        EVENTS, lambda w: {"id": w.center}, ("businessCenter", "events"), _check_events
    ),
    "WebhookEndpoint.deliveries": Case(
        DELIVERIES, lambda w: {"id": w.endpoint}, ("node", "deliveries"), _check_deliveries
    ),
    "Viewer.businessCenters": Case(
        BUSINESS_CENTERS, lambda w: {}, ("viewer", "businessCenters"), _check_business_centers
    ),
    "Query.refundRequests": Case(
        REFUND_REQUESTS, lambda w: {}, ("refundRequests",), _check_refund_requests, staff=True
    ),
    "Query.cancellationRequests": Case(
        CANCELLATION_REQUESTS,
        lambda w: {},
        ("cancellationRequests",),
        _check_cancellation_requests,
        staff=True,
    ),
}


@dataclass
class Read:
    count: int
    statements: list[str]
    connection: dict[str, Any]

    @property
    def nodes(self) -> list[dict[str, Any]]:
        return [edge["node"] for edge in self.connection["edges"]]


async def _read(
    seeded: Seeded,
    statements,
    document: str,
    variables: dict[str, Any],
    path: tuple[str, ...],
    first: int,
    *,
    staff: bool = False,
) -> Read:
    """The connection at `path`, and the statements the request ran (the app's included)."""
    token = seeded.world.staff.token if staff else seeded.world.admin.token
    # The caller was just seen, as a front end paging is: whatever the app keeps of a
    # recent caller (its token's actor, its activity today) is kept for both counts alike.
    # A token cached a few seconds ago would expire mid-measurement (a hit does not renew
    # it): forget it, so the warm-up caches it afresh.
    seeded.tokens.clear()
    await seeded.api.data(WHO, token=token)
    statements.count = 0
    statements.statements.clear()
    data = await seeded.api.data(document, {**variables, "first": first}, token)
    for key in path:
        data = data[key]
    return Read(statements.count, list(statements.statements), data)


async def _read_case(seeded: Seeded, statements, case: Case, first: int) -> Read:
    variables = case.variables(seeded.world)
    return await _read(
        seeded, statements, case.document, variables, case.path, first, staff=case.staff
    )


def _extra(one: Read, many: Read) -> str:
    """The statements only the bigger page ran (bound parameters aside): the N+1 to fix."""
    extra = Counter(map(_shape, many.statements)) - Counter(map(_shape, one.statements))
    return f"{one.count} vs {many.count} statements; the bigger page also ran: {dict(extra)}"


def _shape(statement: str) -> str:
    return " ".join(_PARAMETERS.sub("$n", statement).split())


_PARAMETERS = re.compile(r"\$\d+(::\w+)?(, \$\d+(::\w+)?)*")


# Tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", list(CASES))
async def test_a_page_of_100_costs_what_a_page_of_1_costs(field: str, seeded, statements) -> None:
    # given the seeded world, more than a page of every list
    case = CASES[field]
    # when
    one = await _read_case(seeded, statements, case, 1)
    many = await _read_case(seeded, statements, case, PAGE)
    # then
    assert one.count == many.count, _extra(one, many)
    assert len(one.nodes) == 1
    assert one.nodes[0] == many.nodes[0]
    assert len(many.nodes) == PAGE
    assert many.connection["pageInfo"]["hasNextPage"] is True
    case.check(many.nodes, seeded.world)


async def test_a_page_of_100_campaigns_with_their_wallets_and_invoices_costs_what_a_page_of_1_costs(
    seeded, statements
) -> None:
    # given an ad account with more than 100 campaigns, each with invoices and a shortfall
    case = CASES["AdAccount.campaigns"]
    # when
    one = await _read_case(seeded, statements, case, 1)
    many = await _read_case(seeded, statements, case, 100)
    # then
    assert one.count == many.count, _extra(one, many)
    assert len(many.nodes) == 100
    wallet = many.nodes[99]["adAccount"]["wallet"]
    assert wallet["id"] == many.nodes[0]["adAccount"]["wallet"]["id"]
    assert wallet["balance"] == {
        "total": {"amount": "100.00"},
        "cash": {"amount": "100.00"},
        "available": {"amount": "100.00"},
    }
    invoices = [edge["node"] for edge in many.nodes[99]["invoices"]["edges"]]
    assert [(i["kind"], i["installmentNumber"]) for i in invoices] == [
        ("INSTALLMENT", 2),
        ("INSTALLMENT", 1),
        ("CAMPAIGN_SHORTFALL", None),
    ]
    assert invoices[2]["number"] == many.nodes[99]["shortfallInvoice"]["number"]
    assert invoices[0]["lines"] == [{"description": "Seeded line", "amount": {"amount": "1000.00"}}]


CAMPAIGNS_OF_ACCOUNTS = """
query($id: ID!, $first: Int!) { businessCenter(id: $id) { adAccounts(first: $first) {
  pageInfo { hasNextPage endCursor }
  edges { node {
    name wallet { id balance { cash { amount } } }
    campaigns(first: 1, status: CANCELED) { edges { node {
      name invoices(first: 2) { edges { node { number status } } }
    } } }
  } }
} } }"""


async def test_the_campaigns_of_100_ad_accounts_with_their_wallets_and_invoices_cost_what_1_costs(
    seeded, statements
) -> None:
    # given 100 ad accounts, each with its own funded wallet and a campaign with an invoice
    center = {"id": seeded.world.center}
    path = ("businessCenter", "adAccounts")
    # when: a page of pages (one page of campaigns per account)
    one = await _read(seeded, statements, CAMPAIGNS_OF_ACCOUNTS, center, path, 1)
    many = await _read(seeded, statements, CAMPAIGNS_OF_ACCOUNTS, center, path, PAGE)
    # then
    assert one.count == many.count, _extra(one, many)
    assert [n["wallet"]["balance"]["cash"] for n in many.nodes] == [
        _dollars(100 + i) for i in range(PAGE)
    ]
    assert len({n["wallet"]["id"] for n in many.nodes}) == PAGE
    campaigns = [n["campaigns"]["edges"][0]["node"] for n in many.nodes]
    assert [c["name"] for c in campaigns] == [f"Canceled {i}" for i in range(PAGE)]
    assert [[i["node"]["status"] for i in c["invoices"]["edges"]] for c in campaigns] == [
        ["PAID"]
    ] * PAGE


def served_connections() -> set[str]:
    """Every field of the served schema that returns a connection (edges and pageInfo)."""
    schema = build_schema()._schema
    found = set()
    for name, graphql_type in schema.type_map.items():
        if name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field_name, field in graphql_type.fields.items():
            target = get_named_type(field.type)
            if isinstance(target, GraphQLObjectType) and {"edges", "pageInfo"} <= set(
                target.fields
            ):
                found.add(f"{name}.{field_name}")
    return found


def test_every_connection_of_the_served_schema_has_a_statement_count_case() -> None:
    # given the schema the app serves
    # when
    connections = served_connections()
    # then a connection added later fails here until it has its case above
    assert sorted(connections) == sorted(CASES)
    assert len(connections) == 14
