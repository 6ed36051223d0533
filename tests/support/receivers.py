"""A callback receiver: a stdlib HTTP server on 127.0.0.1 that answers each path as told and
records every request, for the tests of what Switchboard sends out (assignment callbacks,
event callbacks)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from tests.support.waiting import DEADLINE_S

JSON = "application/json"


@dataclass(frozen=True)
class Reply:
    """How the receiver answers a request."""

    status: int = 200
    body: str = ""
    content_type: str = JSON
    hang: bool = False  # answer only once the test releases the receiver
    late_s: float = 0.0  # answer this late: past a sender's timeout, so it gives up


@dataclass(frozen=True)
class Seen:
    """One request as it arrived, and the reply it was given."""

    path: str
    headers: dict[str, str]
    form: dict[str, str]
    reply: Reply

    @property
    def signature(self) -> str:
        return self.headers.get("X-Twilio-Signature", "")


@dataclass
class Receiver:
    """Answers a path with `replies[path]` (the path with its query), any other with
    `default`; both may change while it runs."""

    default: Reply = field(default_factory=lambda: Reply(404))
    replies: dict[str, Reply] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    before_reply: Callable[[], None] | None = None
    port: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    def count(self, reply: Reply) -> int:
        """How many requests were answered with `reply`."""
        return sum(s.reply == reply for s in self.seen)

    def wait(self, what: str, check: Callable[[list[Seen]], bool]) -> None:
        """Block until `check(seen)` holds, woken by each request rather than polling."""
        with self.changed:
            if not self.changed.wait_for(lambda: check(self.seen), timeout=DEADLINE_S):
                raise AssertionError(f"the receiver never saw {what}")

    def record(self, seen: Seen) -> None:
        with self.changed:
            self.seen.append(seen)
            self.changed.notify_all()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            reply = receiver.replies.get(self.path, receiver.default)
            receiver.record(Seen(self.path, dict(self.headers.items()), form, reply))
            if reply.hang:
                receiver.release.wait(DEADLINE_S)
            if reply.late_s:
                time.sleep(reply.late_s)  # the lateness is the reply: a sender must give up
            if receiver.before_reply is not None:
                receiver.before_reply()
            body = reply.body.encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the sender gave up waiting

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def serve(receiver: Receiver) -> Iterator[Receiver]:
    """Run `receiver` on a free loopback port for the length of a fixture."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
