"""walletUpdated over graphql-transport-ws, fed by Redis pub/sub."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from adledger.app.asgi import create_app
from adledger.app.settings import Settings
from adledger.resolvers.context import wallet_channel
from adledger.schema.ids import db_id_of
from tests.helpers import create_account, create_center

SUBSCRIBE = """subscription($id: ID!) {
  walletUpdated(walletId: $id) { id balance { cash { amount } } } }"""
TRANSFER = """mutation($input: TransferBalanceInput!) {
  transferBalance(input: $input) { __typename } }"""


@pytest.fixture
async def funded(api, users):
    center = await create_center(api, await users.create("admin"))
    account = await create_account(api, center)
    await users.fund(center.wallet_id, "50.00")
    return center, account


@pytest.fixture
async def live_url(db: None, database_url: str, redis_url: str) -> AsyncIterator[str]:
    """The app behind a real uvicorn on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(Settings(database_url=database_url, redis_url=redis_url))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.02)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await task


async def _wait_for_subscriber(redis_url: str, wallet_id: int) -> None:
    client = Redis.from_url(redis_url)
    try:
        for _ in range(100):
            if (await client.pubsub_numsub(wallet_channel(wallet_id)))[0][1] >= 1:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the subscription never listened")
    finally:
        await client.aclose()


async def _open(ws: ClientConnection, payload: dict[str, Any]) -> None:
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    assert json.loads(await ws.recv()) == {"type": "connection_ack"}


async def _subscribe(ws: ClientConnection, wallet_id: str) -> None:
    message = {"query": SUBSCRIBE, "variables": {"id": wallet_id}}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": message}))


async def test_a_transfer_pushes_the_wallet_to_its_subscriber(funded, live_url, redis_url) -> None:
    # given a subscriber on the ad account's wallet
    center, account = funded
    headers = {"Authorization": f"Bearer {center.admin.token}"}
    async with connect(f"ws://{live_url}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await _open(ws, headers)
        await _subscribe(ws, account.wallet_id)
        await _wait_for_subscriber(redis_url, db_id_of(account.wallet_id, "Wallet"))
        # when a transfer lands through another connection
        variables = {
            "input": {
                "fromWalletId": center.wallet_id,
                "toWalletId": account.wallet_id,
                "amount": {"amount": "20.00", "currencyCode": "USD"},
            }
        }
        async with httpx.AsyncClient(base_url=f"http://{live_url}") as client:
            await client.post(
                "/graphql", json={"query": TRANSFER, "variables": variables}, headers=headers
            )
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
    # then
    assert message["type"] == "next"
    assert message["payload"]["data"]["walletUpdated"] == {
        "id": account.wallet_id,
        "balance": {"cash": {"amount": "20.00"}},
    }


async def test_subscribing_needs_a_token(funded, live_url) -> None:
    center, _ = funded
    async with connect(f"ws://{live_url}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await _open(ws, {})
        await _subscribe(ws, center.wallet_id)
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    assert message["type"] == "next"
    assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
