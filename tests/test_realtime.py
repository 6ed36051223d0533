"""The worker SDK's side, in process: tokens, the gateway's shapes and refusals, CORS, push.

The real SDK drives the same endpoints in test_realtime_sdk.py; these tests reach what it
cannot show (status codes, close codes, each refusal's message) and run without Node.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import build_services, create_app
from switchboard.cli import main
from switchboard.config import Settings
from switchboard.engine.accounts import hash_secret
from switchboard.models import ApiKey, Prefix, new_sid
from switchboard.realtime import TokenRefused, verify
from switchboard.realtime.sessions import TOO_SLOW, Held, Session
from switchboard.realtime.tokens import Grant, Verifier, mint
from switchboard.storage import Store
from switchboard.timers import ManualClock
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    POSTGRES_URL,
    START_MS,
    InProcessHttpClient,
    eventually,
    eventually_async,
    make_services,
    sdk_client,
)
from tests.support.gateway import (
    PATH,
    call,
    frames,
    make_available,
    make_desk,
    offer_to_bob,
    token,
    two_servers,
)
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def key(services: Services) -> tuple[str, str]:
    made, secret = services.engine.accounts.create_api_key(ACCOUNT_SID, "desk")
    return made.sid, secret


@pytest.fixture
def desk(client: Client) -> dict[str, str]:
    return make_desk(client)


# -- tokens ---------------------------------------------------------------------------------


def test_a_token_minted_by_twilios_helper_is_verified(
    services: Services, key: tuple[str, str], desk: dict[str, str]
) -> None:
    grant = verify(token(key, desk["ws"], desk["alice"]), services.store)
    assert (grant.account_sid, grant.workspace_sid, grant.worker_sid, grant.role) == (
        ACCOUNT_SID, desk["ws"], desk["alice"], "worker",
    )  # fmt: skip
    assert grant.key_sid == key[0]


def test_a_verified_token_is_remembered_until_it_expires(
    services: Services, key: tuple[str, str], desk: dict[str, str]
) -> None:
    verifier = Verifier(services.store)
    jwt = token(key, desk["ws"], desk["alice"])
    assert verifier(jwt) is verifier(jwt)
    expired = mint(key[0], key[1], ACCOUNT_SID, desk["ws"], desk["alice"], ttl_s=60,
                   now_s=time.time() - 3600)  # fmt: skip
    with pytest.raises(TokenRefused, match="expired"):
        verifier(expired)


def test_a_key_made_before_secrets_were_kept_cannot_sign_tokens(
    services: Services, desk: dict[str, str], app: Any
) -> None:
    old = ApiKey(new_sid(Prefix.API_KEY), ACCOUNT_SID, hash_secret("s" * 32), "old", START_MS)
    services.store.insert_api_key(old)
    with pytest.raises(TokenRefused, match="its secret was not kept"):
        verify(token((old.sid, "s" * 32), desk["ws"], desk["alice"]), services.store)
    # It still authenticates REST calls, as before.
    with TestClient(app, base_url="http://testserver") as http:
        assert http.get("/v1/Workspaces", auth=(old.sid, "s" * 32)).status_code == 200


def test_a_new_key_authenticates_rest_calls_too(
    services: Services, key: tuple[str, str], http: TestClient
) -> None:
    assert http.get("/v1/Workspaces", auth=key).status_code == 200
    assert http.get("/v1/Workspaces", auth=(key[0], "wrong")).status_code == 401


def test_a_secret_sealed_under_another_server_secret_is_refused_clearly(
    services: Services, key: tuple[str, str], desk: dict[str, str]
) -> None:
    jwt = token(key, desk["ws"], desk["alice"])
    services.store.use_server_secret("a different server secret")
    with pytest.raises(TokenRefused, match="sealed under another SWITCHBOARD_SECRET_KEY"):
        verify(jwt, services.store)


def test_a_worker_token_must_name_its_worker(
    services: Services, key: tuple[str, str], desk: dict[str, str]
) -> None:
    with pytest.raises(TokenRefused, match="must name its worker"):
        verify(token(key, desk["ws"], None), services.store)
    admin = verify(token(key, desk["ws"], None, role="admin"), services.store)
    assert admin.worker_sid is None


def test_the_token_command_prints_a_token_the_server_accepts(
    services: Services, desk: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = services.settings.database_url
    args = ["token", "--workspace", desk["ws"], "--worker", desk["alice"], "--database-url", url]
    assert main([*args, "--ttl", "600"]) == 0
    first = capsys.readouterr().out.strip()
    grant = verify(first, services.store)
    assert (grant.workspace_sid, grant.worker_sid) == (desk["ws"], desk["alice"])
    assert 0 < grant.lifetime_ms() <= 600_000
    # The second token is signed by the same key: none is made per call.
    assert main(args) == 0
    assert verify(capsys.readouterr().out.strip(), services.store).key_sid == grant.key_sid


def test_the_token_command_refuses_an_unknown_worker(
    services: Services, desk: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = services.settings.database_url
    missing = "WK" + "0" * 32
    args = ["token", "--workspace", desk["ws"], "--worker", missing, "--database-url", url]
    assert main(args) == 2
    assert f"worker {missing} does not exist" in capsys.readouterr().err


# -- the gateway ----------------------------------------------------------------------------


def test_the_gateway_answers_in_the_sdks_shapes(
    http: TestClient, key: tuple[str, str], desk: dict[str, str]
) -> None:
    jwt = token(key, desk["ws"], desk["alice"])
    worker = call(http, jwt, f"Workspaces/{desk['ws']}/Workers/{desk['alice']}")
    assert worker.status_code == 200
    payload = worker.json()["payload"]
    assert payload["sid"] == desk["alice"] and payload["activity_name"] == "Offline"
    assert isinstance(payload["version"], int)
    assert payload["date_created"] == START_MS // 1000
    activities = call(http, jwt, f"Workspaces/{desk['ws']}/Activities", PageSize=1000)
    page = activities.json()["payload"]
    assert page["after_sid"] is None
    assert {a["friendly_name"] for a in page["contents"]} >= {"Offline", "Available"}


def test_a_reservation_comes_with_its_task_and_versions_rise_as_the_sdk_counts_them(
    client: Client, http: TestClient, key: tuple[str, str], desk: dict[str, str]
) -> None:
    """Accepting gives the reservation a new version, not the task: the SDK keeps the task
    it holds when it accepts, and completes it next with that version."""
    task_sid, reservation_sid = offer_to_bob(client, desk)
    jwt = token(key, desk["ws"], desk["bob"])
    url = f"Workspaces/{desk['ws']}/Workers/{desk['bob']}/Reservations"
    active = call(http, jwt, url, Active="true", PageSize=1000).json()["payload"]
    (listed,) = active["contents"]
    assert listed["sid"] == reservation_sid and listed["task"]["sid"] == task_sid
    assert listed["task"]["attributes"] == '{"customer": "Ada"}'
    assert listed["task"]["queue_name"] == "Everyone"
    accepted = call(http, jwt, f"{url}/{reservation_sid}", "POST", ReservationStatus="accepted")
    assert accepted.status_code == 200
    payload = accepted.json()["payload"]
    assert payload["reservation_status"] == "accepted"
    assert payload["task"]["assignment_status"] == "assigned"
    assert payload["version"] > listed["version"]
    assert payload["task"]["version"] == listed["task"]["version"]
    tasks = f"Workspaces/{desk['ws']}/Tasks/{task_sid}"
    version = str(listed["task"]["version"])
    done = call(http, jwt, tasks, "POST", if_match=version, AssignmentStatus="completed")
    assert done.status_code == 200
    assert done.json()["payload"]["version"] > listed["task"]["version"]


def test_a_worker_token_acts_only_on_its_own_worker_reservations_and_tasks(
    client: Client, http: TestClient, key: tuple[str, str], desk: dict[str, str]
) -> None:
    task_sid, reservation_sid = offer_to_bob(client, desk)
    alice = token(key, desk["ws"], desk["alice"])
    ws = f"Workspaces/{desk['ws']}"
    answers = [
        call(http, alice, f"{ws}/Workers/{desk['bob']}/Reservations/{reservation_sid}", "POST",
             ReservationStatus="accepted"),
        call(http, alice, f"{ws}/Tasks/{task_sid}", "POST", AssignmentStatus="canceled"),
        call(http, alice, f"{ws}/Workers/{desk['bob']}", "POST", ActivitySid=desk["available"]),
        call(http, alice, f"{ws}/Workers"),
    ]  # fmt: skip
    for answer in answers:
        assert answer.status_code == 403
        assert "acts only on its own worker" in answer.json()["message"]
    # Nothing happened: the reservation still waits for bob.
    status = client.taskrouter.v1.workspaces(desk["ws"]).tasks(task_sid).fetch()
    assert status.assignment_status == "reserved"
    # Bob may; so may a supervisor, across the workspace.
    supervisor = token(key, desk["ws"], desk["alice"], role="supervisor")
    assert call(http, supervisor, f"{ws}/Workers/{desk['bob']}").status_code == 200
    assert call(http, supervisor, f"{ws}/Workers").json()["payload"]["contents"]
    bob = token(key, desk["ws"], desk["bob"])
    assert call(http, bob, f"{ws}/Tasks/{task_sid}").json()["payload"]["sid"] == task_sid


def test_a_stale_version_is_refused_as_the_rest_api_refuses_it(
    http: TestClient, key: tuple[str, str], desk: dict[str, str]
) -> None:
    """The SDK's `enableVersionCheck` sends If-Match with the version it holds."""
    jwt = token(key, desk["ws"], desk["alice"])
    me = f"Workspaces/{desk['ws']}/Workers/{desk['alice']}"
    version = str(call(http, jwt, me).json()["payload"]["version"])
    stale = call(http, jwt, me, "POST", if_match=str(int(version) + 7), Attributes={"a": 1})
    assert stale.status_code == 412
    assert stale.json()["message"]
    current = call(http, jwt, me, "POST", if_match=version, Attributes={"a": 1})
    assert current.status_code == 200
    payload = current.json()["payload"]
    assert json.loads(payload["attributes"]) == {"a": 1}
    assert payload["version"] > int(version)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("not json", 400, "not JSON"),
        ('["a list"]', 400, "not a JSON object"),
        ('{"url": "Workspaces/WS/Workers"}', 401, "carries no token"),
        ('{"url": "x", "token": "not-a-jwt"}', 401, "Access Token refused: the token is not a JWT"),
    ],
)  # fmt: skip
def test_a_bad_gateway_request_gets_a_message(
    http: TestClient, body: str, status: int, message: str
) -> None:
    answer = http.post(PATH, content=body, headers={"content-type": "text/plain"})
    assert answer.status_code == status
    assert message in answer.json()["message"]


