"""Database outages: requests fail fast with a Twilio-shaped 503 and keep nothing, service
returns by itself once the database does, health says which it is, and tick leadership is lost
with its session and won back only through the lock.

PostgreSQL is reached through a TCP proxy the test owns (tests/support/tcp_proxy.py): cutting
it is what a database restart looks like from here (every connection ends, new ones are
refused) without touching the machine's database. SQLite is met locked by another process and full.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import psycopg
import pytest
from starlette.testclient import TestClient
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import build_services, create_app
from switchboard.config import Settings
from switchboard.errors import DatabaseUnavailable
from switchboard.storage import Store
from switchboard.storage.leader import AdvisoryLeader
from switchboard.storage.migrate import migrate
from switchboard.storage.sqlite import SQLiteDatabase
from switchboard.timers import ManualClock
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    POSTGRES_URL,
    START_MS,
    InProcessHttpClient,
    sdk_client,
)
from tests.support.tcp_proxy import TcpProxy

T = TypeVar("T")

# How long a test waits for service to come back. Not a measure of speed (the reconnect
# backoff tops at half a second): a bound, so a process that never recovers fails the test.
RECOVERY_BOUND_SECONDS = 20.0


def eventually(attempt: Callable[[], T]) -> T:
    """`attempt()`'s result once it stops raising, within RECOVERY_BOUND_SECONDS."""
    deadline = time.monotonic() + RECOVERY_BOUND_SECONDS
    while True:
        try:
            return attempt()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def assert_unavailable(response: Any) -> None:
    """Twilio's shape for a 503, and a hint of when to come back."""
    assert response.status_code == 503, response.text
    body = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["code"] == 20503 and body["status"] == 503
    assert body["more_info"] == "https://www.twilio.com/docs/errors/20503"
    assert int(response.headers["Retry-After"]) >= 1


def assert_sdk_unavailable(call: Callable[[], object]) -> None:
    with pytest.raises(TwilioRestException) as raised:
        call()
    assert raised.value.status == 503 and raised.value.code == 20503


# -- PostgreSQL behind a proxy ---------------------------------------------------------------


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    target = urlparse(POSTGRES_URL)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        yield proxy


def through(proxy: TcpProxy) -> str:
    """POSTGRES_URL with its host and port replaced by the proxy's."""
    target = urlparse(POSTGRES_URL)
    return target._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()


@pytest.fixture
def pg_services(proxy: TcpProxy, pg_schema: str) -> Iterator[Services]:
    url = through(proxy)
    settings = Settings(database_url=url, clock="manual")
    store = Store.open(url, schema=pg_schema)
    services = build_services(settings, store=store, clock=ManualClock(START_MS))
    services.engine.accounts.ensure_account(ACCOUNT_SID, AUTH_TOKEN)
    yield services
    store.close()


@pytest.fixture
def pg_http(pg_services: Services) -> Iterator[TestClient]:
    app = create_app(pg_services.settings, services=pg_services)
    with TestClient(app, base_url="http://testserver") as http:
        http.auth = (ACCOUNT_SID, AUTH_TOKEN)
        yield http


@pytest.fixture
def pg_client(pg_http: TestClient) -> Client:
    return sdk_client(InProcessHttpClient(pg_http.app), "http://testserver")


def test_an_outage_is_a_503_at_once_and_service_returns_by_itself(
    proxy: TcpProxy, pg_http: TestClient, pg_client: Client
) -> None:
    ws = pg_client.taskrouter.v1.workspaces.create(friendly_name="outage")
    workers = pg_client.taskrouter.v1.workspaces(ws.sid).workers
    alice = workers.create(friendly_name="alice")
    assert pg_http.get("/switchboard/health").status_code == 200

    proxy.cut()
    assert_sdk_unavailable(lambda: workers(alice.sid).fetch())
    assert_sdk_unavailable(lambda: workers.create(friendly_name="bob"))
    assert_unavailable(pg_http.get(f"/v1/Workspaces/{ws.sid}/Workers/{alice.sid}"))
    health = pg_http.get("/switchboard/health")
    assert health.status_code == 503
    assert health.json()["details"]["status"] == "unavailable"
    assert health.json()["details"]["database"]["reachable"] is False
    assert health.json()["details"]["database"]["error"]

    proxy.restore()
    assert eventually(lambda: workers(alice.sid).fetch()).friendly_name == "alice"
    workers.create(friendly_name="bob")
    assert sorted(w.friendly_name for w in workers.list()) == ["alice", "bob"]
    health = pg_http.get("/switchboard/health")
    assert health.status_code == 200
    assert health.json()["database"] == {
        "reachable": True,
        "error": None,
        "unreachable_since": None,
    }


