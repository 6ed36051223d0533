"""A TCP proxy a test owns, to put between Switchboard and a server and cut the line.

`cut()` closes every connection through it and refuses new ones at once (they are accepted
and closed, as a restarting PostgreSQL does), so a client sees exactly what a database
restart shows it: its connection ends and reconnecting fails until `restore()`. `stall()`
leaves the connections open working but lets new ones hang, accepted and never answered, as
a firewall that drops them does, until `restore()`. Threads, not
asyncio, so it runs beside any event loop the test or the server under test uses.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

_CHUNK = 65536


class TcpProxy:
    """Forwards 127.0.0.1:`port` (a free port) to `upstream` until closed."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._cut = False
        self._stalled = False
        self._waiting: list[socket.socket] = []  # connections accepted while stalled
        self._closed = False
        self.accepted = 0  # connections forwarded, for tests that count reconnects
        self._acceptor = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._acceptor.start()

    def cut(self) -> None:
        """End every connection and refuse new ones until `restore`."""
        with self._lock:
            self._cut = True
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            _close_pair(pair)

    def stall(self) -> None:
        """Leave new connections unanswered until `restore`; open ones carry on."""
        with self._lock:
            self._stalled = True

    def restore(self) -> None:
        with self._lock:
            self._cut = self._stalled = False
            waiting, self._waiting = self._waiting, []
        for sock in waiting:
            sock.close()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.restore()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._acceptor.join(5)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refused, stalled = self._cut, self._stalled
                if stalled and not refused:
                    self._waiting.append(client)
                    continue
            if refused:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            pair = (client, server)
            with self._lock:
                if self._cut:  # cut while connecting upstream
                    _close_pair(pair)
                    continue
                self._pairs.add(pair)
                self.accepted += 1
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink, pair), daemon=True).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, pair: tuple[socket.socket, socket.socket]
    ) -> None:
        """Copy bytes one way until either side ends; then end both."""
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._pairs.discard(pair)
        _close_pair(pair)


def _close_pair(pair: tuple[socket.socket, ...]) -> None:
    for sock in pair:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
