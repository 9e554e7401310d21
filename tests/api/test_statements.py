"""Balances at any instant and monthly statements (issue 29): what a finance team closing
its books asks of a wallet, exact to the posting, the same before and after the months are
closed, and a closed month never changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from adledger.jobs.ledger import close_ledger_months_job
from adledger.services.verify import verify_ledger
from tests.api.campaign_fixtures import open_shop
from tests.helpers import TRANSFER, add_member, create_account

JANUARY = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)

BALANCE_AT = """query($id: ID!, $at: DateTime!) { node(id: $id) { ... on Wallet {
  balanceAt(at: $at) { at cash { amount } vouchers { amount } creditLine { amount }
    available { amount } } } } }"""
STATEMENT = """query($id: ID!, $month: String!, $first: Int, $after: String) {
  node(id: $id) { ... on Wallet { statement(month: $month) {
    month closed
    opening { at cash { amount } vouchers { amount } creditLine { amount } }
    closing { at cash { amount } vouchers { amount } creditLine { amount } }
    totals { bucket kind amount { amount } count }
    lines(first: $first, after: $after) {
      edges { cursor node { at bucket amount { amount } description balanceAfter { amount }
        transaction { id kind } } }
      pageInfo { hasNextPage endCursor } } } } } }"""


async def _balance_at(api, wallet: str, at: datetime, token: str) -> dict[str, Any]:
    answer = await api.post(BALANCE_AT, {"id": wallet, "at": at.isoformat()}, token)
    assert "errors" not in answer, answer
    snapshot = answer["data"]["node"]["balanceAt"]
    return {k: v["amount"] for k, v in snapshot.items() if k != "at"}


async def _statement(api, wallet: str, month: str, token: str, **page: Any) -> dict[str, Any]:
    answer = await api.post(STATEMENT, {"id": wallet, "month": month, **page}, token)
    assert "errors" not in answer, answer
    return answer["data"]["node"]["statement"]


async def _transfer(api, source: str, target: str, amount: str, token: str) -> None:
    move = {"fromWalletId": source, "toWalletId": target, "bucket": "CASH"}
    move["amount"] = {"amount": amount, "currencyCode": "USD"}  # type: ignore[assignment]
    moved = (await api.data(TRANSFER, {"input": move}, token))["transferBalance"]
    assert moved["__typename"] == "TransferBalanceSuccess", moved


@pytest.fixture
def worker_ctx(sessions) -> dict[str, Any]:
    return {"sessions": sessions}


@pytest.fixture
async def months(api, users, time_travel):
    """An ad account's wallet funded with 100.00 on January 10th, 30.00 moved to its center
    on February 3rd and 5.00 back on March 20th; now is April 2nd."""
    time_travel.to(JANUARY)
    shop = await open_shop(api, users, cash="100.00")
    center, account = shop.center.wallet_id, shop.account.wallet_id
    time_travel.to(datetime(2026, 2, 3, 12, 0, tzinfo=UTC))
    await _transfer(api, account, center, "30.00", shop.token)
    time_travel.to(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    await _transfer(api, center, account, "5.00", shop.token)
    time_travel.to(datetime(2026, 4, 2, 8, 0, tzinfo=UTC))
    return shop


INSTANTS = [
    (datetime(2026, 1, 10, 9, 30, tzinfo=UTC), "100.00"),
    (datetime(2026, 2, 3, 11, 59, tzinfo=UTC), "100.00"),
    (datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC), "70.00"),
    (datetime(2026, 3, 20, 12, 30, tzinfo=UTC), "75.00"),
    (datetime(2026, 4, 1, 0, 0, tzinfo=UTC), "75.00"),
]


@pytest.mark.parametrize("closed", [False, True], ids=["open-months", "closed-months"])
async def test_a_wallets_balance_at_any_instant_is_the_same_before_and_after_closing(
    api, months, worker_ctx, closed: bool
) -> None:
    # given the months of the fixture, closed or not
    if closed:
        report = await close_ledger_months_job(worker_ctx, datetime(2026, 4, 2, 8, tzinfo=UTC))
        assert [m.split(" ")[0] for m in report.months] == ["2026-01", "2026-02", "2026-03"]

    # when the account's wallet is asked its balance at instants of every month
    wallet, token = months.account.wallet_id, months.token
    answers = [await _balance_at(api, wallet, at, token) for at, _ in INSTANTS]

    # then each is what the postings up to that instant leave
    assert [a["cash"] for a in answers] == [cash for _, cash in INSTANTS]
    assert {(a["vouchers"], a["creditLine"]) for a in answers} == {("0.00", "0.00")}
    assert [a["available"] for a in answers] == [cash for _, cash in INSTANTS]


async def test_a_closed_months_statement_opens_moves_and_closes(api, months, worker_ctx) -> None:
    # given the months closed
    await close_ledger_months_job(worker_ctx, datetime(2026, 4, 2, 8, tzinfo=UTC))

    # when February's statement of the account's wallet is read
    february = await _statement(api, months.account.wallet_id, "2026-02", months.token)

    # then it opens at January's close, shows the transfer, and closes at its sum
    assert (february["month"], february["closed"]) == ("2026-02", True)
    assert february["opening"]["at"] == "2026-01-31T23:59:59.999999+00:00"
    assert february["opening"]["cash"] == {"amount": "100.00"}
    assert february["closing"]["at"] == "2026-02-28T23:59:59.999999+00:00"
    assert february["closing"]["cash"] == {"amount": "70.00"}
    lines = [edge["node"] for edge in february["lines"]["edges"]]
    assert [(n["bucket"], n["amount"]["amount"], n["balanceAfter"]["amount"]) for n in lines] == [
        ("CASH", "-30.00", "70.00")
    ]
    assert lines[0]["transaction"]["kind"] == "ALLOCATION_OUT"
    assert february["totals"] == [
        {"bucket": "CASH", "kind": "ALLOCATION_OUT", "amount": {"amount": "-30.00"}, "count": 1}
    ]


async def test_the_running_month_is_not_closed_and_closes_at_now(api, months) -> None:
    # when April's statement is read on April 2nd
    april = await _statement(api, months.account.wallet_id, "2026-04", months.token)

    # then it is open, its closing is now's balance, and it has no line yet
    assert april["closed"] is False
    assert april["opening"]["cash"] == april["closing"]["cash"] == {"amount": "75.00"}
    assert april["closing"]["at"].startswith("2026-04-02T08:00")
    assert april["lines"]["edges"] == []


async def test_lines_page_in_the_order_the_ledger_wrote_them(api, users, time_travel) -> None:
    # given five transfers in one month
    time_travel.to(JANUARY)
    shop = await open_shop(api, users, cash="100.00")
    for n in range(5):
        time_travel.by(timedelta(hours=1))
        await _transfer(
            api, shop.account.wallet_id, shop.center.wallet_id, f"{n + 1}.00", shop.token
        )

    # when January's lines are read two at a time
    seen, after = [], None
    while True:
        page = await _statement(
            api, shop.account.wallet_id, "2026-01", shop.token, first=2, after=after
        )
        seen += [e["node"]["amount"]["amount"] for e in page["lines"]["edges"]]
        if not page["lines"]["pageInfo"]["hasNextPage"]:
            break
        after = page["lines"]["pageInfo"]["endCursor"]

    # then every line comes once, in order, the funding first
    assert seen == ["100.00", "-1.00", "-2.00", "-3.00", "-4.00", "-5.00"]


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("2026-13", "month must be YYYY-MM"),
        ("26-01", "month must be YYYY-MM"),
        ("2026-1", "month must be YYYY-MM"),
        ("\uff12\uff10\uff12\uff16-01", "month must be YYYY-MM"),  # fullwidth digits
        ("2025-12", "the wallet was opened in 2026-01"),
        ("2026-05", "the month has not begun"),
    ],
)
async def test_a_month_the_wallet_did_not_exist_in_is_invalid_input(
    api, months, month: str, message: str
) -> None:
    answer = await api.post(
        STATEMENT, {"id": months.account.wallet_id, "month": month}, months.token
    )
    assert answer["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert message in answer["errors"][0]["message"]


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (datetime(2026, 4, 3, tzinfo=UTC), "at is in the future"),
        (datetime(2025, 12, 31, tzinfo=UTC), "the wallet was opened at"),
    ],
)
async def test_an_instant_the_wallet_had_no_balance_at_is_invalid_input(
    api, months, at: datetime, message: str
) -> None:
    answer = await api.post(
        BALANCE_AT, {"id": months.account.wallet_id, "at": at.isoformat()}, months.token
    )
    assert answer["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert message in answer["errors"][0]["message"]


async def test_an_analyst_reads_statements_and_a_standard_member_may_not(
    api, users, months
) -> None:
    # given an analyst and a standard member of the center, and another customer's admin
    analyst, standard = await users.create("analyst"), await users.create("standard")
    await add_member(api, months.center, analyst, "FINANCE_ANALYST")
    await add_member(api, months.center, standard, "STANDARD")
    stranger = await open_shop(api, users)
    wallet = months.account.wallet_id

    # when each asks for February's statement
    read = await api.post(STATEMENT, {"id": wallet, "month": "2026-02"}, analyst.token)
    refused = await api.post(STATEMENT, {"id": wallet, "month": "2026-02"}, standard.token)
    hidden = await api.post(STATEMENT, {"id": wallet, "month": "2026-02"}, stranger.token)

    # then the analyst reads it, the member is refused, the stranger sees no such wallet
    assert read["data"]["node"]["statement"]["closing"]["cash"] == {"amount": "70.00"}
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert hidden["data"]["node"] is None


async def test_a_posting_dated_in_a_closed_month_is_refused(
    api, months, worker_ctx, sessions, time_travel
) -> None:
    # given the months up to March closed
    await close_ledger_months_job(worker_ctx, datetime(2026, 4, 2, 8, tzinfo=UTC))

    # when a clock set back to March makes a transfer
    time_travel.to(datetime(2026, 3, 25, tzinfo=UTC))
    move = {
        "fromWalletId": months.account.wallet_id,
        "toWalletId": months.center.wallet_id,
        "bucket": "CASH",
        "amount": {"amount": "1.00", "currencyCode": "USD"},
    }
    answer = await api.post(TRANSFER, {"input": move}, months.token)

    # then it fails whole, and March's statement is what it was
    assert answer["errors"][0]["extensions"]["code"] == "INTERNAL_ERROR"
    time_travel.to(datetime(2026, 4, 2, 9, tzinfo=UTC))
    march = await _statement(api, months.account.wallet_id, "2026-03", months.token)
    assert march["closing"]["cash"] == {"amount": "75.00"}


async def test_verify_ledger_finds_a_closing_that_is_not_its_postings(
    api, months, worker_ctx, sessions
) -> None:
    # given the months closed, and a closing changed behind the ledger's back
    await close_ledger_months_job(worker_ctx, datetime(2026, 4, 2, 8, tzinfo=UTC))
    async with sessions() as session:
        await session.execute(
            text(
                "UPDATE ledger_account_months SET closing = closing + 1 WHERE month = '2026-02-01'"
            )
        )
        await session.commit()

    # when the ledger is verified
    async with sessions() as session:
        violations = await verify_ledger(session)
        await session.execute(
            text(
                "UPDATE ledger_account_months SET closing = closing - 1 WHERE month = '2026-02-01'"
            )
        )
        await session.commit()

    # then each changed closing is reported, and so is the next month of an account that
    # moved in it (it opens from the changed one)
    assert {v.rule for v in violations} == {"closed month"}
    february = [v.detail for v in violations if "in 2026-02" in v.detail]
    assert len(february) == 2, violations  # the center's wallet and the account's moved
    assert all("in 2026-02" in v.detail or "in 2026-03" in v.detail for v in violations)


async def test_balance_at_on_two_years_of_postings_costs_a_few_statements(
    api, users, time_travel, worker_ctx, statements
) -> None:
    # given a wallet moving money every month for 24 months, its months closed
    time_travel.to(datetime(2024, 1, 5, tzinfo=UTC))
    shop = await open_shop(api, users, cash="500.00")
    for month in range(24):
        time_travel.to(datetime(2024 + month // 12, month % 12 + 1, 15, tzinfo=UTC))
        await _transfer(api, shop.account.wallet_id, shop.center.wallet_id, "1.00", shop.token)
    time_travel.to(datetime(2026, 1, 10, tzinfo=UTC))
    await close_ledger_months_job(worker_ctx, datetime(2026, 1, 10, tzinfo=UTC))

    # when its balance in the last month is read
    statements.statements.clear()
    at = datetime(2025, 12, 20, tzinfo=UTC)
    answer = await _balance_at(api, shop.account.wallet_id, at, shop.token)

    # then it is exact, and read in a few statements
    assert answer["cash"] == "476.00"
    reads = [s for s in statements.statements if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
    balance = [s for s in reads if "ledger_" in s or "wallet_credit_limits" in s]
    assert len(balance) == 3, balance  # the closings, the postings since, the credit limit
    assert len(reads) <= 5, reads  # and the request's own: the caller, the wallet


async def test_an_instant_without_an_offset_is_invalid_input(api, months) -> None:
    answer = await api.post(
        BALANCE_AT, {"id": months.account.wallet_id, "at": "2026-02-10T12:00:00"}, months.token
    )
    assert answer["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert "at needs a UTC offset" in answer["errors"][0]["message"]


CENTER_BALANCE_AT = """query($id: ID!, $at: DateTime!) { businessCenter(id: $id) {
  balanceAt(at: $at) { own { cash { amount } available { amount } }
    adAccounts { cash { amount } available { amount } } } } }"""


async def test_a_centers_balance_at_is_its_own_wallet_and_its_accounts_summed(
    api, users, months, time_travel
) -> None:
    # given a second ad account, opened in March with 20.00
    time_travel.to(datetime(2026, 3, 1, 9, tzinfo=UTC))
    second = await create_account(api, months.center, name="Display")
    await users.fund(second.wallet_id, "20.00")
    time_travel.to(datetime(2026, 4, 2, 8, tzinfo=UTC))

    # when the center is asked its balances in February and in March
    asked = [datetime(2026, 2, 15, tzinfo=UTC), datetime(2026, 3, 25, tzinfo=UTC)]
    answers = [
        (
            await api.data(
                CENTER_BALANCE_AT, {"id": months.center.id, "at": at.isoformat()}, months.token
            )
        )["businessCenter"]["balanceAt"]
        for at in asked
    ]

    # then its own wallet holds what was moved to it, its accounts the rest (the second
    # account counting from when it was opened)
    assert [(a["own"]["cash"]["amount"], a["adAccounts"]["cash"]["amount"]) for a in answers] == [
        ("30.00", "70.00"),
        ("25.00", "95.00"),
    ]


MANY = """query($id: ID!) { businessCenter(id: $id) { adAccounts(first: 20) { edges { node {
  wallet { statement(month: "2026-01") { closing { cash { amount } } totals { count }
    lines(first: 5) { edges { node { amount { amount } transaction { kind } } } } } } } } } } }"""


async def _centers_statements(api, users, statements, accounts: int) -> tuple[list, int]:
    shop = await open_shop(api, users, cash="10.00")
    for n in range(accounts - 1):
        account = await create_account(api, shop.center, name=f"Account {n}")
        await users.fund(account.wallet_id, "10.00")
    statements.statements.clear()
    answer = await api.data(MANY, {"id": shop.center.id}, shop.token)
    reads = [s for s in statements.statements if "ledger_" in s or "wallet_credit" in s]
    return answer["businessCenter"]["adAccounts"]["edges"], len(reads)


async def test_many_wallets_statements_are_read_together(
    api, users, statements, time_travel
) -> None:
    # given a center of 2 ad accounts and one of 8, each funded with 10.00 in January
    time_travel.to(JANUARY)
    two, reads_two = await _centers_statements(api, users, statements, 2)
    eight, reads_eight = await _centers_statements(api, users, statements, 8)

    # then every account's statement and lines are there, read in as many statements
    wallets = [edge["node"]["wallet"]["statement"] for edge in eight]
    assert {w["closing"]["cash"]["amount"] for w in wallets} == {"10.00"}
    assert [len(w["lines"]["edges"]) for w in wallets] == [1] * 8
    assert len(two) == 2
    assert reads_eight == reads_two, (reads_two, reads_eight)
