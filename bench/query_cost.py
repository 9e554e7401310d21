"""Issue 24's costly query against one `adledger serve` process: refused, and harmless.

    python bench/query_cost.py [--seconds 30] [--attackers 10]

Seeds a business center with 10 ad accounts and 122 campaigns, starts one API process
(default settings: MAX_QUERY_COST, the points budget), then measures (a) how fast the
20-alias query is refused, (b) /healthz and a wallet read with no load, (c) the same
while `--attackers` clients send the 20-alias query in a loop; prints the figures, the
ratios against (b), and how the attackers' requests were answered. No assert on time:
the figures are for bench/README.md. The API's output: .adledger/query-cost/api.log.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import redis
from _stack import ROOT, api_process, fresh_database, servers
from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.domain.access import Role
from adledger.domain.money import Currency, Money
from adledger.domain.wallets import MoneyIn
from adledger.schema.ids import to_global_id
from adledger.services import business_centers as centers
from adledger.services import users
from adledger.services.actor import Actor
from adledger.services.campaigns import NewCampaign, create_campaign
from adledger.services.config import BillingConfig
from adledger.services.wallets import credit_adjustment
from adledger.store import users as user_repo
from adledger.store import wallets as wallet_repo
from adledger.store.db import make_engine, make_sessionmaker

DATABASE = "adledger_cost_bench"
LOG = ROOT / ".adledger" / "query-cost" / "api.log"
ACCOUNTS, CAMPAIGNS = 10, 122
ALIAS = """a{i}: businessCenter(id: $id) {{ adAccounts(first: 100) {{ edges {{ node {{ id
  wallet {{ transactions(first: 100) {{ edges {{ node {{ id }} }} }} }}
  campaigns(first: 100) {{ edges {{ node {{ id }} }} }}
  budgetChanges(first: 100) {{ edges {{ node {{ changedAt }} }} }} }} }} }} }}"""
ATTACK = "query($id: ID!) {" + "\n".join(ALIAS.format(i=i) for i in range(20)) + "}"
WALLET = "query($id: ID!) { wallet(id: $id) { balance { available { amount } cash { amount } } } }"


@dataclass
class Seed:
    reader: str  # the center's admin: reads its wallet
    attacker: str  # another member of the center (FINANCE_ANALYST)
    center: str
    wallet: str


def main() -> None:
    options = _arguments()
    with servers() as (admin_url, redis_url):
        database_url = fresh_database(admin_url, DATABASE)
        seed = asyncio.run(_seed(database_url))
        _forget_budgets(redis_url)
        LOG.parent.mkdir(parents=True, exist_ok=True)
        with api_process(database_url, redis_url, log=LOG) as base_url:
            asyncio.run(_measure(base_url, redis_url, seed, options))


# -- data --------------------------------------------------------------------------------


async def _seed(database_url: str) -> Seed:
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            admin, reader = await _user(session, "admin@example.com")
            attacker_user, attacker = await _user(session, "attacker@example.com")
            center = await centers.create_business_center(session, admin, "Acme", Currency.USD)
            center_id = center.business_center_id
            await centers.add_member(
                session, admin, center_id, attacker_user.email, Role.FINANCE_ANALYST
            )
            (wallet,) = await wallet_repo.wallets_of_centers(session, [center_id])
            await _accounts(session, admin, center_id)
            await session.commit()
    finally:
        await engine.dispose()
    center_gid = to_global_id("BusinessCenter", center_id)
    return Seed(reader, attacker, center_gid, to_global_id("Wallet", wallet.id))


async def _user(session: AsyncSession, email: str) -> tuple[Actor, str]:
    token = await users.create_user(session, email)
    user = await user_repo.user_by_email(session, email)
    assert user is not None
    return Actor(user.id, user.email, user.is_staff), token


async def _accounts(session: AsyncSession, admin: Actor, center_id: int) -> None:
    """10 funded PREPAID accounts sharing 122 draft campaigns (13 on the first two)."""
    config, now = BillingConfig(), clock.now()
    prepaid, auction = centers.BillingOption.PREPAID, centers.AdAccountType.AUCTION
    flight = (now + timedelta(days=1), now + timedelta(days=30))
    for n in range(ACCOUNTS):
        account = await centers.create_ad_account(
            session, admin, center_id, f"Account {n}", prepaid, auction
        )
        (wallet,) = await wallet_repo.wallets_of_ad_accounts(session, [account.ad_account_id])
        funding = Money(1_000_000, Currency.USD)
        await credit_adjustment(session, wallet.id, funding, "cost benchmark", None)
        count = CAMPAIGNS // ACCOUNTS + (1 if n < CAMPAIGNS % ACCOUNTS else 0)
        for c in range(count):
            new = NewCampaign(
                account.ad_account_id, f"Campaign {n}-{c}", MoneyIn("100.00", Currency.USD), *flight
            )
            await create_campaign(session, admin, new, config, now)


def _forget_budgets(redis_url: str) -> None:
    """An earlier run's budgets (same Redis database) would answer 429 from the start."""
    with redis.Redis.from_url(redis_url) as client:
        for key in client.scan_iter("LIMITS:ADLEDGER/*"):
            client.delete(key)


