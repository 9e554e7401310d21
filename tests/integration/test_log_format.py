"""`adledger serve` with LOG_FORMAT=json, as a real process: every line it writes is one JSON
object (uvicorn's own included), a request is one access line carrying its id and
operation, and no line holds the token or the variables a client sent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port, wait_ready

pytestmark = pytest.mark.usefixtures("db")

TOKEN = "adl_not_a_real_token_but_secret_all_the_same"
CARD = "4242424242424242"


def _serve(database_url: str, redis_url: str, port: int, log: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PAYMENT_PROVIDER": "sandbox",
        "LOG_FORMAT": "json",
    }
    command = [sys.executable, "-m", "adledger.app.cli", "serve", "--port", str(port)]
    with log.open("w") as output:
        return subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, text=True
        )


def test_serve_writes_one_json_object_a_line_and_no_secret(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    # given `adledger serve` logging JSON
    port, log = free_port(), tmp_path / "serve.log"
    server = _serve(database_url, redis_url, port, log)
    try:
        wait_ready(f"http://127.0.0.1:{port}", server)
        # when a client sends a token that matches nothing, and a card in its variables
        response = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={
                "query": "query Lookup($id: ID!) { wallet(id: $id) { id } }",
                "variables": {"id": CARD},
            },
            headers={"Authorization": f"Bearer {TOKEN}", "X-Request-Id": "client-trace-1"},
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    # then every line is a JSON object, uvicorn's included
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(line["logger"].startswith("uvicorn") for line in lines), text
    # and the request is one access line and one client-error line, with its id
    assert response.headers["x-request-id"] == "client-trace-1"
    mine = [line for line in lines if line["request_id"] == "client-trace-1"]
    assert [(line["logger"], line["level"]) for line in mine] == [
        ("adledger.graphql", "INFO"),
        ("adledger.access", "INFO"),
    ], text
    access = mine[-1]
    assert (access["method"], access["path"], access["status"]) == ("POST", "/graphql", 200)
    assert access["operation"] == "Lookup" and access["duration_ms"] > 0
    assert "exc_info" not in mine[0]
    # and no line holds the token or the card, nor a probe's access line
    assert TOKEN not in text and TOKEN[:16] not in text and CARD not in text
    assert "/readyz" not in text
