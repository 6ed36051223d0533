"""The real worker SDK (`twilio-taskrouter`, npm, run by Node) against a live server.

An agent connects with only `ebServer` and `wsServer` set and a token minted by Twilio's own
Python helper, goes Available, is offered a task created through the REST SDK, accepts it and
completes it; tokens that are expired, forged, of another workspace, or used on another worker
are refused. The Node side is tests/sdk/agent.js; it prints one JSON line per happening.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import TaskRouterGrant
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import build_services, create_app
from switchboard.config import Settings
from switchboard.storage import Store
from switchboard.timers import ManualClock
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    POSTGRES_URL,
    START_MS,
    RunningServer,
    make_services,
    sdk_client,
)
from tests.support.gateway import make_desk

SDK = Path(__file__).parent / "sdk"
# A guard against a hung child, not a timing assertion: a healthy scenario ends in a second.
GUARD_S = 60


@pytest.fixture
def server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[RunningServer, Services]]:
    """A live server on SQLite, or on PostgreSQL when parametrised with "postgres"."""
    if shutil.which("node") is None or not (SDK / "node_modules" / "twilio-taskrouter").exists():
        pytest.fail("Node 20 and `npm ci` in tests/sdk are needed (make test runs it)")
    if getattr(request, "param", "sqlite") == "postgres":
        schema = request.getfixturevalue("pg_schema")
        settings = Settings(database_url=POSTGRES_URL, clock="manual")
        store = Store.open(POSTGRES_URL, schema=schema)
        services = build_services(settings, store=store, clock=ManualClock(START_MS))
        services.engine.accounts.ensure_account(ACCOUNT_SID, AUTH_TOKEN)
    else:
        services = make_services(tmp_path)
    with RunningServer(create_app(services.settings, services=services)) as running:
        yield running, services
    services.store.close()


@pytest.fixture
def rest(server: tuple[RunningServer, Services]) -> Client:
    return sdk_client(None, server[0].url)


@pytest.fixture
def desk(rest: Client) -> dict[str, str]:
    """A workspace with one queue for everyone, a workflow into it and two agents."""
    return make_desk(rest)


@pytest.fixture
def api_key(server: tuple[RunningServer, Services]) -> tuple[str, str]:
    key, secret = server[1].engine.accounts.create_api_key(ACCOUNT_SID, "agent desktops")
    return key.sid, secret


def token(
    key: tuple[str, str], workspace_sid: str, worker_sid: str, *, ttl: int = 3600, **kw: Any
) -> str:
    """Minted exactly as a Twilio back end mints one for its agents."""
    minted = AccessToken(ACCOUNT_SID, key[0], key[1], identity=worker_sid, ttl=ttl, **kw)
    minted.add_grant(TaskRouterGrant(workspace_sid=workspace_sid, worker_sid=worker_sid,
                                     role="worker"))  # fmt: skip
    return minted.to_jwt()


class Agent:
    """tests/sdk/agent.js running one scenario; `next()` is its next printed happening."""

    def __init__(self, server: RunningServer, scenario: str, **options: Any) -> None:
        options |= {
            "scenario": scenario,
            "ebServer": f"{server.url}/v1/wschannels",
            "wsServer": f"{server.url.replace('http', 'ws', 1)}/v1/wschannels",
        }
        self.process = subprocess.Popen(
            ["node", "agent.js", json.dumps(options)],
            cwd=SDK,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.deadline = time.monotonic() + GUARD_S

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next(self) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=max(self.deadline - time.monotonic(), 0.1))
        except queue.Empty:
            raise AssertionError("the agent went quiet") from None
        assert line is not None, "the agent exited"
        happening: dict[str, Any] = json.loads(line)
        assert happening["event"] != "failed", happening
        return happening

    def rest(self) -> list[dict[str, Any]]:
        """Everything else it prints, once it has exited."""
        found = []
        while (happening := self.next_or_none()) is not None:
            found.append(happening)
        return found

    def next_or_none(self) -> dict[str, Any] | None:
        try:
            return self.next()
        except AssertionError as error:
            if "exited" in str(error):
                return None
            raise

    def close(self) -> int:
        try:
            return self.process.wait(timeout=GUARD_S)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    started: list[Agent] = []
    yield started
    for agent in started:
        if agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait()


@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
def test_an_agent_works_a_task_through_the_sdk(
    server: tuple[RunningServer, Services],
    rest: Client,
    desk: dict[str, Any],
    api_key: tuple[str, str],
    agents: list[Agent],
) -> None:
    agent = Agent(server[0], "work", token=token(api_key, desk["ws"], desk["alice"]))
    agents.append(agent)
    workspace = rest.taskrouter.v1.workspaces(desk["ws"])
    assert agent.next() == {
        "event": "ready",
        "sid": desk["alice"],
        "activity": "Offline",
        "activities": len(workspace.activities.list()),
        "channels": len(workspace.workers(desk["alice"]).worker_channels.list()),
    }
    assert agent.next() == {"event": "activity", "activity": "Available", "available": True}

    task = rest.taskrouter.v1.workspaces(desk["ws"]).tasks.create(
        workflow_sid=desk["workflow"], attributes=json.dumps({"customer": "Ada"})
    )
    offered = agent.next()
    assert offered["event"] == "reservationCreated"
    assert offered["task"] == task.sid and offered["status"] == "pending"
    assert offered["attributes"] == {"customer": "Ada"}
    assert agent.next() == {"event": "accepted", "sid": offered["sid"], "status": "accepted"}
    assert agent.next() == {"event": "taskCompleted", "sid": task.sid, "status": "completed"}
    done = agent.next()
    assert done == {"event": "reservationCompleted", "sid": offered["sid"], "status": "completed"}
    assert agent.close() == 0

    fetched = rest.taskrouter.v1.workspaces(desk["ws"]).tasks(task.sid).fetch()
    assert fetched.assignment_status == "completed"
    assert fetched.reason == "done in the test"
    reservation = (
        rest.taskrouter.v1.workspaces(desk["ws"]).workers(desk["alice"])
        .reservations(offered["sid"]).fetch()
    )  # fmt: skip
    assert reservation.reservation_status == "completed"


@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
def test_versions_rise_as_the_sdk_counts_them(
    server: tuple[RunningServer, Services],
    rest: Client,
    desk: dict[str, Any],
    api_key: tuple[str, str],
    agents: list[Agent],
) -> None:
    """With `enableVersionCheck` every change the agent makes carries If-Match with the
    version the SDK holds, which it adds one to itself on a channel's capacity change and on
    a reservation: each of those changes would be refused (412) if the server counted
    otherwise."""
    agent = Agent(server[0], "versions", token=token(api_key, desk["ws"], desk["alice"]))
    agents.append(agent)
    workers = rest.taskrouter.v1.workspaces(desk["ws"]).workers
    assert agent.next()["event"] == "activity"
    workers(desk["alice"]).worker_channels("default").update(capacity=2)
    assert agent.next() == {"event": "capacity", "channel": "default", "capacity": 2}
    assert agent.next()["event"] == "attributes"
    rest.taskrouter.v1.workspaces(desk["ws"]).tasks.create(workflow_sid=desk["workflow"])
    assert agent.next()["event"] == "reservationCreated"
    done = agent.next()
    assert done["event"] == "done"
    assert agent.close() == 0
    alice = server[1].store.get_worker(desk["ws"], desk["alice"])
    assert alice is not None and done["version"] == str(alice.version)


def _refusal(server: RunningServer, agents: list[Agent], jwt: str) -> str:
    agent = Agent(server, "connect", token=jwt)
    agents.append(agent)
    happening = agent.next()
    assert happening["event"] in ("disconnected", "error"), happening
    agent.close()
    return str(happening["message"])


def test_a_good_token_connects(
    server: tuple[RunningServer, Services], desk: dict[str, Any], api_key: tuple[str, str],
    agents: list[Agent],
) -> None:  # fmt: skip
    """The control for the refusals below: the same path with a good token gets through."""
    agent = Agent(server[0], "connect", token=token(api_key, desk["ws"], desk["alice"]))
    agents.append(agent)
    assert agent.next() == {"event": "ready", "sid": desk["alice"]}


def test_an_expired_token_is_refused(
    server: tuple[RunningServer, Services], desk: dict[str, Any], api_key: tuple[str, str],
    agents: list[Agent],
) -> None:  # fmt: skip
    minted = AccessToken(ACCOUNT_SID, api_key[0], api_key[1], identity="alice", ttl=60)
    minted.add_grant(TaskRouterGrant(workspace_sid=desk["ws"], worker_sid=desk["alice"]))
    expired = minted.to_jwt(ttl=-3600)
    assert "the token has expired" in _refusal(server[0], agents, expired)


def test_a_forged_token_is_refused(
    server: tuple[RunningServer, Services], desk: dict[str, Any], api_key: tuple[str, str],
    agents: list[Agent],
) -> None:  # fmt: skip
    forged = token((api_key[0], "x" * 32), desk["ws"], desk["alice"])
    assert "signature does not match" in _refusal(server[0], agents, forged)


def test_a_token_of_another_workspace_is_refused(
    server: tuple[RunningServer, Services], rest: Client, desk: dict[str, Any],
    api_key: tuple[str, str], agents: list[Agent],
) -> None:  # fmt: skip
    elsewhere = rest.taskrouter.v1.workspaces.create(friendly_name="Elsewhere")
    # Alice exists, but in Desk: a token naming her in another workspace is refused.
    message = _refusal(server[0], agents, token(api_key, elsewhere.sid, desk["alice"]))
    assert f"worker {desk['alice']} is not in workspace {elsewhere.sid}" in message


def test_a_worker_token_acts_only_on_its_own_worker(
    server: tuple[RunningServer, Services], desk: dict[str, Any], api_key: tuple[str, str],
    agents: list[Agent],
) -> None:  # fmt: skip
    agent = Agent(
        server[0], "fetch", token=token(api_key, desk["ws"], desk["alice"]),
        workspaceSid=desk["ws"], workers=[desk["alice"], desk["bob"]],
    )  # fmt: skip
    agents.append(agent)
    assert agent.next() == {"event": "fetched", "sid": desk["alice"]}
    refused = agent.next()
    assert refused["event"] == "refused" and refused["sid"] == desk["bob"]
    assert "status code 403" in refused["message"]
    assert "acts only on its own worker" in refused["message"]


def test_after_a_server_restart_the_sdk_reconnects_and_sees_the_current_state(
    tmp_path: Path, agents: list[Agent]
) -> None:
    """The SDK reconnects by itself and refetches on `init`: a change made while the server
    was down shows in its second `ready`."""
    if shutil.which("node") is None or not (SDK / "node_modules" / "twilio-taskrouter").exists():
        pytest.fail("Node 20 and `npm ci` in tests/sdk are needed (make test runs it)")
    services = make_services(tmp_path)
    try:
        first = RunningServer(create_app(services.settings, services=services))
        with first:
            rest = sdk_client(None, first.url)
            ws = rest.taskrouter.v1.workspaces.create(friendly_name="Restart")
            alice = rest.taskrouter.v1.workspaces(ws.sid).workers.create(friendly_name="alice")
            available = next(
                a.sid
                for a in rest.taskrouter.v1.workspaces(ws.sid).activities.list()
                if a.friendly_name == "Available"
            )
            key = services.engine.accounts.create_api_key(ACCOUNT_SID, "desk")
            jwt = token((key[0].sid, key[1]), ws.sid, alice.sid)
            agent = Agent(first, "reconnect", token=jwt, readies=2)
            agents.append(agent)
            assert agent.next() == {"event": "ready", "activity": "Offline"}
        # The server is down: the change goes straight to the engine.
        services.engine.workers.update_worker(ws.sid, alice.sid, activity_sid=available)
        second = RunningServer(create_app(services.settings, services=services))
        second.port, second.url = first.port, first.url
        second.server.config.port = first.port
        with second:
            # One `disconnected` per failed attempt while the server was away, then ready.
            happenings = [agent.next()]
            while happenings[-1]["event"] == "disconnected":
                happenings.append(agent.next())
            assert len(happenings) >= 2
            assert happenings[-1] == {"event": "ready", "activity": "Available"}
            assert agent.close() == 0
    finally:
        services.store.close()


@pytest.fixture
def no_grace(tmp_path: Path) -> Iterator[tuple[RunningServer, Services]]:
    """A live server on SQLite whose workers' fate is decided as soon as they leave."""
    if shutil.which("node") is None or not (SDK / "node_modules" / "twilio-taskrouter").exists():
        pytest.fail("Node 20 and `npm ci` in tests/sdk are needed (make test runs it)")
    services = make_services(tmp_path, presence_grace_seconds=0, presence_lapse_seconds=1)
    with RunningServer(create_app(services.settings, services=services)) as running:
        yield running, services
    services.store.close()


