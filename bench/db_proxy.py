"""A TCP proxy between the server under test and PostgreSQL: it adds round-trip time, so the
figures reflect a database on another host, and counts what crosses it, so the benchmark can
say how many statements and round trips each operation costs.

It runs in a process of its own (threads there, not asyncio: an asyncio loop cannot delay by
less than about a millisecond each way, and in the bench script's process it would share the
interpreter lock with the load). Each direction of each connection has a reader and a sender
thread; the sender holds every chunk until half the added round trip has passed since it was
read, so a connection's bytes keep their order and a pipeline of statements pays the delay
once, as it would on a longer wire.

Counting reads PostgreSQL's frontend protocol on the client's side of each connection:
- a *statement* is a simple Query (`Q`) or an Execute (`E`) message (each row of an
  `executemany` is one Execute);
- a *round trip* is a turn of the conversation: the client sends after the server has sent
  something since the client last did. A client waiting for an answer before its next
  statement pays one per statement; one that pipelines pays one for the lot.
The counts cover every connection through the proxy: the caller reads them before and after
what it measures (`counts()`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_CHUNK = 65536
# Counters shared with the parent, by position.
STATEMENTS, ROUND_TRIPS, CONNECTIONS = 0, 1, 2
# Startup-phase request codes that another startup message follows.
_SSL_REQUEST, _GSSENC_REQUEST = 80877103, 80877104


@dataclass(frozen=True)
class Counts:
    statements: int
    round_trips: int
    connections: int

    def __sub__(self, other: Counts) -> Counts:
        return Counts(
            self.statements - other.statements,
            self.round_trips - other.round_trips,
            self.connections - other.connections,
        )


class DbProxy:
    """A proxy process forwarding 127.0.0.1:`port` to `upstream`, adding `delay_ms` of round
    trip. Use as a context manager; `counts()` reads the counters at any moment."""

    def __init__(self, upstream_host: str, upstream_port: int, delay_ms: float) -> None:
        context = multiprocessing.get_context("spawn")
        self.delay_ms = delay_ms
        self._counts: Any = context.RawArray("q", 3)
        self._port: Synchronized[int] = context.Value("i", 0)
        ready = context.Event()
        self._process = context.Process(
            target=serve,
            args=(upstream_host, upstream_port, delay_ms / 2000, self._counts, self._port, ready),
            name="db-proxy",
            daemon=True,
        )
        self._process.start()
        if not ready.wait(30):
            self.close()
            raise RuntimeError("the database proxy did not start within 30 s")
        self.port = int(self._port.value)

    def counts(self) -> Counts:
        values = list(self._counts)
        return Counts(values[STATEMENTS], values[ROUND_TRIPS], values[CONNECTIONS])

    def url(self, url: str) -> str:
        """`url` (postgresql://…) pointed at the proxy. SSL is turned off through it, so the
        proxy can read the protocol (the hop is on this machine)."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@" if userinfo else ""
        query = parts.query
        if "sslmode=" not in query:
            query = f"{query}&sslmode=disable" if query else "sslmode=disable"
        return urlunsplit(
            (parts.scheme, f"{netloc}127.0.0.1:{self.port}", parts.path, query, parts.fragment)
        )

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)

    def __enter__(self) -> DbProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def upstream_of(url: str) -> tuple[str, int]:
    """(host, port) a postgresql:// URL names."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def measure_round_trip(url: str, samples: int = 200) -> list[float]:
    """Milliseconds of `SELECT 1` on a fresh connection to `url`, `samples` times (after a few
    unmeasured ones): the round trip a statement pays, driver included."""
    import psycopg

    times: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(samples + 10):
            started = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            if i >= 10:
                times.append((time.perf_counter() - started) * 1000)
    return times


# -- the proxy process ----------------------------------------------------------------------


def serve(
    host: str,
    port: int,
    delay_s: float,
    counts: Any,
    port_out: Synchronized[int],
    ready: Any,
) -> None:
    """The proxy process: accept until terminated."""
    # The bench script pins itself (and so its children) beside the load; the proxy stands
    # for the network and, like PostgreSQL, may run on any core.
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    listener = socket.create_server(("127.0.0.1", 0))
    port_out.value = listener.getsockname()[1]
    lock = threading.Lock()
    ready.set()
    while True:
        client, _ = listener.accept()
        try:
            server = socket.create_connection((host, port), timeout=5)
        except OSError:
            client.close()
            continue
        server.settimeout(None)
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with lock:
            counts[CONNECTIONS] += 1
        Connection(client, server, delay_s, counts, lock).start()


class Connection:
    """One proxied connection: two directions, the client's read as the protocol."""

    def __init__(
        self,
        client: socket.socket,
        server: socket.socket,
        delay_s: float,
        counts: Any,
        lock: threading.Lock,
    ) -> None:
        self.client, self.server = client, server
        self.delay_s = delay_s
        self.counts = counts
        self.lock = lock
        self.frontend = FrontendReader()
        self.server_spoke = True  # a client's first bytes start a round trip

    def start(self) -> None:
        for source, sink, upward in ((self.client, self.server, True),
                                     (self.server, self.client, False)):  # fmt: skip
            if self.delay_s > 0:
                held: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
                threading.Thread(target=self._send, args=(held, sink), daemon=True).start()
                threading.Thread(
                    target=self._read, args=(source, upward, held.put, None), daemon=True
                ).start()
            else:
                threading.Thread(
                    target=self._read, args=(source, upward, None, sink), daemon=True
                ).start()

    def _read(
        self,
        source: socket.socket,
        upward: bool,
        hold: Any,
        sink: socket.socket | None,
    ) -> None:
        try:
            while data := source.recv(_CHUNK):
                self._count(data, upward)
                if sink is not None:
                    sink.sendall(data)
                else:
                    hold((time.perf_counter() + self.delay_s, data))
        except OSError:
            pass
        if hold is not None:
            hold((0.0, b""))  # the sender closes once it has sent what came before
        else:
            self._close()

    def _send(self, held: queue.SimpleQueue[tuple[float, bytes]], sink: socket.socket) -> None:
        try:
            while True:
                due, data = held.get()
                if not data:
                    break
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                sink.sendall(data)
        except OSError:
            pass
        self._close()

    def _count(self, data: bytes, upward: bool) -> None:
        with self.lock:
            if not upward:
                self.server_spoke = True
                return
            if self.server_spoke:
                self.counts[ROUND_TRIPS] += 1
                self.server_spoke = False
            self.counts[STATEMENTS] += self.frontend.feed(data)

    def _close(self) -> None:
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class FrontendReader:
    """Reads the messages a PostgreSQL client sends, as far as counting statements needs:
    message boundaries, and which messages run a statement."""

    def __init__(self) -> None:
        self.startup = True  # before the startup message, messages carry no type byte
        self.header = b""
        self.skip = 0  # bytes of the current message's body still to pass over

    def feed(self, data: bytes) -> int:
        """Statements begun in `data`."""
        statements = 0
        at = 0
        while at < len(data):
            if self.skip:
                taken = min(self.skip, len(data) - at)
                self.skip -= taken
                at += taken
                continue
            size = 8 if self.startup else 5
            taken = min(size - len(self.header), len(data) - at)
            self.header += data[at : at + taken]
            at += taken
            if len(self.header) < size:
                break
            header, self.header = self.header, b""
            if self.startup:
                length, code = struct.unpack("!ii", header)
                self.skip = length - 8
                self.startup = code in (_SSL_REQUEST, _GSSENC_REQUEST)
            else:
                kind, length = header[:1], struct.unpack("!i", header[1:])[0]
                self.skip = length - 4
                statements += kind in (b"Q", b"E")
        return statements
