"""Two `adledger serve` processes spend one points budget per caller (Redis), issue 24."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.test_many_processes import _environment, _process
from tests.processes import free_port, wait_ready

BUDGET = 60
PAGES = """{ rateLimit { cost remaining }
  viewer { businessCenters(first: 5) { edges { node { adAccounts(first: 4) { edges {
    cursor } } } } } } }"""  # 5 + 5 x 4 = 25 points


@pytest.fixture
def two_apis(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    env = {**_environment(database_url, redis_url), "RATE_LIMIT_POINTS": str(BUDGET)}
    logs = tmp_path_factory.mktemp("budget")
    with contextlib.ExitStack() as stack:
        started = []
        for n in range(2):
            port = free_port()
            command = [sys.executable, "-m", "adledger.app.cli", "serve", "--port", str(port)]
            process = stack.enter_context(_process(command, env, logs / f"api-{n}.log"))
            started.append((f"http://127.0.0.1:{port}", process))
        for base, process in started:
            assert wait_ready(base, process) == {"ready": True, "database": True, "redis": True}
        yield [base for base, _ in started]


async def test_two_api_processes_share_one_budget(two_apis, users) -> None:
    # given a member and two API processes with a budget of 60 points a minute
    member = await users.create()
    headers = {"Authorization": f"Bearer {member.token}"}
    a, b = (httpx.AsyncClient(base_url=base, headers=headers, timeout=30) for base in two_apis)
    async with a, b:
        # when the member spends 25 points on A, then asks B where it stands
        spent_on_a = (await a.post("/graphql", json={"query": PAGES})).json()["data"]
        on_b = (await b.post("/graphql", json={"query": "{ rateLimit { remaining } }"})).json()
        # then B counts what A charged
        assert spent_on_a["rateLimit"] == {"cost": 25, "remaining": BUDGET - 25}
        assert on_b["data"]["rateLimit"]["remaining"] == BUDGET - 25 - 1
        # and once A charged 25 more, B refuses the next 25: 9 points are left
        assert (await a.post("/graphql", json={"query": PAGES})).status_code == 200
        refused = await b.post("/graphql", json={"query": PAGES})
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
