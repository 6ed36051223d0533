"""The app's one ASGI middleware: what happens to every HTTP request around its handler.

Each concern is a function of its own module; `Frontline` calls them in order, with one
wrapper around `receive` and one around `send` for all of them (a chain of five middlewares
cost a call, a closure and an await per layer and per message, a tenth of a worker fetch):

1. Request id (`logs`): the caller's usable `X-Request-Id` or a new one, set in a context
   variable for every log line of the request and added to the answer's headers.
2. Body limit (`api.body_limit`): a body announced over `max_body_bytes` is a 413 before any
   of it is read; one sent in chunks is counted as it arrives.
3. Answer after commit (`api.committed`): the handler's answer starts only once the writes
   it may show are committed; if their COMMIT failed, the answer becomes that failure. An
   answer made of committed rows only (a read on PostgreSQL's read pool) goes at once.
4. Unexpected errors (`api.unexpected`): an exception before the answer started becomes a
   logged 500 and the keep-alive connection stays open; after it started, it propagates.
5. Metrics (`metrics.requests`): every request is counted and timed by operation and by the
   status actually sent (500 when no answer started), with the database time the Store
   reported while serving it.

The middleware's own answers (413, 500) carry the request id and are counted, but do not
wait for a commit: the request they answer changed nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from switchboard.api import render
from switchboard.api.body_limit import announced_too_large, counting, too_large
from switchboard.api.committed import commit_failure, waits_for_commit
from switchboard.api.unexpected import unexpected
from switchboard.asyncio_bridge import Commits, until_committed
from switchboard.errors import TwilioError
from switchboard.logs import Message, Scope, incoming_id, request_id, with_request_id
from switchboard.metrics import ProcessCounters, observe_request
from switchboard.metrics.requests import NEVER_STARTED

Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_START = "http.response.start"


class Answer:
    """One request's answer on its way out: held for the commit, tagged with the request id,
    its status noted."""

    __slots__ = ("_receive", "_rid", "_scope", "_send", "_store", "failed", "started", "status")

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, rid: str, store: Commits
    ) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self._rid = rid
        self._store = store
        self.status = NEVER_STARTED
        self.started = False
        self.failed = False  # the writes were not kept: the handler's messages are dropped

    async def from_handler(self, message: Message) -> None:
        """The `send` the app is given."""
        if message["type"] == _START and waits_for_commit(self._scope):
            failure = await until_committed(self._store)
            if failure is not None:
                self.failed = True
                error, headers = commit_failure(failure)
                await self.error(error, headers)
                return
        if not self.failed:
            await self.out(message)

    async def out(self, message: Message) -> None:
        if message["type"] == _START:
            self.started = True
            self.status = int(message["status"])
            with_request_id(message, self._rid)
        await self._send(message)

    async def error(self, error: TwilioError, headers: dict[str, str] | None = None) -> None:
        """Answer with a Twilio error, without waiting for any commit."""
        response = render.json_response(error.to_dict(), error.status, headers)
        await response(self._scope, self._receive, self.out)


class Frontline:
    """The middleware itself (see the module's docstring for what it does, in order)."""

    def __init__(
        self, app: ASGIApp, *, store: Commits, counters: ProcessCounters, max_body_bytes: int
    ) -> None:
        self.app = app
        self.store = store
        self.counters = counters
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        database = self.counters.start_request()
        rid = incoming_id(scope)
        token = request_id.set(rid)
        answer = Answer(scope, receive, send, rid, self.store)
        limit = self.max_body_bytes
        try:
            if announced_too_large(scope, limit):
                await answer.error(too_large(limit))
            else:
                await self.app(scope, counting(receive, limit), answer.from_handler)
        except Exception:
            error = unexpected(scope)
            if answer.started:
                raise
            await answer.error(error)
        finally:
            observe_request(self.counters, scope, answer.status, started, database)
            request_id.reset(token)
