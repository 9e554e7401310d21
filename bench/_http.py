"""A keep-alive HTTP/1.1 connection as cheap for the client as it gets: the request written
whole, the answer read by its Content-Length. httpx spends about a millisecond of client CPU
per request: at 800 `{ __typename }` a second it kept one of 2 vCPUs busy, so the client,
not the server, set the pace. Enough for the API's JSON answers (uvicorn always sends a
Content-Length for them), nothing more: no chunked bodies, no redirects, no TLS."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

# uvicorn closes a keep-alive connection idle for 5 s (its default); a case that waits out
# longer rounds of the others reconnects first instead of reading a closed socket.
IDLE_REOPEN_SECONDS = 4.0


class Connection:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]
    ) -> None:
        self._reader, self._writer, self._headers = reader, writer, headers
        self._last_used = time.monotonic()

    @classmethod
    async def open(cls, base_url: str, headers: dict[str, str]) -> Connection:
        """`headers` go with every request (the Host header is added)."""
        url = urlsplit(base_url)
        assert url.hostname is not None and url.port is not None
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        return cls(reader, writer, {"Host": url.netloc, **headers})

    async def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """(status, body) of a POST of `body` (JSON unless `headers` say otherwise)."""
        if time.monotonic() - self._last_used > IDLE_REOPEN_SECONDS:
            await self._reopen()
        sent = {"Content-Type": "application/json", **self._headers, **(headers or {})}
        sent["Content-Length"] = str(len(body))
        head = "".join(f"{name}: {value}\r\n" for name, value in sent.items())
        self._writer.write(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + body)
        lines = (await self._reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        status, length = int(lines[0].split()[1]), None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"an answer without Content-Length to POST {path}: {lines}")
        answer = await self._reader.readexactly(length)
        self._last_used = time.monotonic()
        return status, answer

    async def _reopen(self) -> None:
        self._writer.close()
        host, _, port = self._headers["Host"].rpartition(":")
        self._reader, self._writer = await asyncio.open_connection(host, int(port))

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()
