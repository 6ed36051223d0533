"""Two `switchboard` processes serving one PostgreSQL database.

Both take task creates, accepts, rejects, completions and activity changes at once; afterwards
the database must hold no broken invariant and nothing acknowledged may be missing. Then the
process that runs the deadline tick is stopped and the other must take the tick over.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import psycopg
import pytest

from switchboard.engine import Engine
from switchboard.models import OPEN_RESERVATION_STATUSES
from switchboard.storage import Store
from switchboard.timers import SystemClock
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    POSTGRES_URL,
    drop_schema,
    eventually,
    free_port,
    new_schema_name,
    schema_url,
)

# Two server processes and a timed load run: the slowest module of the suite.
pytestmark = pytest.mark.slow

AUTH = (ACCOUNT_SID, AUTH_TOKEN)
WORKERS = 12
RUN_SECONDS = 6.0


@dataclass
class Deployment:
    url: str
    schema: str
    workspace: str
    workflow: str
    available: str
    unavailable: str
    workers: list[str]
    servers: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)


def _seed(url: str, schema: str) -> Deployment:
    store = Store.open(url)
    try:
        engine = Engine(store, SystemClock())
        engine.accounts.ensure_account(ACCOUNT_SID, AUTH_TOKEN)
        ws = engine.workspaces.create_workspace(ACCOUNT_SID, friendly_name="two processes")
        activities = {a.friendly_name: a.sid for a in store.list_activities(ws.sid)}
        queue = engine.task_queues.create_task_queue(
            ws.sid, friendly_name="everyone", target_workers="1==1"
        )
        workflow = engine.workflows.create_workflow(
            ws.sid,
            friendly_name="all",
            configuration=json.dumps({"task_routing": {"default_filter": {"queue": queue.sid}}}),
            task_reservation_timeout=2,
        )
        workers = [
            engine.workers.create_worker(
                ws.sid,
                friendly_name=f"agent{i}",
                activity_sid=activities["Available"],
                attributes="{}",
            ).sid
            for i in range(WORKERS)
        ]
    finally:
        store.close()
    return Deployment(
        url,
        schema,
        ws.sid,
        workflow.sid,
        activities["Available"],
        activities["Unavailable"],
        workers,
    )


def _launch(deployment: Deployment) -> None:
    """Start one more server process; it is recorded at once, so the fixture stops it even
    when it never becomes ready."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "switchboard",
            "--port",
            str(port),
            "--database-url",
            deployment.url,
            "--account-sid",
            ACCOUNT_SID,
            "--auth-token",
            AUTH_TOKEN,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "SWITCHBOARD_LOG_LEVEL": "warning"},
    )
    deployment.processes.append(process)
    deployment.servers.append(f"http://127.0.0.1:{port}")


