"""Money mutations against `{ __typename }` and against the same transfer in plain SQL.

    python bench/mutations.py [--clients 8] [--rounds 5] [--seconds 2] [--warmup 0.5]

One API process (uvicorn, in a child process), `clients` keep-alive clients, each working
on a business center of its own (so clients queue on no one's locks but their own), and
interleaved rounds of: `{ __typename }`, a wallet read, `transferBalance` 0.01, `topUpWallet`
and its signed `invoice.paid` webhook, `createCampaign` + `launchCampaign`,
`updateCampaignBudget`, `requestRefund` 0.01; and the floor: the transfer's statements
(lock both accounts in id order, move the balances, insert the entry and its postings) in
one transaction over asyncpg, one connection per client. Every answer is checked: the
first failure stops the run. Then `adledger verify-ledger`. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import redis
from _http import Connection
from _shared import (
    BUDGET,
    WEBHOOK_PATH,
    Shop,
    field_value,
    fund,
    mutation,
    paid_webhook,
    percentile,
    shop,
    verify_ledger,
    webhook_processed,
)
from _stack import ROOT, api_process, fresh_database, servers
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.domain.ledger import AccountKind, TransactionKind
from adledger.payments.sandbox import SandboxProvider
from adledger.schema.ids import db_id_of
from adledger.services import users
from adledger.services.actor import Actor
from adledger.store import users as user_repo
from adledger.store import wallets as wallet_repo
from adledger.store.db import make_engine, make_sessionmaker

DATABASE = "adledger_bench_mutations"
REDIS_URL = "redis://127.0.0.1:6379/12"
LOG = ROOT / ".adledger" / "bench-mutations" / "api.log"
USD = "USD"
CENT = {"amount": "0.01", "currencyCode": USD}
REFUNDABLE = "100000.00"  # the paid top-up each center's refunds go back to

TYPENAME_BODY = json.dumps({"query": "{ __typename }"}).encode()
WALLET = "query($id: ID!) { wallet(id: $id) { balance { available { amount } cash { amount } } } }"
BALANCE = "balance { available { amount } }"
TRANSFER = mutation("transferBalance", f"from {{ {BALANCE} }} to {{ {BALANCE} }}")
TOP_UP = mutation("topUpWallet", "topUp { invoice { paymentReference } }")
CREATE_CAMPAIGN = mutation("createCampaign", "campaign { id }")
LAUNCH_CAMPAIGN = mutation("launchCampaign", "campaign { status }")
UPDATE_BUDGET = mutation(
    "updateCampaignBudget", "campaign { budget { amount } } charged { amount } credited { amount }"
)
REQUEST_REFUND = mutation("requestRefund", "refundRequest { id status }")


@dataclass(frozen=True)
class Lane:  # what one client works on
    shop: Shop
    cash_accounts: tuple[int, int]  # the center wallet's, the ad account wallet's
    budget_minor: int  # its campaign's budget as seeded


@dataclass(frozen=True)
class Seed:
    token: str
    user_id: int
    lanes: list[Lane]


@dataclass
class Driver:  # what every client shares
    http: list[Connection]  # one keep-alive connection per client
    sandbox: SandboxProvider
    connections: list[asyncpg.Connection]
    seed: Seed
    turns: dict[tuple[str, int], itertools.count[int]] = field(default_factory=dict)

    def turn(self, case: str, lane: int) -> int:
        """How many times this lane ran this case before: odd turns go back the other way."""
        return next(self.turns.setdefault((case, lane), itertools.count()))


Op = Callable[[Driver, int], Awaitable[None]]


class Failed(Exception):
    """An answer that was not a success: the run stops (a benchmark of errors measures
    nothing)."""


@dataclass
class Sample:
    rates: list[float] = field(default_factory=list)  # per round
    latencies: list[float] = field(default_factory=list)  # seconds, every round
    client_cores: list[float] = field(default_factory=list)  # this process's CPU, per round


def main() -> int:
    options = _arguments()
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with servers(REDIS_URL) as (admin_url, redis_url):
        with redis.Redis.from_url(redis_url) as client:
            client.flushdb()  # the benchmark's own Redis database: the sandbox's invoices
        database_url = fresh_database(admin_url, DATABASE)
        seed = asyncio.run(_seed(database_url, options.clients))
        try:
            with api_process(database_url, redis_url, log=LOG) as base_url:
                samples = asyncio.run(_measure(base_url, redis_url, database_url, seed, options))
        except Failed as failed:
            print(f"stopped: {failed} (the API's log: {LOG})", file=sys.stderr)
            return 1
        _report(samples, options)
        return verify_ledger(database_url)  # the API stopped, the servers still up


# -- data --------------------------------------------------------------------------------


async def _seed(database_url: str, count: int) -> Seed:
    """One funded, subscribed center per client, with an ad account running a campaign."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            now = clock.now()
            token = await users.create_user(session, "mutations@example.com")
            user = await user_repo.user_by_email(session, "mutations@example.com")
            assert user is not None
            admin = Actor(user.id, user.email, user.is_staff)
            lanes = []
            for n in range(count):
                seeded = await shop(session, admin, n, now)
                await fund(session, _wallet_id(seeded.account_wallet))  # launched: it took all
                wallets = (seeded.center_wallet, seeded.account_wallet)
                cash = [await _cash_account(session, wallet) for wallet in wallets]
                lanes.append(Lane(seeded, (cash[0], cash[1]), _minor(BUDGET)))
            await session.commit()
    finally:
        await engine.dispose()
    return Seed(token, user.id, lanes)


