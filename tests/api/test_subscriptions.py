"""walletUpdated over graphql-transport-ws, fed by Redis pub/sub; what a token and a socket
may hold."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import parse_url
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from adledger.app.state import wallet_channel as channel_of
from adledger.app.ws_limits import connections_key
from adledger.resolvers.pubsub_hub import CLIENT_NAME
from adledger.schema.ids import db_id_of
from tests.api.conftest import Live
from tests.helpers import create_account, create_center

SUBSCRIBE = """subscription($id: ID!) {
  walletUpdated(walletId: $id) { id balance { cash { amount } } } }"""
TRANSFER = """mutation($input: TransferBalanceInput!) {
  transferBalance(input: $input) { __typename } }"""


def wallet_channel(redis_url: str, wallet_id: int) -> str:
    """The wallet's channel as the app names it for this Redis database."""
    return channel_of(wallet_id, int(parse_url(redis_url).get("db") or 0))


@pytest.fixture
async def funded(api, users):
    center = await create_center(api, await users.create("admin"))
    account = await create_account(api, center)
    await users.fund(center.wallet_id, "50.00")
    return center, account


async def _wait_for_subscriber(redis_url: str, wallet_id: int) -> None:
    client = Redis.from_url(redis_url)
    try:
        for _ in range(100):
            if (await client.pubsub_numsub(wallet_channel(redis_url, wallet_id)))[0][1] >= 1:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the subscription never listened")
    finally:
        await client.aclose()


async def _open(ws: ClientConnection, payload: dict[str, Any]) -> None:
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    assert json.loads(await ws.recv()) == {"type": "connection_ack"}


async def _subscribe(ws: ClientConnection, wallet_id: str, operation_id: str = "1") -> None:
    message = {"query": SUBSCRIBE, "variables": {"id": wallet_id}}
    await ws.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": message}))


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


async def test_updates_published_for_another_redis_database_push_nothing(
    funded, live_url, redis_url
) -> None:
    # given a subscriber on the ad account's wallet
    center, account = funded
    wallet_id = db_id_of(account.wallet_id, "Wallet") or 0
    database = int(parse_url(redis_url).get("db") or 0)
    async with connect(f"ws://{live_url}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await _open(ws, {"Authorization": f"Bearer {center.admin.token}"})
        await _subscribe(ws, account.wallet_id)
        await _wait_for_subscriber(redis_url, wallet_id)
        # when a deployment on another database of the same server publishes its wallet
        # of the same id (pub/sub channels ignore the database a client selected)
        redis = Redis.from_url(redis_url)
        await redis.publish(channel_of(wallet_id, database + 1), "updated")
        # then nothing is pushed; its own database's update still is, once
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), timeout=0.5)
        await redis.publish(wallet_channel(redis_url, wallet_id), "updated")
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        await redis.aclose()
    assert message["payload"]["data"]["walletUpdated"]["id"] == account.wallet_id


