"""A small HTTP/1.1 client for benches that play many clients at once from one process.

httpx's connection pool looks over every connection for every request it queues, which with
hundreds of connections and requests at once costs the bench more CPU than the server spends
answering, on the same two cores. A keep-alive connection that sends one request at a time
and reads a Content-Length answer is all an agent desktop's gateway calls need.
"""

from __future__ import annotations

import asyncio
import base64


class Http1:
    """One keep-alive connection to `host:port`, one request at a time (as a browser tab's)."""

    def __init__(self, host: str, port: int, *, auth: tuple[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._auth = ""
        if auth is not None:
            pair = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self._auth = f"Authorization: Basic {pair}\r\n"

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """The answer's status and body; raises on a broken connection."""
        async with self._lock:
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            assert self._reader is not None
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Length: {len(body)}\r\n{self._auth}"
                + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
                + "\r\n"
            )
            self._writer.write(head.encode("latin-1") + body)
            status_line = await self._reader.readline()
            if not status_line:
                self.close()
                raise ConnectionError("the server closed the connection")
            status = int(status_line.split()[1])
            length, close = 0, False
            while (line := await self._reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and "close" in value.lower():
                    close = True
                elif name == "transfer-encoding":
                    raise ValueError("a chunked answer: this client reads Content-Length only")
            data = await self._reader.readexactly(length)
            if close:
                self.close()
            return status, data

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class Pool:
    """`size` connections taken in turn (requests on one connection wait for each other)."""

    def __init__(
        self, host: str, port: int, size: int, *, auth: tuple[str, str] | None = None
    ) -> None:
        self._connections = [Http1(host, port, auth=auth) for _ in range(size)]
        self._next = 0

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        connection = self._connections[self._next % len(self._connections)]
        self._next += 1
        return await connection.post(path, body, headers)

    def close(self) -> None:
        for connection in self._connections:
            connection.close()
