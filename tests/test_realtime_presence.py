"""Presence of the worker SDK's sessions, through the websocket in process: several sessions
per worker, `closeExistingSessions`, `setWorkerOfflineIfDisconnected`, and sessions known to
every process on one PostgreSQL database. The real SDK drives the same in
test_realtime_sdk.py.

Sessions end on the wall clock; these servers have no grace period, so a worker's fate is
decided as soon as the presence loop sees its last session gone. `until` waits for that (a
guard against hanging, never an assertion about time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import build_services, create_app
from switchboard.config import Settings
from switchboard.storage import Store
from switchboard.storage.presence_rows import SessionRow
from switchboard.timers import ManualClock
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    POSTGRES_URL,
    START_MS,
    InProcessHttpClient,
    make_services,
    sdk_client,
)
from tests.support.gateway import (
    PATH,
    frames,
    make_available,
    make_desk,
    offer_to_bob,
    token,
    two_servers,
)

T = TypeVar("T")
GUARD_S = 30
PRESENCE = {"heartbeat_seconds": 1, "presence_grace_seconds": 0, "presence_lapse_seconds": 1}


def until(read: Callable[[], T], wanted: Callable[[T], bool]) -> T:
    """`read()` once `wanted` holds of it; fails after a guard that a healthy run never nears."""
    deadline = time.monotonic() + GUARD_S
    while True:
        value = read()
        if wanted(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Services, TestClient, Client, dict[str, str], str]]:
    """A server with no grace period, a desk, and a token for bob."""
    services = make_services(tmp_path, **PRESENCE)
    with TestClient(create_app(services.settings, services=services)) as http:
        client = sdk_client(InProcessHttpClient(http.app), "http://testserver")
        desk = make_desk(client)
        made, secret = services.engine.accounts.create_api_key(ACCOUNT_SID, "desk")
        yield services, http, client, desk, token((made.sid, secret), desk["ws"], desk["bob"])
    services.store.close()


def activity(client: Client, desk: dict[str, str], worker: str = "bob") -> str:
    found = client.taskrouter.v1.workspaces(desk["ws"]).workers(desk[worker]).fetch()
    return str(found.activity_name)


def present(services: Services, desk: dict[str, str]) -> int:
    return services.store.presence.present(desk["ws"], desk["bob"])


def test_every_session_of_a_worker_receives_its_events(live: Any) -> None:
    _services, http, client, desk, jwt = live
    url = f"{PATH}?token={jwt}&closeExistingSessions=false"
    with http.websocket_connect(url) as tab, http.websocket_connect(url) as phone:
        assert frames(tab, 1)[0]["event_type"] == "init"
        assert frames(phone, 1)[0]["event_type"] == "init"
        _, reservation_sid = offer_to_bob(client, desk)
        for socket in (tab, phone):
            pushed = frames(socket, 2)
            assert [f["event_type"] for f in pushed] == [
                "worker.activity.update", "reservation.created",
            ]  # fmt: skip
            assert pushed[1]["payload"]["sid"] == reservation_sid


def test_a_session_that_closes_existing_ones_ends_them(live: Any) -> None:
    _services, http, client, desk, jwt = live
    with http.websocket_connect(f"{PATH}?token={jwt}&closeExistingSessions=false") as old:
        assert frames(old, 1)[0]["event_type"] == "init"
        with http.websocket_connect(f"{PATH}?token={jwt}&closeExistingSessions=true") as new:
            assert frames(new, 1)[0]["event_type"] == "init"
            with pytest.raises(WebSocketDisconnect) as closed:
                frames(old, 1)
            assert closed.value.code == 4000
            assert "new session" in closed.value.reason
            # The new one carries on.
            make_available(client, desk, "bob")
            assert frames(new, 1)[0]["event_type"] == "worker.activity.update"
    assert until(lambda: activity(client, desk), lambda a: a == "Offline") == "Offline"


def test_the_worker_goes_offline_when_its_last_session_drops(live: Any) -> None:
    services, http, client, desk, jwt = live
    make_available(client, desk, "bob")
    url = f"{PATH}?token={jwt}&closeExistingSessions=false"
    with http.websocket_connect(url) as first:
        assert frames(first, 1)[0]["event_type"] == "init"
        with http.websocket_connect(url) as second:
            assert frames(second, 1)[0]["event_type"] == "init"
            assert present(services, desk) == 2
        # One session left: its row is swept once the grace ends, and bob stays.
        assert until(lambda: present(services, desk), lambda n: n == 1) == 1
        assert activity(client, desk) == "Available"
    assert until(lambda: activity(client, desk), lambda a: a == "Offline") == "Offline"
    # An ordinary activity change, with its event.
    events = client.taskrouter.v1.workspaces(desk["ws"]).events.list(
        worker_sid=desk["bob"], event_type="worker.activity.update"
    )
    assert events[0].event_data["worker_activity_name"] == "Offline"


def test_a_pending_reservation_is_rejected_when_the_agent_leaves(live: Any) -> None:
    _services, http, client, desk, jwt = live
    with http.websocket_connect(f"{PATH}?token={jwt}") as socket:
        assert frames(socket, 1)[0]["event_type"] == "init"
        task_sid, reservation_sid = offer_to_bob(client, desk)
    assert until(lambda: activity(client, desk), lambda a: a == "Offline") == "Offline"
    reservation = (
        client.taskrouter.v1.workspaces(desk["ws"]).workers(desk["bob"])
        .reservations(reservation_sid).fetch()
    )  # fmt: skip
    assert reservation.reservation_status == "rejected"
    task = client.taskrouter.v1.workspaces(desk["ws"]).tasks(task_sid).fetch()
    assert task.assignment_status == "pending"


def test_a_worker_that_asked_to_stay_stays(live: Any) -> None:
    services, http, client, desk, jwt = live
    make_available(client, desk, "bob")
    with http.websocket_connect(f"{PATH}?token={jwt}&setWorkerOfflineIfDisconnected=false") as s:
        assert frames(s, 1)[0]["event_type"] == "init"
    assert until(lambda: present(services, desk), lambda n: n == 0) == 0
    assert activity(client, desk) == "Available"


def test_a_grace_period_lets_the_agent_reconnect(tmp_path: Path) -> None:
    services = make_services(tmp_path, heartbeat_seconds=1, presence_grace_seconds=3600)
    try:
        with TestClient(create_app(services.settings, services=services)) as http:
            client = sdk_client(InProcessHttpClient(http.app), "http://testserver")
            desk = make_desk(client)
            made, secret = services.engine.accounts.create_api_key(ACCOUNT_SID, "desk")
            jwt = token((made.sid, secret), desk["ws"], desk["bob"])
            make_available(client, desk, "bob")
            with http.websocket_connect(f"{PATH}?token={jwt}") as socket:
                assert frames(socket, 1)[0]["event_type"] == "init"
            # Closed, but within its grace: still present, still Available.
            assert present(services, desk) == 1
            assert activity(client, desk) == "Available"
    finally:
        services.store.close()


def _server(schema: str) -> Services:
    settings = Settings(database_url=POSTGRES_URL, clock="manual", **PRESENCE)
    store = Store.open(POSTGRES_URL, schema=schema)
    services = build_services(settings, store=store, clock=ManualClock(START_MS))
    services.engine.accounts.ensure_account(ACCOUNT_SID, AUTH_TOKEN)
    return services


def test_presence_is_shared_by_the_processes_on_one_database(pg_schema: str) -> None:
    """Two servers on one PostgreSQL database, as two processes would be: a session opened on
    the second closes the one held by the first, and sessions of a process that died without
    closing them lapse, and their worker goes Offline."""
    with two_servers(_server(pg_schema), _server(pg_schema)) as both:
        client, desk, jwt = both.client, both.desk, both.jwt
        with both.one.websocket_connect(f"{PATH}?token={jwt}") as old:
            assert frames(old, 1)[0]["event_type"] == "init"
            url = f"{PATH}?token={jwt}&closeExistingSessions=true"
            with both.two.websocket_connect(url) as new:
                assert frames(new, 1)[0]["event_type"] == "init"
                with pytest.raises(WebSocketDisconnect) as closed:
                    frames(old, 1)
                assert closed.value.code == 4000

        # A process that died holding alice's session: its row stops being renewed.
        make_available(client, desk, "alice")
        rows = both.one.app.state.services.store.presence
        now = int(time.time() * 1000)
        rows.renew_process("dead-process", now + 200)
        rows.open([SessionRow("dead-session", "dead-process", desk["ws"], desk["alice"], True)])
        assert rows.present(desk["ws"], desk["alice"]) == 1
        assert until(lambda: activity(client, desk, "alice"), lambda a: a == "Offline") == (
            "Offline"
        )


def test_a_session_the_database_could_not_record_is_recorded_once_it_answers(
    live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, http, _client, desk, jwt = live
    rows = services.store.presence
    record = rows.open
    refusals = []

    def refuse_once(found: list[SessionRow]) -> None:
        if not refusals:
            refusals.append(found)
            raise OSError("the database is away")
        record(found)

    monkeypatch.setattr(rows, "open", refuse_once)
    with http.websocket_connect(f"{PATH}?token={jwt}") as socket:
        # The socket serves all the same, and the next pass records the session.
        assert frames(socket, 1)[0]["event_type"] == "init"
        assert refusals
        assert until(lambda: present(services, desk), lambda n: n == 1) == 1
