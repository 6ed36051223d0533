"""On PostgreSQL a configuration write made through the official SDK is prepared, like the hot
ones: it joins a group of writes to its workspace whose opening (BEGIN, the lock, the change
number) and COMMIT were waited for on a thread, so the event loop neither opens nor commits a
transaction for it, nor commits another request's group first.

The Store tells an observer of every database call on the thread that made it
(`Store.observe_database`); each call a request makes on the event loop's thread is noted
with whether a group was open then. A write that was not prepared runs alone: its BEGIN and
COMMIT are calls on the loop with no group open."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send
from twilio.rest import Client

from switchboard.api.context import CredentialCache, KnownWorkspaces
from switchboard.app import create_app
from switchboard.storage import Store
from tests.support import (
    RunningServer,
    drop_schema,
    eventually,
    make_services,
    new_schema_name,
    sdk_client,
)

# Long enough for the whole module: a request then checks credentials and its workspace
# without reading the database, and the only calls it makes are its write's.
TRUSTED_S = 3600.0


@dataclass
class RequestCalls:
    """The database calls one HTTP request made on the event loop's thread, each noted as
    whether a group of writes was open when it ended."""

    loop_thread: int
    in_group: list[bool] = field(default_factory=list)
    serving: bool = True


_REQUEST: ContextVar[RequestCalls | None] = ContextVar("request_calls", default=None)


class Recorder:
    """The app, with each HTTP request's database calls on the loop noted (`requests`).
    Background loops run outside any request's context, so their calls are not noted."""

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app, self.store = app, store
        self.requests: list[RequestCalls] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        calls = RequestCalls(threading.get_ident())
        self.requests.append(calls)
        token = _REQUEST.set(calls)
        try:
            await self.app(scope, receive, send)
        finally:
            calls.serving = False  # tasks the request started keep its context
            _REQUEST.reset(token)

    def observe(self, seconds: float) -> None:
        calls = _REQUEST.get()
        if calls is not None and calls.serving and threading.get_ident() == calls.loop_thread:
            calls.in_group.append(self.store.commit_pending)


@dataclass(frozen=True)
class Desk:
    """A workspace with one of each configuration resource, through the SDK."""

    client: Client
    ws: Any  # the SDK's WorkspaceContext
    activity: str
    channel: str
    queue: str
    workflow: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Recorder]]:
    """A live server on PostgreSQL whose background loops write nothing while the tests run.
    A background write is not prepared: made on the loop while a request's group is open,
    it commits the group first, and the request's write, joining none, runs alone. Presence
    renews its row every third of the lapse (here once an hour), and the event sender prunes
    at its first pass, which, like presence's, comes before the tests."""
    schema = new_schema_name()
    services = make_services(
        tmp_path_factory.mktemp("prepared"), "postgres", schema, presence_lapse_seconds=3600
    )
    services.auth_cache = CredentialCache(ttl=TRUSTED_S)
    services.known_workspaces = KnownWorkspaces(ttl=TRUSTED_S)
    app = create_app(services.settings, services=services)
    recorder = Recorder(app, services.store)
    try:
        with RunningServer(recorder) as running:
            loops = (app.state.event_sender.loop, app.state.realtime.presence.loop)
            eventually(
                lambda: all(loop.status().last_pass for loop in loops),
                what="the loops' first passes",
            )
            services.store.observe_database(recorder.observe)
            yield running, recorder
    finally:
        services.store.close()
        drop_schema(schema)


@pytest.fixture
def desk(server: tuple[RunningServer, Recorder]) -> Desk:
    running, _ = server
    client = sdk_client(None, running.url)
    sid = client.taskrouter.v1.workspaces.create(friendly_name="Configured").sid
    ws = client.taskrouter.v1.workspaces(sid)
    return Desk(
        client,
        ws,
        activity=ws.activities.create(friendly_name="Break").sid,
        channel=ws.task_channels.create(friendly_name="Fax", unique_name="fax").sid,
        queue=ws.task_queues.create(friendly_name="Sales", target_workers="1==1").sid,
        workflow=ws.workflows.create(
            friendly_name="Inbound", configuration=json.dumps({"task_routing": {"filters": []}})
        ).sid,
    )


ROUTE_TO_SALES = '{{"task_routing": {{"default_filter": {{"queue": "{}"}}}}}}'

OPERATIONS: dict[str, Callable[[Desk], object]] = {
    "create workspace": lambda d: d.client.taskrouter.v1.workspaces.create(friendly_name="New"),
    "update workspace": lambda d: d.ws.update(friendly_name="Renamed", multi_task_enabled=False),
    "delete workspace": lambda d: d.ws.delete(),
    "create activity": lambda d: d.ws.activities.create(friendly_name="Lunch"),
    "update activity": lambda d: d.ws.activities(d.activity).update(friendly_name="Rest"),
    "delete activity": lambda d: d.ws.activities(d.activity).delete(),
    "create task channel": lambda d: d.ws.task_channels.create(
        friendly_name="Mail", unique_name="mail"
    ),
    "update task channel": lambda d: d.ws.task_channels(d.channel).update(friendly_name="Faxes"),
    "delete task channel": lambda d: d.ws.task_channels(d.channel).delete(),
    "create task queue": lambda d: d.ws.task_queues.create(friendly_name="Support"),
    "update task queue": lambda d: d.ws.task_queues(d.queue).update(
        target_workers="skills HAS 'en'", max_reserved_workers=2
    ),
    "delete task queue": lambda d: d.ws.task_queues(d.queue).delete(),
    "create workflow": lambda d: d.ws.workflows.create(
        friendly_name="Outbound", configuration=ROUTE_TO_SALES.format(d.queue)
    ),
    "update workflow": lambda d: d.ws.workflows(d.workflow).update(
        configuration=ROUTE_TO_SALES.format(d.queue), re_evaluate_tasks="true"
    ),
    "delete workflow": lambda d: d.ws.workflows(d.workflow).delete(),
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_configuration_write_joins_a_group_opened_off_the_loop(
    operation: str, desk: Desk, server: tuple[RunningServer, Recorder]
) -> None:
    _, recorder = server
    recorder.requests.clear()
    OPERATIONS[operation](desk)
    [request] = recorder.requests
    assert request.in_group, "the request wrote nothing"
    outside = request.in_group.count(False)
    assert outside == 0, f"{outside} of {len(request.in_group)} calls on the loop ran alone"