def _ready(process: subprocess.Popen[bytes], base: str) -> bool:
    if process.poll() is not None:
        raise RuntimeError(
            f"switchboard exited: {process.stderr.read() if process.stderr else ''!r}"
        )
    try:
        return httpx.get(f"{base}/switchboard/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    schema = new_schema_name()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = schema_url(schema)
    deployment = _seed(url, schema)
    try:
        # Both start at once: the schema is migrated already, and which one wins the tick's
        # leadership is for the tests to find out.
        _launch(deployment)
        _launch(deployment)
        for process, base in zip(deployment.processes, deployment.servers, strict=True):
            eventually(partial(_ready, process, base), timeout=30, what=f"{base} to be ready")
        yield deployment
    finally:
        for process in deployment.processes:
            if process.poll() is None:
                process.terminate()
        for process in deployment.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        drop_schema(schema)


@dataclass
class Ledger:
    """What the servers acknowledged, to check that nothing acknowledged went missing."""

    created: set[str] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _drive(d: Deployment, ledger: Ledger, seed: int, stop_at: float) -> None:
    rng = random.Random(seed)
    ws = f"/v1/Workspaces/{d.workspace}"
    clients = [httpx.Client(base_url=base, auth=AUTH, timeout=10) for base in d.servers]
    try:
        while time.monotonic() < stop_at:
            client = rng.choice(clients)
            action = rng.random()
            if action < 0.35:
                r = client.post(f"{ws}/Tasks", data={"Attributes": json.dumps({"n": rng.random()})})
                _record(
                    ledger,
                    r,
                    201,
                    ledger.created,
                    r.json().get("sid") if r.status_code == 201 else None,
                )
            elif action < 0.75:
                worker = rng.choice(d.workers)
                r = client.get(
                    f"{ws}/Workers/{worker}/Reservations", params={"ReservationStatus": "pending"}
                )
                if r.status_code != 200:
                    _fail(ledger, r)
                    continue
                for res in r.json()["reservations"][:1]:
                    status = "accepted" if rng.random() < 0.8 else "rejected"
                    data = {"ReservationStatus": status}
                    if status == "rejected":
                        data["WorkerActivitySid"] = d.available
                    u = client.post(f"{ws}/Workers/{worker}/Reservations/{res['sid']}", data=data)
                    if u.status_code == 200 and status == "accepted":
                        with ledger.lock:
                            ledger.accepted.add(res["sid"])
                    elif u.status_code not in (200, 409, 410):
                        _fail(ledger, u)
            elif action < 0.9:
                r = client.get(
                    f"{ws}/Tasks", params={"AssignmentStatus": "assigned", "PageSize": 5}
                )
                if r.status_code != 200:
                    _fail(ledger, r)
                    continue
                for task in r.json()["tasks"][:1]:
                    u = client.post(
                        f"{ws}/Tasks/{task['sid']}",
                        data={"AssignmentStatus": "completed", "Reason": "done"},
                    )
                    if u.status_code == 200:
                        with ledger.lock:
                            ledger.completed.add(task["sid"])
                    elif u.status_code != 400:  # completed meanwhile through the other process
                        _fail(ledger, u)
            else:
                worker = rng.choice(d.workers)
                activity = d.available if rng.random() < 0.7 else d.unavailable
                r = client.post(f"{ws}/Workers/{worker}", data={"ActivitySid": activity})
                if r.status_code != 200:
                    _fail(ledger, r)
    finally:
        for client in clients:
            client.close()


def _record(
    ledger: Ledger, r: httpx.Response, status: int, into: set[str], sid: str | None
) -> None:
    if r.status_code != status or sid is None:
        _fail(ledger, r)
        return
    with ledger.lock:
        into.add(sid)


def _fail(ledger: Ledger, r: httpx.Response) -> None:
    with ledger.lock:
        ledger.errors.append(
            f"{r.request.method} {r.request.url.path} → {r.status_code} {r.text[:200]}"
        )


def _rows(d: Deployment, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(d.url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def test_two_processes_keep_every_invariant(deployment: Deployment) -> None:
    d = deployment
    ledger = Ledger()
    stop_at = time.monotonic() + RUN_SECONDS
    threads = [
        threading.Thread(target=_drive, args=(d, ledger, seed, stop_at)) for seed in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RUN_SECONDS + 60)
    assert not ledger.errors, ledger.errors[:10]
    assert ledger.created and ledger.accepted, "the load did not exercise creates and accepts"

    tasks = {row[0]: row[1] for row in _rows(d, "SELECT sid, assignment_status FROM tasks")}
    # Nothing acknowledged is lost.
    assert ledger.created <= set(tasks)
    reservations = _rows(
        d,
        "SELECT sid, task_sid, worker_sid, task_channel_sid, reservation_status, timeout_deadline"
        " FROM reservations",
    )
    status_of = {r[0]: r[4] for r in reservations}
    assert all(status_of[sid] in ("accepted", "wrapping", "completed") for sid in ledger.accepted)
    assert all(tasks[sid] == "completed" for sid in ledger.completed)

    # No task with two accepted reservations.
    accepted_per_task: dict[str, int] = {}
    for _, task_sid, _, _, status, _ in reservations:
        if status in ("accepted", "wrapping", "completed"):
            accepted_per_task[task_sid] = accepted_per_task.get(task_sid, 0) + 1
    assert max(accepted_per_task.values(), default=0) <= 1

    # No worker above its capacity on any channel.
    capacity = {
        (w, c): cap
        for w, c, cap in _rows(
            d, "SELECT worker_sid, task_channel_sid, configured_capacity FROM worker_channels"
        )
    }
    load: dict[tuple[str, str], int] = {}
    open_statuses = {s.value for s in OPEN_RESERVATION_STATUSES}
    for _, _, worker, channel, status, _ in reservations:
        if status in open_statuses:
            load[(worker, channel)] = load.get((worker, channel), 0) + 1
    assert all(n <= capacity[key] for key, n in load.items()), load

    # Every pending reservation has a deadline; a task is reserved exactly while it has one.
    assert all(r[5] is not None for r in reservations if r[4] == "pending")
    pending_tasks = {r[1] for r in reservations if r[4] == "pending"}
    assert {sid for sid, status in tasks.items() if status == "reserved"} == pending_tasks

    # No reservation was ever created for a worker who was not available at that moment.
    available = {sid for (sid,) in _rows(d, "SELECT sid FROM activities WHERE available = 1")}
    created = _rows(d, "SELECT data FROM events WHERE event_type = 'reservation.created'")
    assert created
    assert all(json.loads(data)["worker_activity_sid"] in available for (data,) in created)


def test_the_tick_moves_to_the_other_process(deployment: Deployment) -> None:
    d = deployment

    def leaders() -> list[bool]:
        return [httpx.get(f"{base}/switchboard/health").json()["tick_leader"] for base in d.servers]

    # Leadership is won on the tick loop's first look after its lock connection opens.
    eventually(lambda: sorted(leaders()) == [False, True], what="exactly one tick leader")
    leaders_now = leaders()
    assert sorted(leaders_now) == [False, True], "exactly one process runs the tick"
    leader = leaders_now.index(True)
    d.processes[leader].send_signal(signal.SIGKILL)
    d.processes[leader].wait(10)
    survivor = d.servers[1 - leader]
    # A reservation that times out (2 s) must still be processed, by the survivor.
    r = httpx.post(
        f"{survivor}/v1/Workspaces/{d.workspace}/Tasks", auth=AUTH, data={"Attributes": "{}"}
    )
    assert r.status_code == 201 and r.json()["assignment_status"] == "reserved"
    task = r.json()["sid"]

    def statuses() -> list[str]:
        sql = "SELECT reservation_status FROM reservations WHERE task_sid = %s"
        return [s for (s,) in _rows(d, sql, task)]

    eventually(lambda: "timeout" in statuses(), what="the reservation to time out")
    assert httpx.get(f"{survivor}/switchboard/health").json()["tick_leader"] is True
