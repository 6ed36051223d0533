"""The worker SDK's gateway as the SDK calls it: a desk to call it about (and a task offered
on it), Access Tokens as Twilio's helper mints them, one request exactly as the SDK sends it,
and two servers on one database serving the same desk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.testclient import TestClient
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import TaskRouterGrant
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import create_app
from tests.support.constants import ACCOUNT_SID
from tests.support.sdk import InProcessHttpClient, sdk_client

PATH = "/v1/wschannels"


def make_desk(client: Client) -> dict[str, str]:
    """A workspace with a queue for everyone, a workflow into it and two agents."""
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Desk")
    queue = client.taskrouter.v1.workspaces(ws.sid).task_queues.create(
        friendly_name="Everyone", target_workers="1==1"
    )
    config = {"task_routing": {"filters": [], "default_filter": {"queue": queue.sid}}}
    workflow = client.taskrouter.v1.workspaces(ws.sid).workflows.create(
        friendly_name="Inbound", configuration=json.dumps(config)
    )
    activities = client.taskrouter.v1.workspaces(ws.sid).activities.list()
    available = next(a.sid for a in activities if a.friendly_name == "Available")
    alice = client.taskrouter.v1.workspaces(ws.sid).workers.create(friendly_name="alice")
    bob = client.taskrouter.v1.workspaces(ws.sid).workers.create(friendly_name="bob")
    return {
        "ws": ws.sid, "workflow": workflow.sid, "available": available,
        "alice": alice.sid, "bob": bob.sid,
    }  # fmt: skip


def make_available(client: Client, desk: dict[str, str], worker: str) -> None:
    client.taskrouter.v1.workspaces(desk["ws"]).workers(desk[worker]).update(
        activity_sid=desk["available"]
    )


def offer_to_bob(client: Client, desk: dict[str, str]) -> tuple[str, str]:
    """A task offered to bob (the only one available): its SID and the reservation's."""
    make_available(client, desk, "bob")
    task = client.taskrouter.v1.workspaces(desk["ws"]).tasks.create(
        workflow_sid=desk["workflow"], attributes='{"customer": "Ada"}'
    )
    reservations = client.taskrouter.v1.workspaces(desk["ws"]).tasks(task.sid).reservations
    (reservation,) = reservations.list()
    assert reservation.worker_sid == desk["bob"]
    return task.sid, reservation.sid


def token(
    key: tuple[str, str], workspace_sid: str, worker_sid: str | None, role: str = "worker"
) -> str:
    minted = AccessToken(ACCOUNT_SID, key[0], key[1], identity="agent")
    minted.add_grant(TaskRouterGrant(workspace_sid=workspace_sid, worker_sid=worker_sid, role=role))
    return minted.to_jwt()


def call(
    http: TestClient,
    jwt: str | None,
    url: str,
    method: str = "GET",
    if_match: str | None = None,
    **params: Any,
) -> Any:
    """One gateway request exactly as the SDK sends it (a JSON text body, its headers)."""
    body = json.dumps({"url": url, "method": method, "params": params, "token": jwt})
    headers = {"content-type": "text/plain;charset=UTF-8", "apiVersion": "v1"}
    if if_match is not None:
        headers["If-Match"] = if_match
    return http.post(PATH, content=body, headers=headers)


def frames(socket: Any, count: int) -> list[dict[str, Any]]:
    """The next `count` frames that are not heartbeats, or fewer if three heartbeats in a row
    say nothing more is coming."""
    found: list[dict[str, Any]] = []
    quiet = 0
    while len(found) < count and quiet < 3:
        text = socket.receive_text()
        quiet = quiet + 1 if not text.strip() else 0
        if text.strip():
            found.append(json.loads(text))
    return found


@dataclass
class TwoServers:
    """Two servers on one database, a desk made through the first, and bob's token."""

    one: TestClient
    two: TestClient
    client: Client
    desk: dict[str, str]
    jwt: str


@contextmanager
def two_servers(first: Services, second: Services) -> Iterator[TwoServers]:
    """Serve `first` and `second` (each its own store, engine and push loop, as two processes
    would be) until the block ends, then close both stores."""
    try:
        with (
            TestClient(create_app(first.settings, services=first)) as one,
            TestClient(create_app(second.settings, services=second)) as two,
        ):
            client = sdk_client(InProcessHttpClient(one.app), "http://testserver")
            desk = make_desk(client)
            made, secret = first.engine.accounts.create_api_key(ACCOUNT_SID, "desk")
            jwt = token((made.sid, secret), desk["ws"], desk["bob"])
            yield TwoServers(one, two, client, desk, jwt)
    finally:
        first.store.close()
        second.store.close()