def test_the_gateway_refuses_what_the_token_does_not_grant_or_it_cannot_do(
    http: TestClient, key: tuple[str, str], desk: dict[str, str]
) -> None:
    jwt = token(key, desk["ws"], desk["alice"])
    ws, me = f"Workspaces/{desk['ws']}", f"Workspaces/{desk['ws']}/Workers/{desk['alice']}"
    other = call(http, jwt, f"Workspaces/WS{'0' * 32}/Workers/{desk['alice']}")
    assert other.status_code == 403 and "the token grants workspace" in other.json()["message"]
    hold = call(http, jwt, f"{me}/HoldWorkerParticipant", "POST", Hold=True)
    assert hold.status_code == 400 and "telephone conference" in hold.json()["message"]
    transfer = call(http, jwt, f"{me}/Transfers", "POST", To=desk["bob"])
    assert transfer.status_code == 400 and "TaskSid" in transfer.json()["message"]
    unknown = call(http, jwt, f"{ws}/Nothing")
    assert unknown.status_code == 404
    # The REST API's own validation and message come through.
    bad = call(http, jwt, me, "POST", ActivitySid="WA" + "0" * 32)
    assert bad.status_code == 400, bad.json()
    assert bad.json()["message"]


def test_cors_follows_the_configured_origins(tmp_path: Any) -> None:
    services = make_services(tmp_path, allowed_origins="https://desk.example.com")
    app = create_app(services.settings, services=services)
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "apiversion,clientversion,content-type",
    }
    with TestClient(app) as http:
        allowed = http.options(PATH, headers={"origin": "https://desk.example.com", **preflight})
        refused = http.options(PATH, headers={"origin": "https://evil.example", **preflight})
    services.store.close()
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://desk.example.com"
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_any_origin_may_call_a_manual_clock_server(http: TestClient) -> None:
    answer = http.options(
        PATH,
        headers={"origin": "http://localhost:3000", "access-control-request-method": "POST",
                 "access-control-request-headers": "apiversion"},
    )  # fmt: skip
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"


