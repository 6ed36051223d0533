"""The one HTTP client of both callback senders: a signed form POST with limits.

Every exchange is bounded three ways, because a callback receiver is someone else's server
and may be broken or hostile:

- time: the whole exchange, connection to last byte read, fits in the caller's budget;
- memory: a reply is read up to `max_reply_bytes` and the connection is dropped past that,
  undecoded (the request asks for `identity`, so a compressed reply cannot expand in memory);
- concurrency: at most `per_destination` requests are open to one destination (scheme, host
  and port) and at most `queue_per_destination` more wait for a turn; a caller asks
  `crowded(url)` first and puts its work off rather than join a full queue, so one dead
  receiver holds a bounded share of the senders and never starves the others.

Redirects are not followed: a 3xx is the receiver's answer, and the senders count it as a
failure (docs/decisions.md).

`transport` is the seam for delivering callbacks somewhere other than the network: any
`httpx.AsyncBaseTransport` (e.g. `httpx.ASGITransport(app=...)` to call an application in
process); None means real sockets. `use_transport` swaps it while the poster runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from switchboard import __version__

log = logging.getLogger("switchboard.outbound")

MAX_REPLY_BYTES = 64 * 1024
PER_DESTINATION = 8
QUEUE_PER_DESTINATION = 24


@dataclass(frozen=True)
class Reply:
    """A receiver's answer: status, Content-Type and up to `max_reply_bytes` of body. `cut`
    says why the body is incomplete (too long, or not finished within the budget), else
    None."""

    status: int
    content_type: str
    body: bytes
    cut: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class _Destination:
    """Requests open to one destination, and how many wait for a turn."""

    def __init__(self, limit: int) -> None:
        self.turns = asyncio.Semaphore(limit)
        self.users = 0  # open + waiting


def destination_of(url: str) -> str:
    """scheme://host:port of a URL, the unit of the concurrency limit."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port or ''}"


async def _raw_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The reply's bytes as they arrive, undecoded. A transport in process may hand over a
    body already read whole (an httpx.Response built from bytes); it is in memory anyway."""
    if response.is_stream_consumed:
        yield response.content
        return
    async for chunk in response.aiter_raw():
        yield chunk


class Poster:
    """Sends callbacks: one `httpx.AsyncClient` per process, opened on the event loop."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_reply_bytes: int = MAX_REPLY_BYTES,
        per_destination: int = PER_DESTINATION,
        queue_per_destination: int = QUEUE_PER_DESTINATION,
    ) -> None:
        self.max_reply_bytes = max_reply_bytes
        self.per_destination = per_destination
        self.queue_per_destination = queue_per_destination
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._retired: list[httpx.AsyncClient] = []
        self._destinations: dict[str, _Destination] = {}

    # -- life ---------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every connection (whoever built the poster closes it, after its senders)."""
        clients, self._retired = [*self._retired, self._client], []
        self._client = None
        for client in clients:
            if client is not None:
                await client.aclose()

    def use_transport(self, transport: httpx.AsyncBaseTransport | None) -> None:
        """Deliver from now on through `transport` (None: the network). Exchanges under way
        finish on the old one, closed with the poster."""
        self._transport = transport
        if self._client is not None:
            self._retired.append(self._client)
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # No pool-wide cap: the per-destination limit and the senders' own caps bound the
            # connections, and a shared cap would let one dead receiver's open connections
            # hold up everyone else's.
            self._client = httpx.AsyncClient(
                transport=self._transport,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
                follow_redirects=False,
            )
        return self._client

    # -- sending ------------------------------------------------------------------------------

    def crowded(self, url: str) -> bool:
        """Whether a new request to `url`'s destination would find its queue full."""
        try:
            key = destination_of(url)
        except Exception:
            return False  # post() reports the malformed URL
        found = self._destinations.get(key)
        return found is not None and found.users >= self.per_destination + (
            self.queue_per_destination
        )

    async def post(
        self,
        url: str,
        form: Mapping[str, str],
        headers: Mapping[str, str],
        budget_s: float,
    ) -> Reply | str:
        """POST `form` to `url`; the reply, or why there is none. Waiting for a turn at the
        destination does not count against `budget_s`; the exchange does, all of it."""
        try:
            key = destination_of(url)
        except Exception as error:
            return f"{url} is not a URL we can send to: {error}"
        destination = self._destinations.get(key)
        if destination is None:
            destination = self._destinations[key] = _Destination(self.per_destination)
        destination.users += 1
        try:
            async with destination.turns:
                return await self._exchange(url, form, headers, budget_s)
        finally:
            destination.users -= 1
            if destination.users == 0:
                self._destinations.pop(key, None)

    async def _exchange(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str], budget_s: float
    ) -> Reply | str:
        sent = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": f"Switchboard/{__version__}",
            "Accept-Encoding": "identity",
            **headers,
        }
        status: tuple[int, str] | None = None
        body = bytearray()
        try:
            async with asyncio.timeout(budget_s):
                request = self._http().stream(
                    "POST", url, content=urlencode(form), headers=sent, timeout=budget_s
                )
                async with request as response:
                    status = response.status_code, response.headers.get("content-type", "")
                    async for chunk in _raw_chunks(response):
                        body += chunk
                        if len(body) > self.max_reply_bytes:
                            cut = f"the reply is longer than {self.max_reply_bytes} bytes"
                            return Reply(*status, bytes(body[: self.max_reply_bytes]), cut)
        except TimeoutError:
            if status is None:
                return f"{url} did not answer within {budget_s:g} s"
            cut = f"the reply was not complete within {budget_s:g} s"
            return Reply(*status, bytes(body), cut)
        except httpx.HTTPError as error:
            if status is not None:
                return Reply(*status, bytes(body), f"reading the reply failed: {error}")
            return f"{url} failed: {type(error).__name__} {error}".rstrip()
        except Exception as error:  # a transport in process may raise anything
            log.warning("callback to %s raised", url, exc_info=True)
            return f"{url} failed: {type(error).__name__} {error}".rstrip()
        assert status is not None
        return Reply(*status, bytes(body))