def _activity_once_settled(rest: Client, workspace_sid: str, worker_sid: str) -> str:
    """The worker's activity once it is Offline, or as it is after a guard that a healthy
    run never nears (presence acts on the wall clock, a moment after the socket closes)."""
    deadline = time.monotonic() + GUARD_S
    while True:
        found = str(rest.taskrouter.v1.workspaces(workspace_sid).workers(worker_sid).fetch()
                    .activity_name)  # fmt: skip
        if found == "Offline" or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_an_agent_that_closes_its_desktop_goes_offline(
    no_grace: tuple[RunningServer, Services], agents: list[Agent]
) -> None:
    rest = sdk_client(None, no_grace[0].url)
    ws = rest.taskrouter.v1.workspaces.create(friendly_name="Presence")
    alice = rest.taskrouter.v1.workspaces(ws.sid).workers.create(friendly_name="alice")
    key = no_grace[1].engine.accounts.create_api_key(ACCOUNT_SID, "desk")
    jwt = token((key[0].sid, key[1]), ws.sid, alice.sid)
    # setWorkerOfflineIfDisconnected left out: Twilio's default (true) applies.
    agent = Agent(no_grace[0], "presence", token=jwt, available=True, leave=True)
    agents.append(agent)
    assert agent.next() == {"event": "ready", "activity": "Available"}
    assert agent.close() == 0
    assert _activity_once_settled(rest, ws.sid, alice.sid) == "Offline"


