"""Helpers for tests that run adledger as a real process on a loopback port."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(base: str, server: subprocess.Popen[str], tries: int = 600) -> object:
    """GET /readyz once the process listens; fails with its output if it exits first."""
    for _ in range(tries):
        if server.poll() is not None:
            raise AssertionError(server.communicate()[0])
        try:
            return httpx.get(f"{base}/readyz").json()
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the API did not start")
