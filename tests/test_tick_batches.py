"""A tick's batch of many deadlines, on SQLite and on PostgreSQL, where the batch is pipelined
and what it has written is sent ahead every SEND_EVERY deadlines: every reservation times out
once, its worker goes to the timeout activity, its task is offered again, and every change's
events are written once each, in order."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.app import Services, create_app
from switchboard.engine.deadlines import SEND_EVERY
from switchboard.storage import Store
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    POSTGRES_URL,
    InProcessHttpClient,
    add_workspace,
    channel,
    eventually,
    pending_task,
    schema_url,
    sdk_client,
)

TASKS = SEND_EVERY + 50
SPARE_WORKERS = 20


@pytest.mark.both_databases
def test_a_batch_of_timeouts_is_processed_once_each(services: Services) -> None:
    app = create_app(services.settings, services=services)
    with TestClient(app, base_url="http://testserver") as http:
        http.auth = (ACCOUNT_SID, AUTH_TOKEN)
        client: Client = sdk_client(InProcessHttpClient(app), "http://testserver")
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Batch")
        tr = client.taskrouter.v1.workspaces(ws.sid)
        available = next(a for a in tr.activities.list() if a.friendly_name == "Available")
        for i in range(TASKS + SPARE_WORKERS):
            tr.workers.create(friendly_name=f"w{i}", activity_sid=available.sid)
        queue = tr.task_queues.create(friendly_name="All", target_workers="1 == 1")
        config = {"task_routing": {"filters": [], "default_filter": {"queue": queue.sid}}}
        flow = tr.workflows.create(friendly_name="Flow", configuration=json.dumps(config))
        tasks = [tr.tasks.create(attributes="{}", workflow_sid=flow.sid).sid for _ in range(TASKS)]
        first = {t: tr.tasks(t).reservations.list()[0] for t in tasks[:SPARE_WORKERS]}

        answer = http.post("/switchboard/clock", data={"AdvanceSeconds": "121"})
        assert answer.status_code == 200 and answer.json()["processed"] == TASKS

        for task_sid, offer in first.items():
            reservations = tr.tasks(task_sid).reservations.list()
            assert offer.sid in [r.sid for r in reservations]
            assert tr.tasks(task_sid).reservations(offer.sid).fetch().reservation_status == (
                "timeout"
            )
        statuses = Counter(tr.tasks(t).fetch().assignment_status for t in tasks)
        # The spare workers take a task each; the timed-out workers are no longer available.
        assert statuses == {"reserved": SPARE_WORKERS, "pending": TASKS - SPARE_WORKERS}
        busy = Counter(w.activity_name for w in tr.workers.list())
        assert busy["Offline"] == TASKS and busy["Available"] == SPARE_WORKERS

    events = services.store.events.in_order(ws.sid, limit=100_000)
    places = Counter((e.seq, e.ordinal) for e in events)
    assert max(places.values()) == 1  # each event written once
    timeouts = [e for e in events if e.event_type == "reservation.timeout"]
    assert len(timeouts) == TASKS and len({e.reservation_sid for e in timeouts}) == TASKS
    shown: dict[str, Any] = timeouts[-1].event_data()
    assert shown["task_attributes"] == "{}" and shown["worker_attributes"] == "{}"
    by_change = Counter(e.seq for e in timeouts)
    for seq in by_change:  # ordinals of a change run 0, 1, 2, ... without gaps
        ordinals = sorted(e.ordinal for e in events if e.seq == seq)
        assert ordinals == list(range(len(ordinals)))


def _locked(url: str, task_sid: str) -> bool:
    """Whether another session finds the task's row locked: an UPDATE of it has run."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute("SELECT sid FROM tasks WHERE sid = %s FOR UPDATE NOWAIT", (task_sid,))
        except psycopg.errors.LockNotAvailable:
            return True
    return False


def test_rows_sent_ahead_are_stored_while_the_batch_goes_on(pg_schema: str) -> None:
    """What the burst of timeouts overlaps with the engine's work: a batch's rows sent ahead
    reach PostgreSQL and run before the batch commits, not only with its COMMIT."""
    url = schema_url(pg_schema)
    store = Store.open(POSTGRES_URL, schema=pg_schema)
    try:
        ws = add_workspace(store)
        voice = channel(ws, "voice")
        task = pending_task(ws, voice.sid)
        with store.write(ws.sid) as seq:
            store.insert_task_channel(voice, seq)
            store.tasks.insert(task, seq)
        with store.write(ws.sid, batch=True) as seq:
            store.tasks.update(dataclasses.replace(task, priority=5), seq, before=task)
            assert store.send_ahead([])
            eventually(lambda: _locked(url, task.sid), what="the sent-ahead UPDATE to run")
        stored = store.tasks.get(ws.sid, task.sid)
        assert stored is not None and stored.priority == 5
    finally:
        store.close()