async def test_subscribing_needs_a_token(funded, live_url) -> None:
    center, _ = funded
    async with connect(f"ws://{live_url}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await _open(ws, {})
        await _subscribe(ws, center.wallet_id)
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    assert message["type"] == "next"
    assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def _socket(live: Live, **kwargs: Any) -> Any:
    return connect(f"ws://{live.url}/graphql", subprotocols=["graphql-transport-ws"], **kwargs)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _closed_with(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def _is(value: Awaitable[Any], expected: Any) -> bool:
    return await value == expected


async def _wait_for_listeners(live: Live, redis_url: str, wanted: dict[str, int]) -> None:
    """Until the hub holds these many listeners per wallet and Redis knows each channel."""
    client = Redis.from_url(redis_url)
    channels = {
        wallet_channel(redis_url, db_id_of(gid, "Wallet") or 0): n for gid, n in wanted.items()
    }

    async def ready() -> bool:
        counts = dict(await client.pubsub_numsub(*channels))
        return all(
            live.hub.listener_count(channel) == n and counts[channel.encode()] >= 1
            for channel, n in channels.items()
        )

    try:
        await _eventually(ready, f"listeners {wanted}")
    finally:
        await client.aclose()


async def test_a_token_holds_at_most_its_connection_limit(funded, serve, users, redis_url) -> None:
    # given a limit of two sockets per token, and two sockets open with the admin's token
    live = await serve(ws_max_connections_per_token=2)
    center, _ = funded
    token, other = center.admin.token, await users.create("other")
    async with contextlib.AsyncExitStack() as sockets:
        first = await sockets.enter_async_context(_socket(live))
        await _open(first, _bearer(token))
        second = await sockets.enter_async_context(_socket(live))
        await _open(second, _bearer(token))
        # when a third one opens with the same token, in the upgrade header this time
        async with _socket(live, additional_headers=_bearer(token)) as third:
            await third.send(json.dumps({"type": "connection_init", "payload": {}}))
            # then it is refused
            assert await _closed_with(third) == (4429, "too many connections for this token")
        # and another token is unaffected
        async with _socket(live) as foreign:
            await _open(foreign, _bearer(other.token))
        # and once one of the two closes, the token may open another
        await first.close()
        redis = Redis.from_url(redis_url)
        try:
            key = connections_key(token)
            await _eventually(lambda: _is(redis.zcard(key), 1), "the closed slot came back")
        finally:
            await redis.aclose()
        async with _socket(live) as again:
            await _open(again, _bearer(token))


async def test_a_socket_without_a_valid_token_holds_no_slot(funded, serve) -> None:
    # given a limit of one socket per token
    live = await serve(ws_max_connections_per_token=1)
    center, _ = funded
    # when sockets open with a token that is not one, twice, and with no token
    async with _socket(live) as bad, _socket(live) as worse, _socket(live) as anonymous:
        await _open(bad, _bearer("not-a-token"))
        await _open(worse, _bearer("not-a-token"))
        await _open(anonymous, {})
        # then the real token still gets its one socket
        async with _socket(live) as real:
            await _open(real, _bearer(center.admin.token))
        # and a subscription with a token that matches nothing is refused as such
        await _subscribe(bad, center.wallet_id)
        message = json.loads(await asyncio.wait_for(bad.recv(), timeout=10))
    assert message["payload"]["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"


async def test_a_socket_that_never_initialises_is_closed(serve) -> None:
    live = await serve(ws_connection_init_timeout_seconds=0.2)
    async with _socket(live) as ws:
        assert await _closed_with(ws) == (4408, "Connection initialisation timeout")


async def test_the_legacy_graphql_ws_protocol_is_refused(serve) -> None:
    live = await serve()
    async with connect(f"ws://{live.url}/graphql", subprotocols=["graphql-ws"]) as ws:
        assert await _closed_with(ws) == (4406, "Subprotocol not acceptable")


async def test_a_socket_holds_at_most_its_subscription_limit(funded, serve, redis_url) -> None:
    # given a limit of three operations per socket, all three in use
    live = await serve(ws_max_subscriptions_per_connection=3)
    center, _ = funded
    async with _socket(live) as ws:
        await _open(ws, _bearer(center.admin.token))
        for operation_id in ("1", "2", "3"):
            await _subscribe(ws, center.wallet_id, operation_id)
        await _wait_for_listeners(live, redis_url, {center.wallet_id: 3})
        # when a fourth subscribes
        await _subscribe(ws, center.wallet_id, "4")
        refusal = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        # then it is refused, and the socket lives on: once one completes, another may start
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        await _subscribe(ws, center.wallet_id, "5")
        await _wait_for_listeners(live, redis_url, {center.wallet_id: 3})
    assert refusal["id"] == "4"
    assert refusal["type"] == "error"
    assert refusal["payload"][0]["message"] == "Subscription limit reached"


async def _pubsub_clients(redis: Redis) -> list[dict[str, Any]]:
    """The connections of the test's Redis database that are subscribed to a channel (pub/sub
    channels are server-wide, so PUBSUB CHANNELS would also see other databases' tests)."""
    db = str(redis.connection_pool.connection_kwargs.get("db", 0))
    return [c for c in await redis.client_list() if c["db"] == db and int(c["sub"]) > 0]


async def _subscribed_channels(redis: Redis) -> list[int]:
    return [int(client["sub"]) for client in await _pubsub_clients(redis)]


async def test_subscriptions_share_one_redis_connection(funded, api, serve, redis_url) -> None:
    # given ten subscriptions over two sockets on three wallets
    live = await serve()
    center, account = funded
    second = await create_account(api, center)
    a, b, c = center.wallet_id, account.wallet_id, second.wallet_id
    on_first = {"a1": a, "a2": a, "a3": a, "a4": a, "a5": a, "b1": b, "b2": b}
    on_second = {"a6": a, "b3": b, "c1": c}
    redis = Redis.from_url(redis_url)
    async with _socket(live) as one, _socket(live) as two:
        for ws, operations in ((one, on_first), (two, on_second)):
            await _open(ws, _bearer(center.admin.token))
            for operation_id, wallet in operations.items():
                await _subscribe(ws, wallet, operation_id)
        await _wait_for_listeners(live, redis_url, {a: 6, b: 3, c: 1})
        # then the process holds one pub/sub connection, subscribed to three channels
        clients = await _pubsub_clients(redis)
        # when each wallet changes once
        for wallet in (a, b, c):
            await redis.publish(
                wallet_channel(redis_url, db_id_of(wallet, "Wallet") or 0), "updated"
            )
        # then every subscription gets its own wallet, once
        pushed_first = [json.loads(await asyncio.wait_for(one.recv(), 10)) for _ in on_first]
        pushed_second = [json.loads(await asyncio.wait_for(two.recv(), 10)) for _ in on_second]
        # and when the last listener of a wallet leaves, its channel is unsubscribed
        for operation_id in ("c1", "a6"):
            await two.send(json.dumps({"id": operation_id, "type": "complete"}))
        await _eventually(lambda: _is(_subscribed_channels(redis), [2]), "c unsubscribed")
        assert live.hub.listener_count(wallet_channel(redis_url, db_id_of(a, "Wallet") or 0)) == 5
    await redis.aclose()
    assert [(c["name"], c["sub"]) for c in clients] == [(CLIENT_NAME, "3")]
    for pushed, operations in ((pushed_first, on_first), (pushed_second, on_second)):
        assert {m["id"]: m["payload"]["data"]["walletUpdated"]["id"] for m in pushed} == operations