def test_a_new_desktop_that_closes_existing_sessions_ends_the_old_one(
    no_grace: tuple[RunningServer, Services], agents: list[Agent]
) -> None:
    rest = sdk_client(None, no_grace[0].url)
    ws = rest.taskrouter.v1.workspaces.create(friendly_name="Presence")
    alice = rest.taskrouter.v1.workspaces(ws.sid).workers.create(friendly_name="alice")
    key = no_grace[1].engine.accounts.create_api_key(ACCOUNT_SID, "desk")
    jwt = token((key[0].sid, key[1]), ws.sid, alice.sid)
    old = Agent(no_grace[0], "presence", token=jwt, available=True)
    agents.append(old)
    assert old.next() == {"event": "ready", "activity": "Available"}
    new = Agent(no_grace[0], "presence", token=jwt, closeExistingSessions=True, leave=True)
    agents.append(new)
    assert new.next() == {"event": "ready", "activity": "Available"}
    closed = old.next()
    assert closed["event"] == "disconnected"
    assert "closed by a new session of this worker" in closed["message"]
    assert old.close() == 0 and new.close() == 0


# -- transfers ---------------------------------------------------------------------------------


@pytest.fixture
def tiers(rest: Client) -> dict[str, Any]:
    """Alice answers the front queue, bob the back one; tasks come in at the front."""
    ws = rest.taskrouter.v1.workspaces.create(friendly_name="Tiers")
    queues = rest.taskrouter.v1.workspaces(ws.sid).task_queues
    front = queues.create(friendly_name="Front", target_workers="tier == 1").sid
    back = queues.create(friendly_name="Back", target_workers="tier == 2").sid
    config = {"task_routing": {"filters": [], "default_filter": {"queue": front}}}
    workflow = rest.taskrouter.v1.workspaces(ws.sid).workflows.create(
        friendly_name="Inbound", configuration=json.dumps(config)
    )
    workers = rest.taskrouter.v1.workspaces(ws.sid).workers
    alice = workers.create(friendly_name="alice", attributes='{"tier": 1}').sid
    bob = workers.create(friendly_name="bob", attributes='{"tier": 2}').sid
    return {"ws": ws.sid, "workflow": workflow.sid, "front": front, "back": back,
            "alice": alice, "bob": bob}  # fmt: skip