# -- measuring ---------------------------------------------------------------------------


async def _measure(base_url: str, redis_url: str, seed: Seed, options: argparse.Namespace) -> None:
    limits = httpx.Limits(max_connections=options.attackers + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        await _warm_up(client, seed)
        refusals = await _refusal_latencies(client, redis_url, seed, options.refusals)
        quiet = await _probe(client, seed, options.baseline_seconds)
        _forget_budgets(redis_url)  # the attack starts on a whole budget, as defaulted
        answers: dict[str, list[float]] = {}
        stop = time.monotonic() + options.seconds
        attackers = [
            asyncio.create_task(_attack(client, seed, stop, answers))
            for _ in range(options.attackers)
        ]
        loaded = await _probe(client, seed, options.seconds)
        await asyncio.gather(*attackers)
    _report(refusals, quiet, loaded, answers, options)


async def _warm_up(client: httpx.AsyncClient, seed: Seed) -> None:
    for _ in range(20):
        await _wallet(client, seed)
        await client.get("/healthz")


async def _refusal_latencies(
    client: httpx.AsyncClient, redis_url: str, seed: Seed, count: int
) -> list[float]:
    """The 20-alias query alone, one at a time, each on a whole budget (a refusal is
    charged 100 000 points: the sixth in a window would answer 429 instead)."""
    timings, codes = [], Counter[str]()
    for _ in range(count):
        _forget_budgets(redis_url)
        started = time.perf_counter()
        response = await _post(client, seed.attacker, ATTACK, {"id": seed.center})
        timings.append(time.perf_counter() - started)
        codes[_code(response)] += 1
    print(f"(a) refusals answered: {dict(codes)}")
    return timings


async def _probe(client: httpx.AsyncClient, seed: Seed, seconds: float) -> dict[str, list[float]]:
    """/healthz and a wallet read, one after the other, for `seconds`."""
    found: dict[str, list[float]] = {"healthz": [], "wallet": []}
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        started = time.perf_counter()
        assert (await client.get("/healthz")).status_code == 200
        found["healthz"].append(time.perf_counter() - started)
        started = time.perf_counter()
        await _wallet(client, seed)
        found["wallet"].append(time.perf_counter() - started)
    return found


async def _wallet(client: httpx.AsyncClient, seed: Seed) -> None:
    response = await _post(client, seed.reader, WALLET, {"id": seed.wallet})
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body


async def _attack(
    client: httpx.AsyncClient, seed: Seed, stop: float, answers: dict[str, list[float]]
) -> None:
    while time.monotonic() < stop:
        started = time.perf_counter()
        try:
            code = _code(await _post(client, seed.attacker, ATTACK, {"id": seed.center}))
        except httpx.HTTPError as error:
            code = type(error).__name__
        answers.setdefault(code, []).append(time.perf_counter() - started)


async def _post(
    client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )


def _code(response: httpx.Response) -> str:
    errors = response.json().get("errors") or [{}]
    code = errors[0].get("extensions", {}).get("code", "no error")
    return f"{response.status_code} {code}"


# -- report ------------------------------------------------------------------------------


def _ms(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _report(
    refusals: list[float],
    quiet: dict[str, list[float]],
    loaded: dict[str, list[float]],
    answers: dict[str, list[float]],
    options: argparse.Namespace,
) -> None:
    median = 1000 * statistics.median(refusals)
    print(f"(a) 20-alias query refused: median {median:.1f} ms, p99 {_ms(refusals, 0.99):.1f} ms")
    for name, limit in (("healthz", 100), ("wallet", 250)):
        before, during = _ms(quiet[name], 0.99), _ms(loaded[name], 0.99)
        print(
            f"{name}: (b) no load p50 {_ms(quiet[name], 0.5):.1f} ms p99 {before:.1f} ms "
            f"({len(quiet[name])} requests); (c) {options.attackers} attackers for "
            f"{options.seconds:.0f} s p50 {_ms(loaded[name], 0.5):.1f} ms p99 {during:.1f} ms "
            f"({len(loaded[name])} requests); p99 ratio {during / before:.2f}; "
            f"target p99 < {limit} ms: {'met' if during < limit else 'NOT met'}"
        )
    total = sum(len(timings) for timings in answers.values())
    print(f"(c) attackers' answers: {total}, {total / options.seconds:.0f}/s")
    for code, timings in sorted(answers.items()):
        print(
            f"    {code}: {len(timings)}, p50 {_ms(timings, 0.5):.1f} ms "
            f"p99 {_ms(timings, 0.99):.1f} ms"
        )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="the attack's duration")
    parser.add_argument("--attackers", type=int, default=10)
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--refusals", type=int, default=200)
    return parser.parse_args()


if __name__ == "__main__":
    main()
