"""`TaskRouter`: one Switchboard for one test, reached through the official SDK.

def test_routing(taskrouter):
    ws = taskrouter.workspace({"queues": {"support": "1 == 1"}, "workers": {"alice": {}}})
    task = ws.create_task({"type": "support"})
    assert ws.reservations(task)[0].worker_sid == ws.workers["alice"]  # docs/testing.md
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from twilio.rest import Client

from switchboard.config import ClockKind
from switchboard.testing.asgi import Reply, Request
from switchboard.testing.connections import InProcess, OverSocket
from switchboard.testing.errors import ClockError, TaskRouterTestError
from switchboard.testing.instance import START_MS, Instance
from switchboard.testing.sdk import basic_auth, encode_form
from switchboard.testing.targets import Interface
from switchboard.testing.workspaces import Workspace, WorkspaceSpec, build_workspace

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "switchboard-test-auth-token"
# Deadlines a single advance() may pass, one clock step each: far above any test's, low
# enough that a deadline that keeps re-creating itself fails the test instead of hanging it.
MAX_STEPS = 100_000

Moment = datetime | str | int


def moment_ms(moment: Moment) -> int:
    """Epoch milliseconds of a datetime (naive means UTC), an ISO 8601 text or an int (ms)."""
    if isinstance(moment, int):
        return moment
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class TaskRouter:
    """A fresh Switchboard on an in-memory database, with a manual clock starting at
    2026-01-01T00:00:00Z, served in process (or over a loopback port with `server=True`).

    `any_credentials` makes every set of credentials valid (each gets an account of its own,
    its token set to the one last used): `mock_taskrouter` uses it for code that builds its
    own clients. `callback_timeout` (seconds) replaces TaskRouter's budgets for an answer to
    a callback (5 s for an assignment, 10 s for an event)."""

    def __init__(
        self,
        *,
        clock: ClockKind = "manual",
        start: Moment = START_MS,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        server: bool = False,
        any_credentials: bool = False,
        callback_timeout: float | None = None,
    ) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.start_ms = moment_ms(start)
        self.instance = Instance(
            clock=clock, start_ms=self.start_ms, callback_timeout_s=callback_timeout
        )
        self.instance.ensure_account(account_sid, auth_token)
        self.any_credentials = any_credentials
        self.connection: InProcess | OverSocket = (
            OverSocket(self.instance) if server else InProcess(self.instance)
        )
        self.client: Client = self.connection.sdk_client(account_sid, auth_token, self.serve)
        self._async_client: Client | None = None
        self.last_workspace: Workspace | None = None

    # -- life ---------------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self.connection.close()
        finally:
            self.instance.close()

    def __enter__(self) -> TaskRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def any_credentials(self) -> bool:
        return self.instance.credentials is not None

    @any_credentials.setter
    def any_credentials(self, value: bool) -> None:
        self.instance.accept_any_credentials(value)

    @property
    def url(self) -> str:
        """The base URL: a loopback port for `server=True`, else TaskRouter's own."""
        scheme, host = self.connection.base
        return f"{scheme}://{host}"

    # -- requests -----------------------------------------------------------------------------

    @property
    def async_client(self) -> Client:
        """The SDK for its async calls (`await ....create_async(...)`), on the same account."""
        if self._async_client is None:
            self._async_client = self.connection.async_sdk_client(
                self.account_sid, self.auth_token, self.serve
            )
        return self._async_client

    def client_for(self, account_sid: str, auth_token: str) -> Client:
        """An SDK client for another account on this Switchboard (created if need be, its
        token set to `auth_token`)."""
        self.connection.call(lambda: self.instance.ensure_account(account_sid, auth_token))
        return self.connection.sdk_client(account_sid, auth_token, self.serve)

    def serve(self, request: Request) -> Reply:
        """One HTTP request, as the SDK sent it."""
        return self.connection.serve(request)

    def request(self, method: str, path: str, form: dict[str, Any] | None = None) -> Any:
        """A raw API call as this kit's account: the JSON reply, or TaskRouterTestError
        carrying the error body."""
        scheme, host = self.connection.base
        body = encode_form(form).encode() if method != "GET" else b""
        query = encode_form(form) if method == "GET" else ""
        headers = [
            ("Authorization", basic_auth((self.account_sid, self.auth_token))),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ]
        reply = self.serve(Request(method, scheme, host, path, query, headers, body))
        if not 200 <= reply.status < 300:
            raise TaskRouterTestError(f"{method} {path} answered {reply.status}: {reply.text}")
        return json.loads(reply.body) if reply.body else None

    # -- time ---------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.instance.clock.now_ms() / 1000, UTC)

    def advance(self, seconds: float = 0) -> datetime:
        """Move the clock on by `seconds`, running every deadline it passes in deadline
        order, and delivering the callbacks due at each, before returning the new time.
        `advance()` moves no time and delivers the callbacks due now."""
        if seconds < 0:
            raise ClockError("the clock never moves backwards: advance() takes seconds >= 0")
        return self._move_to(self.instance.clock.now_ms() + round(seconds * 1000))

    def set_time(self, moment: Moment) -> datetime:
        """Move the clock to `moment` (a datetime, ISO 8601 text or epoch ms), never back."""
        target = moment_ms(moment)
        if target < self.instance.clock.now_ms():
            raise ClockError(f"the clock is at {self.now.isoformat()} and never moves backwards")
        return self._move_to(target)

    def _move_to(self, target: int) -> datetime:
        if not self.instance.movable:
            raise ClockError(
                "this Switchboard runs on the system clock, which a test cannot move;"
                " create it with clock='manual' (the default)"
            )
        for _ in range(MAX_STEPS):
            upcoming = self.request("GET", "/switchboard/clock")["next_deadline_ms"]
            if upcoming is None or upcoming > target:
                break
            self._step(max(upcoming, self.instance.clock.now_ms()))
        else:
            raise ClockError(f"more than {MAX_STEPS} deadlines fell due in one advance()")
        self._step(target)
        return self.now

    def _step(self, at: int) -> None:
        self.request("POST", "/switchboard/clock", {"SetMs": at})
        self.instance.raise_failure()

    # -- what happened ------------------------------------------------------------------------

    def events(
        self, event_type: str | None = None, *, workspace: str | Workspace | None = None
    ) -> list[Any]:
        """The workspace's events (default: the last one `workspace()` built), oldest first,
        as the SDK's EventInstance; `event_type` keeps one type."""
        sid = self._workspace_sid(workspace)
        kwargs: dict[str, Any] = {"start_date": datetime.fromtimestamp(self.start_ms / 1000, UTC)}
        if event_type is not None:
            kwargs["event_type"] = event_type
        found = self.client.taskrouter.v1.workspaces(sid).events.list(**kwargs)
        return list(reversed(found))

    def event_types(self, *, workspace: str | Workspace | None = None) -> list[str]:
        """The types of the workspace's events, oldest first."""
        return [event.event_type for event in self.events(workspace=workspace)]

    def _workspace_sid(self, workspace: str | Workspace | None) -> str:
        if isinstance(workspace, str):
            return workspace
        chosen = workspace or self.last_workspace
        if chosen is None:
            raise TaskRouterTestError("no workspace yet: pass workspace= or build one first")
        return chosen.sid

    # -- building -----------------------------------------------------------------------------

    def workspace(self, spec: WorkspaceSpec | None = None, **fields: Any) -> Workspace:
        """A workspace with its activities, queues, workers and workflow, from a short dict
        (see `switchboard.testing.workspaces`)."""
        built = build_workspace(self.client, {**(spec or {}), **fields})
        self.last_workspace = built
        return built

    # -- callbacks ----------------------------------------------------------------------------

    def deliver_callbacks_to(
        self,
        app: Any,
        base_url: str | None = None,
        *,
        interface: Literal["wsgi", "asgi"] | None = None,
        raise_server_errors: bool = True,
    ) -> None:
        """Deliver assignment and event callbacks whose URL starts with `base_url` (every
        callback when None) to `app`, a WSGI or ASGI application, in process, signed with the
        account's auth token, so the app's RequestValidator passes.

        Callbacks are delivered at each clock step (`advance()`, `set_time()`; `advance()`
        with no argument delivers what is due now), in order, with those they cause, before
        the step returns. An exception the app raises, or (unless `raise_server_errors` is
        False) a 5xx it answers, is raised there as CallbackTargetError."""
        chosen: Interface | None = interface
        self.instance.deliver_callbacks_to(app, base_url or "", chosen, raise_server_errors)