def _desks_ready(
    server: RunningServer, agents: list[Agent], key: tuple[str, str], tiers: dict[str, Any],
    to: str, *, accept: bool = True, cancel: bool = False,
) -> tuple[Agent, Agent]:  # fmt: skip
    """Bob's desktop ready and Available, then alice's, which transfers to `to` the first
    task it is offered."""
    bob = Agent(server, "receive", token=token(key, tiers["ws"], tiers["bob"]), accept=accept)
    agents.append(bob)
    assert bob.next()["event"] == "activity"
    alice = Agent(server, "transfer", token=token(key, tiers["ws"], tiers["alice"]), to=to,
                  cancel=cancel)  # fmt: skip
    agents.append(alice)
    assert alice.next()["event"] == "activity"
    return alice, bob


def _until(agent: Agent, event: str) -> dict[str, Any]:
    """The agent's next happening named `event` (others, printed meanwhile, are skipped)."""
    while (happening := agent.next())["event"] != event:
        pass
    return happening


@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
def test_an_agent_transfers_a_task_to_a_queue_where_another_agent_takes_it(
    server: tuple[RunningServer, Services], rest: Client, tiers: dict[str, Any],
    api_key: tuple[str, str], agents: list[Agent],
) -> None:  # fmt: skip
    alice, bob = _desks_ready(server[0], agents, api_key, tiers, tiers["back"])
    task = rest.taskrouter.v1.workspaces(tiers["ws"]).tasks.create(
        workflow_sid=tiers["workflow"], attributes='{"customer": "Ada"}'
    )
    mine = _until(alice, "reservationCreated")
    assert mine["task"] == task.sid
    initiated = _until(alice, "transferInitiated")
    assert initiated["status"] == "initiated" and initiated["type"] == "QUEUE"
    assert initiated["to"] == tiers["back"] and initiated["mode"] == "COLD"
    assert initiated["workerSid"] == tiers["alice"] and initiated["reservationSid"] == mine["sid"]

    offered = _until(bob, "reservationCreated")
    assert offered["task"] == task.sid and offered["taskStatus"] == "reserved"
    assert offered["transfer"]["sid"] == initiated["sid"]
    assert offered["transfer"]["status"] == "initiated"
    assert offered["incoming"]["workerSid"] == tiers["alice"]
    assert _until(bob, "taskCompleted") == {"event": "taskCompleted", "sid": task.sid,
                                            "status": "completed"}  # fmt: skip
    assert _until(bob, "reservationCompleted")["sid"] == offered["sid"]

    completed = _until(alice, "transfer.completed")
    assert completed["sid"] == initiated["sid"] and completed["status"] == "complete"
    done = _until(alice, "reservationCompleted")
    assert done["sid"] == mine["sid"] and done["status"] == "completed"
    assert alice.close() == 0 and bob.close() == 0
    fetched = rest.taskrouter.v1.workspaces(tiers["ws"]).tasks(task.sid).fetch()
    assert fetched.assignment_status == "completed"
    assert fetched.reason == "transferred and done"


