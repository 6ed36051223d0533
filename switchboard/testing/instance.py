"""One Switchboard for one test: the app's services on a fresh in-memory database, the ASGI
app, and the delivery of callbacks into the application under test.

The app runs without its lifespan: that is the long-running server's (it freezes the garbage
collector, tunes it process-wide, starts timer and sender loops and groups commits), none of
which a test wants. Here time moves only when the test moves it, and callbacks are delivered
at each clock step, before the step answers, so a test reads in order: create a task,
advance, assert what the application did.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from switchboard.app import build_services, create_app
from switchboard.config import ClockKind, Settings
from switchboard.outbound import AssignmentCallbackSender, EventSender, Poster
from switchboard.outbound.assignment_callbacks import TIMEOUT_SECONDS as ASSIGNMENT_TIMEOUT_S
from switchboard.outbound.event_callbacks import TIMEOUT_SECONDS as EVENT_TIMEOUT_S
from switchboard.storage import Store
from switchboard.testing.asgi import Message, Receive, Send
from switchboard.testing.credentials import AnyCredentials
from switchboard.testing.errors import CallbackTargetError
from switchboard.testing.targets import CallbackRouter, Interface
from switchboard.timers import ManualClock, SystemClock

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: every test starts at the same moment
# Each round sends what the previous one caused (an accepted reservation's events, the next
# reservation after a rejection); a target that keeps causing callbacks is stopped here.
MAX_ROUNDS = 1000
UNBOUNDED = 1 << 30

_template: Store | None = None
_template_lock = threading.Lock()


def fresh_store() -> Store:
    """A migrated, empty in-memory database: a copy of one migrated once per process
    (copying takes well under a millisecond, migrating about ten)."""
    global _template
    with _template_lock:
        if _template is None:
            _template = Store.open("sqlite:///:memory:")
        return _template.copy_in_memory()


def _is_clock_step(scope: Message) -> bool:
    return bool(scope["method"] == "POST" and scope["path"] == "/switchboard/clock")


class Instance:
    def __init__(
        self,
        *,
        clock: ClockKind = "manual",
        start_ms: int = START_MS,
        callback_timeout_s: float | None = None,
    ) -> None:
        # None: TaskRouter's own budgets (5 s for an assignment, 10 s for an event).
        self.callback_timeout_s = callback_timeout_s
        self.settings = Settings(database_url="sqlite:///:memory:", clock=clock)
        self.clock = ManualClock(start_ms) if clock == "manual" else SystemClock()
        self.services = build_services(self.settings, store=fresh_store(), clock=self.clock)
        self.app = create_app(self.settings, services=self.services)
        self._executor: ThreadPoolExecutor | None = None
        self.router = CallbackRouter(self._worker_threads)
        self._senders: tuple[AssignmentCallbackSender, EventSender] | None = None
        self._poster: Poster | None = None
        self._delivering = False
        self.credentials: AnyCredentials | None = None
        self.failure: CallbackTargetError | None = None
        # The loop the senders (and their HTTP clients) belong to, once they exist.
        self.senders_loop: asyncio.AbstractEventLoop | None = None

    @property
    def movable(self) -> bool:
        return isinstance(self.clock, ManualClock)

    def ensure_account(self, sid: str, auth_token: str) -> None:
        """The account exists and takes `auth_token` (created, or its token replaced)."""
        self.services.engine.accounts.ensure_account(sid, auth_token)

    def ensure_api_key(self, key_sid: str, account_sid: str, secret: str) -> None:
        """The API key exists, belongs to the account (created if need be, its token left
        as it is) and takes `secret`."""
        accounts = self.services.engine.accounts
        accounts.ensure_account(account_sid, None)
        accounts.install_api_key(key_sid, account_sid, secret, "mock_taskrouter")
        # The same key and secret may have stood for another account a moment ago.
        self.services.auth_cache.clear()

    def accept_any_credentials(self, value: bool) -> None:
        self.credentials = (
            AnyCredentials(self.ensure_account, self.ensure_api_key) if value else None
        )

    def deliver_callbacks_to(
        self, app: Any, base_url: str, interface: Interface | None, raise_server_errors: bool
    ) -> None:
        self.router.add(app, base_url, interface, raise_server_errors)

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        """The app; a clock step answers only after the callbacks due were delivered.

        Only clock steps deliver: a callback caused by a request reaches the application at
        the next step (`advance()`, even by zero), never before the request's own answer has
        reached it, so the application is never asked about a task it has not yet heard of.
        Requests the application makes while it handles a callback are answered at once; the
        delivery under way goes on until nothing more is due."""
        if self.credentials is not None and scope["type"] == "http":
            scope = {**scope, "headers": self.credentials.admit(scope["headers"])}
        if scope["type"] != "http" or not _is_clock_step(scope) or not self.router.targets:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        try:
            await self.deliver()
        except CallbackTargetError as failure:
            # Kept for the kit to raise in the test's thread (take_failure): over a socket,
            # an exception here would reach the test only as a bare 500.
            self.failure = failure
        for message in held:
            await send(message)

    async def deliver(self) -> None:
        """Deliver every callback due now, and those they cause, until none is left; then
        raise the first exception a target raised, if any."""
        if not self.router.targets or self._delivering:
            return
        assignments, events = self._senders_on_this_loop()
        self._delivering = True
        try:
            for _ in range(MAX_ROUNDS):
                sent = await assignments.run_once()
                sent += await events.run_once()
                if not sent:
                    break
            else:
                raise CallbackTargetError(
                    f"callbacks kept causing new callbacks for {MAX_ROUNDS} rounds; does the"
                    " application reject every reservation it is offered?"
                )
        finally:
            self._delivering = False
        self.raise_failures()

    def raise_failure(self) -> None:
        """Raise what the last clock step's delivery failed with, once."""
        failure, self.failure = self.failure, None
        if failure is not None:
            raise failure

    def raise_failures(self) -> None:
        failures, self.router.failures = self.router.failures, []
        if failures:
            first = failures[0]
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise CallbackTargetError(first.describe() + more) from first.error

    def _senders_on_this_loop(self) -> tuple[AssignmentCallbackSender, EventSender]:
        if self._senders is None:
            self.senders_loop = asyncio.get_running_loop()
            store, clock = self.services.store, self.services.clock
            wait = self.callback_timeout_s
            # The poster is the senders' one HTTP client; its transport is the router, so
            # callbacks reach the application in process instead of the network. One at a
            # time to a destination, in the order they were claimed, so a test sees the same
            # order every run; and never put off as crowded (the limit that keeps a dead
            # receiver from starving others), or a step would return with callbacks unsent.
            self._poster = Poster(
                transport=self.router, per_destination=1, queue_per_destination=UNBOUNDED
            )
            self._senders = (
                AssignmentCallbackSender(
                    store, self.services.engine.reservations, clock, poster=self._poster,
                    timeout_s=ASSIGNMENT_TIMEOUT_S if wait is None else wait,
                ),
                EventSender(
                    store, clock, poster=self._poster,
                    timeout_s=EVENT_TIMEOUT_S if wait is None else wait,
                ),
            )  # fmt: skip
        return self._senders

    def _worker_threads(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(4, thread_name_prefix="switchboard-callback")
        return self._executor

    async def stop(self) -> None:
        """Stop the senders (on the loop they ran on)."""
        if self._senders is not None:
            for sender in self._senders:
                await sender.stop()
            self._senders = None
        if self._poster is not None:
            await self._poster.aclose()
            self._poster = None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self.services.store.close()
