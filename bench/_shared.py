"""What the benchmarks that drive money through the API share (bench/load.py,
bench/mutations.py): a seeded business center, GraphQL mutation documents and their checks,
the signed `invoice.paid` webhook a paid top-up gets, percentiles and `verify-ledger`."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.app.settings import SANDBOX_WEBHOOK_SECRET
from adledger.domain.billing import Plan
from adledger.domain.money import Currency, Money
from adledger.domain.wallets import MoneyIn
from adledger.payments.sandbox import SandboxProvider
from adledger.payments.signing import sign_payload
from adledger.schema.ids import to_global_id
from adledger.services import business_centers as centers
from adledger.services.actor import Actor
from adledger.services.campaigns import NewCampaign, create_campaign, launch_campaign
from adledger.services.config import BillingConfig
from adledger.services.subscriptions import subscribe
from adledger.services.wallets import credit_adjustment
from adledger.store import wallets as wallet_repo

BUDGET = "1000000.00"
WEBHOOK_PATH = "/webhooks/stripe"


def mutation(name: str, selection: str) -> str:
    """`name`'s document: `selection` on its Success, code and message on a UserError."""
    kind = name[0].upper() + name[1:]
    return (
        f"mutation($input: {kind}Input!) {{ {name}(input: $input) {{ __typename "
        f"... on {kind}Success {{ {selection} }} ... on UserError {{ code message }} }} }}"
    )


def field_value(name: str, status: int, answer: dict[str, Any]) -> tuple[str | None, Any]:
    """(the problem, None) unless the root field `name` succeeded; else (None, its value)."""
    result = (answer.get("data") or {}).get(name)
    if status != 200 or answer.get("errors") or not isinstance(result, dict):
        return f"HTTP {status}: {str(answer)[:300]}", None
    typename = result.get("__typename", "Success")
    if not typename.endswith("Success"):
        return f"{typename}: {result.get('code')} {result.get('message')}", None
    if result.get("refused"):  # recordSpend answered, but did not apply the batch whole
        return f"refused: {str(result['refused'])[:300]}", None
    return None, result


def webhook_processed(status: int, answer: dict[str, Any]) -> tuple[str | None, Any]:
    ok = status == 200 and answer.get("outcome") == "PROCESSED"
    return (None, answer) if ok else (f"HTTP {status}: {str(answer)[:300]}", None)


async def paid_webhook(sandbox: SandboxProvider, reference: str) -> tuple[bytes, dict[str, str]]:
    """The customer pays the sandbox invoice: the body and headers of Stripe's signed
    `invoice.paid`, for WEBHOOK_PATH (as `adledger payments simulate --url` sends it)."""
    invoice, event_type = await sandbox.settle(reference, "paid")
    payload = SandboxProvider.event_payload(invoice, event_type)
    signature = sign_payload(payload, SANDBOX_WEBHOOK_SECRET)
    return payload, {"Stripe-Signature": signature, "Content-Type": "application/json"}


@dataclass(frozen=True)
class Shop:  # one seeded business center, by global ids
    center_wallet: str
    account: str
    account_wallet: str
    campaign: str


async def shop(session: AsyncSession, admin: Actor, n: int, now: datetime) -> Shop:
    """A subscribed business center whose wallet and one PREPAID ad account's wallet hold
    BUDGET each, the account running one launched campaign of BUDGET."""
    config = BillingConfig()
    center = await centers.create_business_center(session, admin, f"Center {n}", Currency.USD)
    center_id = center.business_center_id
    (center_wallet,) = await wallet_repo.wallets_of_centers(session, [center_id])
    await fund(session, center_wallet.id)
    await subscribe(session, admin, center_id, Plan.PRO, True, config, now)
    prepaid, auction = centers.BillingOption.PREPAID, centers.AdAccountType.AUCTION
    account = await centers.create_ad_account(
        session, admin, center_id, f"Account {n}", prepaid, auction
    )
    (wallet,) = await wallet_repo.wallets_of_ad_accounts(session, [account.ad_account_id])
    await fund(session, wallet.id)
    flight = (now - timedelta(hours=1), now + timedelta(days=30))
    new = NewCampaign(
        account.ad_account_id, f"Campaign {n}", MoneyIn(BUDGET, Currency.USD), *flight
    )
    created = await create_campaign(session, admin, new, config, now)
    await launch_campaign(session, admin, created.campaign_id, config, now)
    return Shop(
        to_global_id("Wallet", center_wallet.id),
        to_global_id("AdAccount", account.ad_account_id),
        to_global_id("Wallet", wallet.id),
        to_global_id("Campaign", created.campaign_id),
    )


async def fund(session: AsyncSession, wallet_id: int, amount: str = BUDGET) -> None:
    money = Money(int(amount.replace(".", "")), Currency.USD)
    await credit_adjustment(session, wallet_id, money, "benchmark funding", None)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def verify_ledger(database_url: str) -> int:
    """`adledger verify-ledger` on the database, everything stopped; its exit code."""
    env = {**os.environ, "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "adledger.app.cli", "verify-ledger"]
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    print(f"verify-ledger (exit {done.returncode}): {done.stdout.strip()}")
    return done.returncode