# -- the websocket and push -----------------------------------------------------------------


@pytest.fixture
def quick(tmp_path: Any) -> Any:
    """An app whose sockets beat every second, so a test waiting for a frame that never
    comes ends (see `frames`) instead of hanging."""
    services = make_services(tmp_path, heartbeat_seconds=1)
    with TestClient(create_app(services.settings, services=services)) as http:
        http.auth = (ACCOUNT_SID, AUTH_TOKEN)
        yield services, http
    services.store.close()


def test_a_socket_opens_with_init_and_receives_its_workers_events_in_order(quick: Any) -> None:
    services, http = quick
    client = sdk_client(InProcessHttpClient(http.app), "http://testserver")
    key = services.engine.accounts.create_api_key(ACCOUNT_SID, "desk")
    desk = make_desk(client)
    jwt = token((key[0].sid, key[1]), desk["ws"], desk["bob"])
    with http.websocket_connect(f"{PATH}?token={jwt}&closeExistingSessions=false") as socket:
        (init,) = frames(socket, 1)
        assert init["event_type"] == "init"
        assert init["payload"]["channel_id"] == desk["bob"]
        assert init["payload"]["workspace_sid"] == desk["ws"]
        assert init["payload"]["token_lifetime"] > 0
        # Someone else's change: not pushed here.
        client.taskrouter.v1.workspaces(desk["ws"]).workers(desk["alice"]).update(
            attributes='{"team": "b"}'
        )
        task_sid, reservation_sid = offer_to_bob(client, desk)
        client.taskrouter.v1.workspaces(desk["ws"]).workers(desk["bob"]).reservations(
            reservation_sid
        ).update(reservation_status="accepted")
        client.taskrouter.v1.workspaces(desk["ws"]).tasks(task_sid).update(
            assignment_status="completed", reason="done"
        )
        pushed = frames(socket, 5)
    kinds = [f["event_type"] for f in pushed]
    assert kinds == [
        "worker.activity.update",
        "reservation.created",
        "reservation.accepted",
        "task.completed",
        "reservation.completed",
    ]
    assert pushed[0]["payload"]["sid"] == desk["bob"]
    assert pushed[0]["payload"]["activity_name"] == "Available"
    assert pushed[1]["payload"]["sid"] == reservation_sid
    assert pushed[1]["payload"]["task"]["sid"] == task_sid
    assert {"task.completed", "reservation.completed"} <= set(kinds)