def test_an_agent_transfers_a_task_to_another_agent(
    server: tuple[RunningServer, Services], rest: Client, tiers: dict[str, Any],
    api_key: tuple[str, str], agents: list[Agent],
) -> None:  # fmt: skip
    alice, bob = _desks_ready(server[0], agents, api_key, tiers, tiers["bob"])
    task = rest.taskrouter.v1.workspaces(tiers["ws"]).tasks.create(workflow_sid=tiers["workflow"])
    mine = _until(alice, "reservationCreated")
    assert _until(alice, "wrapup") == {"event": "wrapup", "sid": mine["sid"], "status": "wrapping"}
    offered = _until(bob, "reservationCreated")
    assert offered["task"] == task.sid
    assert offered["transfer"]["type"] == "WORKER" and offered["transfer"]["to"] == tiers["bob"]
    assert _until(bob, "reservationCompleted")["sid"] == offered["sid"]
    assert _until(alice, "transfer.completed")["status"] == "complete"
    assert _until(alice, "reservationCompleted")["sid"] == mine["sid"]
    assert alice.close() == 0 and bob.close() == 0


def test_an_agent_cancels_its_transfer(
    server: tuple[RunningServer, Services], rest: Client, tiers: dict[str, Any],
    api_key: tuple[str, str], agents: list[Agent],
) -> None:  # fmt: skip
    alice, bob = _desks_ready(
        server[0], agents, api_key, tiers, tiers["bob"], accept=False, cancel=True
    )
    task = rest.taskrouter.v1.workspaces(tiers["ws"]).tasks.create(workflow_sid=tiers["workflow"])
    offered = _until(bob, "reservationCreated")
    assert offered["task"] == task.sid and offered["transfer"]["status"] == "initiated"
    answered = _until(alice, "cancelAnswered")
    assert answered["status"] == "canceled"
    assert _until(alice, "transfer.canceled")["sid"] == answered["sid"]
    canceled = _until(bob, "reservationCanceled")
    assert canceled["sid"] == offered["sid"] and canceled["transfer"]["status"] == "canceled"
    assert _until(alice, "reservationCompleted")["taskStatus"] != "completed"
    assert alice.close() == 0 and bob.close() == 0
    # The task went back to its workflow: the front queue, whose agent is alice.
    fetched = rest.taskrouter.v1.workspaces(tiers["ws"]).tasks(task.sid).fetch()
    assert fetched.task_queue_sid == tiers["front"]