async def _cash_account(session: AsyncSession, wallet: str) -> int:
    return (await wallet_repo.wallet_account(session, _wallet_id(wallet), AccountKind.CASH)).id


def _wallet_id(wallet: str) -> int:
    wallet_id = db_id_of(wallet, "Wallet")
    assert wallet_id is not None
    return wallet_id


async def _refundable(driver: Driver) -> None:
    """Each center's refunds need payments to go back to: one paid top-up each, through
    the API as the measured ones go."""
    for n, lane in enumerate(driver.seed.lanes):
        await _top_up(driver, n, lane.shop.center_wallet, REFUNDABLE)


def _minor(amount: str) -> int:
    return int(amount.replace(".", ""))


def _amount(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


# -- the requests ------------------------------------------------------------------------


async def _graphql(driver: Driver, lane: int, name: str, query: str, variables: Any) -> Any:
    """The root field `name`'s value; anything but success stops the run."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    status, answer = await driver.http[lane].post("/graphql", body)
    problem, value = field_value(name, status, json.loads(answer))
    if problem is not None:
        raise Failed(f"{name} failed: {problem}")
    return value


async def _typename(driver: Driver, lane: int) -> None:
    status, answer = await driver.http[lane].post("/graphql", TYPENAME_BODY)
    if status != 200 or json.loads(answer) != {"data": {"__typename": "Query"}}:
        raise Failed(f"{{ __typename }} failed: {status} {answer!r}")


async def _wallet(driver: Driver, lane: int) -> None:
    await _graphql(
        driver, lane, "wallet", WALLET, {"id": driver.seed.lanes[lane].shop.center_wallet}
    )


async def _transfer(driver: Driver, lane: int) -> None:
    """0.01 from the center's wallet to its ad account's, then back: no balance runs out."""
    shop = driver.seed.lanes[lane].shop
    wallets = (shop.center_wallet, shop.account_wallet)
    if driver.turn("transfer", lane) % 2:
        wallets = wallets[::-1]
    given = {"fromWalletId": wallets[0], "toWalletId": wallets[1], "amount": CENT}
    await _graphql(driver, lane, "transferBalance", TRANSFER, {"input": given})


async def _top_up_paid(driver: Driver, lane: int) -> None:
    await _top_up(driver, lane, driver.seed.lanes[lane].shop.center_wallet, "10.00")


async def _top_up(driver: Driver, lane: int, wallet: str, amount: str) -> None:
    """A top-up, then the customer pays it: Stripe's signed `invoice.paid` to the webhook."""
    given = {"walletId": wallet, "amount": {"amount": amount, "currencyCode": USD}}
    result = await _graphql(driver, lane, "topUpWallet", TOP_UP, {"input": given})
    payload, headers = await paid_webhook(
        driver.sandbox, result["topUp"]["invoice"]["paymentReference"]
    )
    status, answer = await driver.http[lane].post(WEBHOOK_PATH, payload, headers)
    problem, _ = webhook_processed(status, json.loads(answer))
    if problem is not None:
        raise Failed(f"invoice.paid failed: {problem}")


async def _launch(driver: Driver, lane: int) -> None:
    """A campaign of the platform minimum, starting tomorrow (no job starts it meanwhile)."""
    starts = clock.now() + timedelta(days=1)
    new = {
        "adAccountId": driver.seed.lanes[lane].shop.account,
        "name": f"Bench {lane}-{uuid.uuid4().hex[:8]}",
        "budget": {"amount": "50.00", "currencyCode": USD},
        "startsAt": starts.isoformat(),
        "endsAt": (starts + timedelta(days=7)).isoformat(),
    }
    created = await _graphql(driver, lane, "createCampaign", CREATE_CAMPAIGN, {"input": new})
    launch = {"input": {"campaignId": created["campaign"]["id"]}}
    await _graphql(driver, lane, "launchCampaign", LAUNCH_CAMPAIGN, launch)


async def _rebudget(driver: Driver, lane: int) -> None:
    """The running campaign's budget 0.01 up, then back down."""
    seeded = driver.seed.lanes[lane]
    budget = seeded.budget_minor + (1 if driver.turn("budget", lane) % 2 == 0 else 0)
    given = {
        "campaignId": seeded.shop.campaign,
        "budget": {"amount": _amount(budget), "currencyCode": USD},
    }
    await _graphql(driver, lane, "updateCampaignBudget", UPDATE_BUDGET, {"input": given})


async def _refund(driver: Driver, lane: int) -> None:
    given = {"walletId": driver.seed.lanes[lane].shop.center_wallet, "amount": CENT}
    await _graphql(driver, lane, "requestRefund", REQUEST_REFUND, {"input": given})


# -- the floor: the transfer in plain SQL ------------------------------------------------

LOCK = (
    "SELECT id, balance FROM ledger_accounts WHERE id = ANY($1::bigint[]) "
    "ORDER BY id FOR NO KEY UPDATE"
)
MOVE = (
    "UPDATE ledger_accounts AS a SET balance = a.balance + m.amount "
    "FROM unnest($1::bigint[], $2::bigint[]) AS m(id, amount) WHERE a.id = m.id"
)
ENTRY = (
    "INSERT INTO ledger_entries (operation, idempotency_key, description, actor_user_id, "
    "created_at) VALUES ('transfer_balance', $1, 'Transfer (bench, plain SQL)', $2, $3) "
    "RETURNING id"
)
POSTINGS = (
    "INSERT INTO ledger_postings (entry_id, account_id, amount, balance_after, kind, "
    "created_at) SELECT $1, p.account_id, p.amount, p.balance_after, p.kind, $2 FROM unnest("
    "$3::bigint[], $4::bigint[], $5::bigint[], $6::varchar[]) WITH ORDINALITY "
    "AS p(account_id, amount, balance_after, kind, n) ORDER BY p.n"
)
KINDS = [TransactionKind.ALLOCATION_OUT.value, TransactionKind.ALLOCATION_IN.value]


async def _sql_transfer(driver: Driver, lane: int) -> None:
    """What the service writes for a transfer, as services/wallets.py and store/ledger.py
    write it (the accounts locked in id order, the balances, the entry, its postings):
    six round trips with BEGIN and COMMIT, none of the service's reads or checks."""
    source, target = driver.seed.lanes[lane].cash_accounts
    if driver.turn("sql", lane) % 2:
        source, target = target, source
    connection = driver.connections[lane]
    async with connection.transaction():
        balances = dict(await connection.fetch(LOCK, [source, target]))
        if balances[source] < 1:
            raise Failed(f"the SQL transfer found account {source} empty")
        afters = [balances[source] - 1, balances[target] + 1]
        await connection.execute(MOVE, [source, target], [-1, 1])
        now = clock.now()  # inside the transaction, as the service dates an entry
        entry = await connection.fetchval(
            ENTRY, f"bench-sql:{uuid.uuid4()}", driver.seed.user_id, now
        )
        await connection.execute(POSTINGS, entry, now, [source, target], [-1, 1], afters, KINDS)


# -- measuring ---------------------------------------------------------------------------

CASES: dict[str, Op] = {
    "{ __typename }": _typename,
    "wallet read": _wallet,
    "transferBalance 0.01": _transfer,
    "topUpWallet + invoice.paid": _top_up_paid,
    "createCampaign + launchCampaign": _launch,
    "updateCampaignBudget": _rebudget,
    "requestRefund 0.01": _refund,
    "transfer in plain SQL": _sql_transfer,
}
TYPENAME_CASE, FLOOR_CASE = "{ __typename }", "transfer in plain SQL"


async def _measure(
    base_url: str, redis_url: str, database_url: str, seed: Seed, options: argparse.Namespace
) -> dict[str, Sample]:
    """A warm-up of every case, then `rounds` rounds of every case in turn (drift hits all
    alike); one case runs at a time."""
    clients = options.clients
    headers = {"Authorization": f"Bearer {seed.token}"}
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    connections = [await asyncpg.connect(dsn) for _ in range(clients)]
    http = [await Connection.open(base_url, headers) for _ in range(clients)]
    try:
        async with Redis.from_url(redis_url) as sandbox_redis:
            driver = Driver(http, SandboxProvider(sandbox_redis), connections, seed)
            await _refundable(driver)
            cases = _chosen(options.only)
            for op in cases.values():
                await _round(driver, op, options.warmup)
            samples = {name: Sample() for name in cases}
            for n in range(options.rounds):
                print(f"round {n + 1} of {options.rounds}", file=sys.stderr)
                for name, op in cases.items():
                    rate, latencies, cores = await _round(driver, op, options.seconds)
                    samples[name].rates.append(rate)
                    samples[name].latencies.extend(latencies)
                    samples[name].client_cores.append(cores)
            return samples
    finally:
        for closing in (*connections, *http):
            await closing.close()


def _chosen(only: list[str]) -> dict[str, Op]:
    """The cases to run: all, or those named by --only, always with the two baselines."""
    baselines = (TYPENAME_CASE, FLOOR_CASE)
    return {
        name: op
        for name, op in CASES.items()
        if not only or name in baselines or any(part in name for part in only)
    }


async def _round(driver: Driver, op: Op, seconds: float) -> tuple[float, list[float], float]:
    """Every client runs `op` back to back for `seconds`: (ops per second, latencies, the
    cores this process kept busy: on 2 vCPUs a client near 1 would cap the server)."""
    deadline = time.monotonic() + seconds
    latencies: list[float] = []

    async def client(lane: int) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            await op(driver, lane)
            latencies.append(time.perf_counter() - started)

    started, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(client(lane) for lane in range(len(driver.seed.lanes))))
    elapsed = time.monotonic() - started
    return len(latencies) / elapsed, latencies, (time.process_time() - cpu) / elapsed