class Noting:
    """The app, noting in order the gateway's answers it sends and the frames it pushes."""

    def __init__(self, app: Any) -> None:
        self.app, self.noted = app, list[str]()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def noting(message: Any) -> None:
            if message["type"] == "http.response.body" and scope["path"] == PATH:
                self.noted.append("answer")
            elif message["type"] == "websocket.send" and message.get("text", "").strip():
                self.noted.append(json.loads(message["text"])["event_type"])
            await send(message)

        await self.app(scope, receive, noting)


def test_a_change_is_answered_before_its_pushes_reach_the_callers_socket(tmp_path: Any) -> None:
    """The SDK reads a call's answer as coming before the events the call caused: the answer
    of Task.transfer() replaces the OutgoingTransfer that the transfer's first pushes made and
    `transferInitiated` gave. The caller's sockets hold their pushes until the answer is out."""
    services = make_services(tmp_path, heartbeat_seconds=1)
    app = Noting(create_app(services.settings, services=services))
    try:
        with TestClient(app) as http:
            http.auth = (ACCOUNT_SID, AUTH_TOKEN)
            client = sdk_client(InProcessHttpClient(http.app), "http://testserver")
            key = services.engine.accounts.create_api_key(ACCOUNT_SID, "desk")
            desk = make_desk(client)
            jwt = token((key[0].sid, key[1]), desk["ws"], desk["bob"])
            with http.websocket_connect(f"{PATH}?token={jwt}") as socket:
                task_sid, reservation_sid = offer_to_bob(client, desk)
                assert len(frames(socket, 3)) == 3  # init, Available, the offer
                url = f"/Workspaces/{desk['ws']}/Workers/{desk['bob']}"
                accepted = call(http, jwt, f"{url}/Reservations/{reservation_sid}", "POST",
                                ReservationStatus="accepted")  # fmt: skip
                assert accepted.status_code == 200
                make_available(client, desk, "alice")
                transferred = call(http, jwt, f"{url}/Transfers", "POST", TaskSid=task_sid,
                                   ReservationSid=reservation_sid, To=desk["alice"],
                                   Mode="COLD")  # fmt: skip
                assert transferred.status_code == 200
                assert len(frames(socket, 3)) == 3
    finally:
        services.store.close()
    assert app.noted == [
        "init", "worker.activity.update", "reservation.created",
        "answer", "reservation.accepted",
        "answer", "reservation.wrapup", "task.transfer-initiated",
    ]  # fmt: skip


