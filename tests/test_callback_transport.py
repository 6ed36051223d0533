"""The poster's transport seam: callbacks delivered to an application in process (what the
test kit builds on), signed as over the network, through the app's own lifespan; and the
transport swapped while the app runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from switchboard.app import create_app
from tests.support import AUTH_TOKEN, InProcessHttpClient, make_services, sdk_client

DEADLINE_S = 10.0


def eventually(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {DEADLINE_S} s")
        time.sleep(0.01)


class Application:
    """The application under test: an ASGI app that checks every callback's signature."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[str, dict[str, str], bool]] = []
        self.asgi = Starlette(routes=[
            Route("/assign", self.assign, methods=["POST"]),
            Route("/events", self.events, methods=["POST"]),
        ])  # fmt: skip

    async def _record(self, request: Request) -> None:
        form = dict(parse_qsl((await request.body()).decode()))
        valid = RequestValidator(AUTH_TOKEN).validate(
            str(request.url), form, request.headers.get("X-Twilio-Signature", "")
        )
        self.calls.append((request.url.path, form, valid))

    async def assign(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"instruction": "accept"})

    async def events(self, request: Request) -> Response:
        await self._record(request)
        return Response(status_code=204)


def test_callbacks_reach_an_application_in_process(tmp_path: Path) -> None:
    first, second = Application("first"), Application("second")
    services = make_services(tmp_path)
    app = create_app(
        services.settings, services=services, callback_transport=httpx.ASGITransport(first.asgi)
    )
    with TestClient(app, base_url="http://testserver"):
        client = sdk_client(InProcessHttpClient(app), "http://testserver")
        ws = client.taskrouter.v1.workspaces.create(
            friendly_name="In process", event_callback_url="http://app.test/events"
        )
        api = client.taskrouter.v1.workspaces(ws.sid)
        available = api.activities.list(friendly_name="Available")[0].sid
        queue = api.task_queues.create(friendly_name="Support").sid
        api.workers.create(friendly_name="alice", activity_sid=available)
        routing = {"filters": [], "default_filter": {"queue": queue}}
        workflow = api.workflows.create(
            friendly_name="Flow", configuration=json.dumps({"task_routing": routing}),
            assignment_callback_url="http://app.test/assign",
        )  # fmt: skip
        task = api.tasks.create(attributes="{}", workflow_sid=workflow.sid).sid
        eventually("the offer accepted", lambda: api.tasks(task).fetch().assignment_status
                   == "assigned")  # fmt: skip
        eventually(
            "the events so far",
            lambda: any(f.get("EventType") == "reservation.accepted" for _, f, _ in first.calls),
        )
        assert all(valid for _, _, valid in first.calls)
        assert [p for p, f, _ in first.calls if p == "/assign"] == ["/assign"]

        app.state.poster.use_transport(httpx.ASGITransport(second.asgi))
        api.activities.create(friendly_name="After the swap")
        eventually("an event at the new target", lambda: len(second.calls) >= 1)
    services.store.close()
    types: list[Any] = [f["EventType"] for _, f, _ in second.calls]
    assert types == ["activity.created"] and all(valid for _, _, valid in second.calls)
    assert not any(f.get("ActivityName") == "After the swap" for _, f, _ in first.calls)