# -- reporting ---------------------------------------------------------------------------

# The targets of issue 28, as ratios to `{ __typename }` (and to the SQL floor).
TARGETS = {
    "transferBalance 0.01": (0.25, 0.2),
    "createCampaign + launchCampaign": (0.1, None),
    "topUpWallet + invoice.paid": (0.1, None),
}


def _report(samples: dict[str, Sample], options: argparse.Namespace) -> None:
    rates = {name: statistics.median(sample.rates) for name, sample in samples.items()}
    typename, floor = rates[TYPENAME_CASE], rates[FLOOR_CASE]
    today = datetime.now(UTC).date().isoformat()
    print(
        f"adledger mutations, {today}: one API process, {options.clients} keep-alive clients "
        f"(a business center each), {options.rounds} interleaved rounds of "
        f"{options.seconds:g} s per request; median rate of the rounds, latencies of all;\n"
        "  client: the cores this client process kept busy (median of the rounds)"
    )
    print(
        f"  {'request':<34}{'per s':>8}{'rounds':>13}{'/typename':>11}{'/SQL':>8}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'client':>8}"
    )
    for name, sample in samples.items():
        p50, p99 = (1000 * percentile(sample.latencies, q) for q in (0.5, 0.99))
        print(
            f"  {name:<34}{rates[name]:>8.1f}{_spread(sample.rates):>13}"
            f"{rates[name] / typename:>11.3f}"
            f"{rates[name] / floor:>8.3f}{p50:>9.1f}{p99:>9.1f}"
            f"{statistics.median(sample.client_cores):>8.2f}"
        )
    for name, (of_typename, of_floor) in TARGETS.items():
        if name not in rates:
            continue
        line = f"  {name}: " + _target(rates[name] / typename, of_typename, "typename")
        if of_floor is not None:
            line += ", " + _target(rates[name] / floor, of_floor, "the SQL floor")
        print(line)


def _spread(rates: list[float]) -> str:
    """The slowest and the fastest round."""
    return f"{min(rates):.0f}\u2013{max(rates):.0f}"


def _target(ratio: float, target: float, of: str) -> str:
    met = "met" if ratio >= target else "NOT met"
    return f"{ratio:.3f}x {of} (target \u2265 {target:g}: {met})"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=8, help="keep-alive clients")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per request")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one round")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds per request, unmeasured")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="run only the requests whose name contains this (repeatable); "
        "{ __typename } and the SQL floor always run",
    )
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