def test_a_direct_task_its_worker_could_not_take_in_time_is_pushed_as_failed(
    quick: Any,
) -> None:
    """The SDK's `Worker.createTask` routes to the worker itself; when the worker cannot be
    offered it in time, its socket hears `reservation.failed` with the task."""
    services, http = quick
    client = sdk_client(InProcessHttpClient(http.app), "http://testserver")
    key = services.engine.accounts.create_api_key(ACCOUNT_SID, "desk")
    desk = make_desk(client)
    ws = client.taskrouter.v1.workspaces(desk["ws"])
    (queue,) = ws.task_queues.list()
    jwt = token((key[0].sid, key[1]), desk["ws"], desk["bob"])
    with http.websocket_connect(f"{PATH}?token={jwt}") as socket:
        assert frames(socket, 1)[0]["event_type"] == "init"
        # Bob is offline: the task waits for him, then its time to be offered runs out.
        task = ws.tasks.create(
            workflow_sid=desk["workflow"], task_queue_sid=queue.sid,
            routing_target=desk["bob"], ignore_capacity="false",
        )  # fmt: skip
        services.clock.advance_ms(121_000)
        services.engine.deadlines.tick()
        (failed,) = frames(socket, 1)
    assert failed["event_type"] == "reservation.failed"
    assert failed["payload"]["sid"] == task.sid
    assert failed["payload"]["assignment_status"] == "canceled"
    assert failed["payload"]["routing_target"] == desk["bob"]


def test_a_refused_socket_is_closed_with_the_reason(
    http: TestClient, key: tuple[str, str], desk: dict[str, str]
) -> None:
    forged = token((key[0], "x" * 32), desk["ws"], desk["alice"])
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        http.websocket_connect(f"{PATH}?token={forged}") as socket,
    ):
        socket.receive_text()
    assert closed.value.code == 1008
    assert "signature does not match" in closed.value.reason