def test_a_restart_slept_through_costs_no_request(proxy: TcpProxy, pg_client: Client) -> None:
    """The connections die while nobody uses them: the next read and the next write find
    their connection gone before sending anything, reconnect at once and go on."""
    ws = pg_client.taskrouter.v1.workspaces.create(friendly_name="idle")
    before = proxy.accepted
    proxy.cut()
    proxy.restore()
    assert pg_client.taskrouter.v1.workspaces(ws.sid).fetch().friendly_name == "idle"
    proxy.cut()
    proxy.restore()
    pg_client.taskrouter.v1.workspaces(ws.sid).workers.create(friendly_name="carol")
    assert proxy.accepted > before  # it did reconnect


def test_health_answers_when_the_database_leaves_a_connection_unanswered(
    proxy: TcpProxy, pg_http: TestClient
) -> None:
    """The probe needs a new connection and the database never answers it (a firewall that
    drops new connections): health does not wait for the probe's own connect timeout but
    answers 503 once the probe has had its time, and 200 when the database answers again."""
    proxy.stall()
    try:
        health = pg_http.get("/switchboard/health")
        assert health.status_code == 503
        assert "did not answer" in health.json()["details"]["database"]["error"]
    finally:
        proxy.restore()
    eventually(lambda: _must(pg_http.get("/switchboard/health").status_code == 200))


def test_a_session_the_database_ends_is_replaced(pg_services: Services, pg_client: Client) -> None:
    """What a restart sends every session (FATAL 57P01, terminating connection due to
    administrator command), here to the server's own session alone."""
    ws = pg_client.taskrouter.v1.workspaces.create(friendly_name="terminated")
    (pid,) = pg_services.store.db.fetchone("SELECT pg_backend_pid()") or (None,)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert pg_client.taskrouter.v1.workspaces(ws.sid).fetch().friendly_name == "terminated"
    (again,) = pg_services.store.db.fetchone("SELECT pg_backend_pid()") or (None,)
    assert again != pid