def test_a_client_that_falls_behind_is_ended_not_waited_for() -> None:
    grant = Grant(ACCOUNT_SID, "WS" + "1" * 32, "WK" + "1" * 32, "worker", "SK" + "1" * 32, 0)

    session = Session(grant, queue_limit=2)
    for n in range(3):
        session.offer(f"frame {n}")
    # Its queue held two frames; the third ended the session instead of growing the queue.
    assert session.ending is not None and session.ending[0] == TOO_SLOW


def test_a_held_session_sends_what_is_pushed_once_released() -> None:
    grant = Grant(ACCOUNT_SID, "WS" + "1" * 32, "WK" + "1" * 32, "worker", "SK" + "1" * 32, 0)
    sent: list[str] = []

    async def send(message: Any) -> None:
        sent.append(message["text"])

    async def run() -> None:
        session = Session(grant, queue_limit=10, send=send)
        held = Held((session,))
        session.offer("pushed while held")
        await asyncio.sleep(0)
        assert sent == []
        held.release()
        for _ in range(100):  # the sending task's turns
            await asyncio.sleep(0)

    asyncio.run(run())
    assert sent == ["pushed while held"]


def test_a_change_committed_by_one_server_reaches_a_socket_held_by_another(
    pg_schema: str,
) -> None:
    """Two servers on one PostgreSQL database: a task made through the first is offered on a
    socket held by the second, woken by the database's notification (its fallback poll is
    put off for an hour, and its socket's heartbeats end the wait after three seconds)."""
    servers = []
    for _ in range(2):
        settings = Settings(database_url=POSTGRES_URL, clock="manual", heartbeat_seconds=1)
        store = Store.open(POSTGRES_URL, schema=pg_schema)
        services = build_services(settings, store=store, clock=ManualClock(START_MS))
        services.engine.accounts.ensure_account(ACCOUNT_SID, AUTH_TOKEN)
        servers.append(services)
    with two_servers(*servers) as both:
        realtime = both.two.app.state.realtime  # type: ignore[attr-defined]
        realtime.fanout.poll_s = 3600.0
        eventually(realtime.listener.listening.is_set, what="the listener listens")
        with both.two.websocket_connect(f"{PATH}?token={both.jwt}") as socket:
            assert frames(socket, 1)[0]["event_type"] == "init"
            task_sid, reservation_sid = offer_to_bob(both.client, both.desk)
            pushed = frames(socket, 2)
        assert [f["event_type"] for f in pushed] == [
            "worker.activity.update", "reservation.created",
        ]  # fmt: skip
        assert pushed[1]["payload"]["sid"] == reservation_sid
        assert pushed[1]["payload"]["task"]["sid"] == task_sid


def test_the_listener_hears_commits_again_after_the_database_comes_back(
    pg_schema: str,
) -> None:
    """The listening connection is lost in an outage and replaced; once it listens again it
    says so (anything may have been committed meanwhile) and hears the next commits."""
    target = urlparse(POSTGRES_URL)

    async def scenario(proxy: TcpProxy, store: Store) -> None:
        heard: list[str | None] = []
        listener = store.listen_for_events(heard.append)
        assert listener is not None
        listener.start()
        try:
            await eventually_async(lambda: heard == [None], what="listening")
            proxy.cut()
            await eventually_async(lambda: not listener.listening.is_set(), what="the loss noticed")
            proxy.restore()
            await eventually_async(lambda: heard == [None, None], what="listening again")
            with psycopg.connect(POSTGRES_URL, autocommit=True) as other:
                other.execute("SELECT pg_notify(%s, %s)", (store.db.events_channel, "WS1"))
            await eventually_async(lambda: heard == [None, None, "WS1"], what="the commit")
        finally:
            await listener.close()

    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        url = target._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        store = Store.open(url, schema=pg_schema)
        try:
            asyncio.run(scenario(proxy, store))
        finally:
            store.close()