def test_a_write_cut_before_its_commit_keeps_nothing_and_the_index_follows(
    proxy: TcpProxy, pg_services: Services, pg_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection dies after the write's rows and events are sent, as it COMMITs: the
    answer is a 503 saying the outcome is unknown, the database kept nothing, and the routing
    index, changed in the write, is rebuilt from the database rather than trusted."""
    ws = pg_client.taskrouter.v1.workspaces.create(friendly_name="half")
    workers = pg_client.taskrouter.v1.workspaces(ws.sid).workers
    store, db = pg_services.store, pg_services.store.db.inner
    insert_events, flush = store.events.insert, db._release  # type: ignore[attr-defined]
    armed: list[bool] = []

    def insert_events_then_arm(events: Any) -> None:
        insert_events(events)
        armed.append(True)  # the write's last statement: next comes its final flush

    def flush_then_cut() -> None:
        flush()
        if armed:
            proxy.cut()

    monkeypatch.setattr(store.events, "insert", insert_events_then_arm)
    monkeypatch.setattr(db, "_release", flush_then_cut)
    with pytest.raises(TwilioRestException) as raised:
        workers.create(friendly_name="dave")
    assert raised.value.status == 503 and "may or may not" in raised.value.msg
    monkeypatch.undo()
    proxy.restore()

    assert eventually(lambda: list(workers.list())) == []
    index = pg_services.engine.index(ws.sid)
    assert [w.friendly_name for w in index.workers.values()] == []
    # The name is free, and routing sees the worker written next.
    erin = workers.create(friendly_name="dave")
    assert list(pg_services.engine.index(ws.sid).workers) == [erin.sid]


def test_a_statement_cut_inside_a_write_keeps_nothing(
    proxy: TcpProxy, pg_services: Services
) -> None:
    store = pg_services.store
    ws = pg_services.engine.workspaces.create_workspace(ACCOUNT_SID, friendly_name="inside")
    seq = store.workspace_change_seq(ws.sid)
    with pytest.raises(DatabaseUnavailable), store.write(ws.sid):
        store.set_meta_once("outage-test", "written")
        proxy.cut()
        store.get_meta("outage-test")
    proxy.restore()
    assert eventually(lambda: store.workspace_change_seq(ws.sid)) == seq
    assert store.get_meta("outage-test") is None


def test_leadership_goes_with_the_session_and_is_won_back_through_the_lock(
    proxy: TcpProxy,
) -> None:
    key = random.randrange(1, 2**31)  # not the deployments' key: they share this database
    leader = AdvisoryLeader(through(proxy), key=key)
    try:
        assert eventually(lambda: _leads(leader)) is True
        with psycopg.connect(POSTGRES_URL, autocommit=True) as rival:
            assert _try_lock(rival, key) is False  # held by the leader's session

            proxy.cut()
            with pytest.raises(psycopg.OperationalError):
                leader.acquire()  # the tick loop counts it as a failure and does not lead
            # The database freed the lock with the session: another process may lead now.
            assert eventually(lambda: _must(_try_lock(rival, key))) is True
            proxy.restore()
            for _ in range(10):  # reconnected or not, it must not lead while another does
                assert leader.acquire() is False
                time.sleep(0.05)

            rival.execute("SELECT pg_advisory_unlock(%s, hashtext(current_schema()))", (key,))
            assert eventually(lambda: _leads(leader)) is True
    finally:
        leader.release()


def _leads(leader: AdvisoryLeader) -> bool:
    return _must(leader.acquire())


def _must(value: bool) -> bool:
    if not value:
        raise AssertionError("not yet")
    return value


def _try_lock(conn: psycopg.Connection[Any], key: int) -> bool:
    row = conn.execute(
        "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (key,)
    ).fetchone()
    return bool(row and row[0])


# -- SQLite --------------------------------------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[SQLiteDatabase]:
    db = SQLiteDatabase(str(tmp_path / "switchboard.db"), busy_timeout_ms=50)
    migrate(db)
    yield db
    db.close()


@pytest.fixture
def sqlite_services(tmp_path: Path, sqlite_db: SQLiteDatabase) -> Services:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'switchboard.db'}", clock="manual")
    services = build_services(settings, store=Store(sqlite_db), clock=ManualClock(START_MS))
    services.engine.accounts.ensure_account(ACCOUNT_SID, AUTH_TOKEN)
    return services


@pytest.fixture
def sqlite_http(sqlite_services: Services) -> Iterator[TestClient]:
    app = create_app(sqlite_services.settings, services=sqlite_services)
    with TestClient(app, base_url="http://testserver") as http:
        http.auth = (ACCOUNT_SID, AUTH_TOKEN)
        yield http


def test_a_file_another_process_keeps_locked_refuses_writes_with_a_503(
    tmp_path: Path, sqlite_http: TestClient
) -> None:
    ws = sqlite_http.post("/v1/Workspaces", data={"FriendlyName": "locked"}).json()["sid"]
    other = sqlite3.connect(tmp_path / "switchboard.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        assert_unavailable(
            sqlite_http.post(f"/v1/Workspaces/{ws}/Workers", data={"FriendlyName": "frank"})
        )
        assert sqlite_http.get(f"/v1/Workspaces/{ws}").status_code == 200  # reads go on
        assert sqlite_http.get("/switchboard/health").status_code == 200
        other.execute("ROLLBACK")
    finally:
        other.close()
    created = sqlite_http.post(f"/v1/Workspaces/{ws}/Workers", data={"FriendlyName": "frank"})
    assert created.status_code == 201
    workers = sqlite_http.get(f"/v1/Workspaces/{ws}/Workers").json()["workers"]
    assert [w["friendly_name"] for w in workers] == ["frank"]


def test_a_full_file_refuses_the_write_with_a_503_and_keeps_nothing(
    sqlite_db: SQLiteDatabase, sqlite_services: Services, sqlite_http: TestClient
) -> None:
    ws = sqlite_http.post("/v1/Workspaces", data={"FriendlyName": "full"}).json()["sid"]
    pages = sqlite_db.fetchone("PRAGMA page_count")
    assert pages is not None
    sqlite_db.fetchone(f"PRAGMA max_page_count = {pages[0]}")  # the disk is full
    big = '{"notes": "%s"}' % ("x" * 4000)
    created: list[str] = []
    for n in range(500):  # the free pages the file has left go first
        response = sqlite_http.post(
            f"/v1/Workspaces/{ws}/Workers", data={"FriendlyName": f"w{n}", "Attributes": big}
        )
        if response.status_code != 201:
            break
        created.append(response.json()["sid"])
    assert_unavailable(response)
    assert "full" in response.json()["message"]
    listed = sqlite_http.get(f"/v1/Workspaces/{ws}/Workers", params={"PageSize": 1000})
    assert sorted(w["sid"] for w in listed.json()["workers"]) == sorted(created)
    assert sorted(sqlite_services.engine.index(ws).workers) == sorted(created)

    sqlite_db.fetchone("PRAGMA max_page_count = 1073741823")  # space again
    grace = sqlite_http.post(
        f"/v1/Workspaces/{ws}/Workers", data={"FriendlyName": "grace", "Attributes": big}
    )
    assert grace.status_code == 201
    assert grace.json()["sid"] in sqlite_services.engine.index(ws).workers


def test_a_full_file_ends_the_whole_group_and_tells_its_waiters(tmp_path: Path) -> None:
    """SQLite rolls the whole transaction back when the disk fills: the group's earlier
    writes are gone with it, so their waiters are told of the failure, and nothing written
    after it joins a transaction that is no longer there."""
    db = SQLiteDatabase(str(tmp_path / "group.db"))
    try:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        scheduled: list[Callable[[], None]] = []
        db.enable_group_commit(scheduled.append)
        told: list[BaseException | None] = []
        with db.transaction("ws"):
            db.execute("INSERT INTO t (v) VALUES ('first')")
        db.after_commit(told.append)
        pages = db.fetchone("PRAGMA page_count")
        assert pages is not None
        db.fetchone(f"PRAGMA max_page_count = {pages[0]}")
        with pytest.raises(DatabaseUnavailable), db.transaction("ws"):
            db.execute("INSERT INTO t (v) VALUES (?)", ("x" * 100_000,))
        assert len(told) == 1 and isinstance(told[0], DatabaseUnavailable)
        assert not db.group_open
        for commit in scheduled:
            commit()  # the commit the group had asked for finds nothing to do
        with db.transaction("ws"):
            db.execute("INSERT INTO t (v) VALUES ('after')")
        db.disable_group_commit()
        assert db.fetchall("SELECT v FROM t") == [("after",)]
    finally:
        db.close()


class FailingCommits:
    """A SQLite connection whose COMMITs fail as a disk failing to write does (SQLite's
    SQLITE_IOERR_WRITE), everything else passed through."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            error = sqlite3.OperationalError("disk I/O error")
            error.sqlite_errorcode = 778  # type: ignore[attr-defined]
            raise error
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def test_a_group_commit_the_disk_refuses_answers_503_and_keeps_nothing(
    sqlite_db: SQLiteDatabase, sqlite_services: Services, sqlite_http: TestClient
) -> None:
    """The write returned, its answer waits for its group's COMMIT, and the COMMIT fails:
    the answer is the 503 (not a 500: the disk, not the request, is at fault)."""
    ws = sqlite_http.post("/v1/Workspaces", data={"FriendlyName": "io"}).json()["sid"]
    real = sqlite_db._conn  # type: ignore[attr-defined]
    sqlite_db._conn = FailingCommits(real)  # type: ignore[attr-defined]
    try:
        response = sqlite_http.post(f"/v1/Workspaces/{ws}/Workers", data={"FriendlyName": "hal"})
    finally:
        sqlite_db._conn = real  # type: ignore[attr-defined]
    assert_unavailable(response)
    assert "disk I/O error" in response.json()["message"]
    assert sqlite_http.get(f"/v1/Workspaces/{ws}/Workers").json()["workers"] == []
    assert list(sqlite_services.engine.index(ws).workers) == []
