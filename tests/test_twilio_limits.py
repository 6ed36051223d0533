"""`--limits twilio`: Twilio's documented rate limits (429, code 20429) and its task count, so an
app that passes here passes there; off by default for local work.

The rate limiter runs on a clock the test moves, so "a second later" needs no sleep.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.base.exceptions import TwilioException, TwilioRestException

from switchboard import cli
from switchboard.api.context import Services
from switchboard.api.rate_limits import TWILIO_RATES, RateLimits
from switchboard.app import TWILIO_CLOSED_TASK_RETENTION_MS, TWILIO_MAX_TASKS, create_app
from switchboard.engine import Limits
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OTHER_ACCOUNT_SID,
    OTHER_AUTH_TOKEN,
    Body,
    InProcessHttpClient,
    make_services,
    sdk_client,
)


@dataclass
class Seconds:
    now: float = 50.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Server:
    http: TestClient
    services: Services
    clock: Seconds
    ws: str
    app: Any

    def get(self, path: str, auth: tuple[str, str] = (ACCOUNT_SID, AUTH_TOKEN)) -> int:
        return self.http.get(f"/v1/Workspaces/{self.ws}/{path}", auth=auth).status_code


def _server(tmp_path: Path, limits: str) -> Iterator[Server]:
    services = make_services(tmp_path, limits=limits)
    clock = Seconds()
    if limits == "twilio":
        services.rate_limits = RateLimits(TWILIO_RATES, now=clock)
    app = create_app(services.settings, services=services)
    with TestClient(app) as http:
        ws = http.post("/v1/Workspaces", data={"FriendlyName": "L"}, auth=(ACCOUNT_SID, AUTH_TOKEN))
        yield Server(http, services, clock, ws.json()["sid"], app)
    services.store.close()


@pytest.fixture
def twilio(tmp_path: Path) -> Iterator[Server]:
    yield from _server(tmp_path, "twilio")


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Server]:
    yield from _server(tmp_path, "local")


FILTERS = [
    "Tasks?EvaluateTaskAttributes=1%3D%3D1",
    "Workers?TargetWorkersExpression=1%3D%3D1",
    "TaskQueues?EvaluateWorkerAttributes=%7B%7D",
]


@pytest.mark.parametrize("path", FILTERS)
def test_expression_filters_allow_three_a_second(twilio: Server, path: str) -> None:
    assert [twilio.get(path) for _ in range(4)] == [200, 200, 200, 429]
    body = twilio.http.get(
        f"/v1/Workspaces/{twilio.ws}/{path}", auth=(ACCOUNT_SID, AUTH_TOKEN)
    ).json()
    assert (body["code"], body["status"]) == (20429, 429)
    # A third of a second refills one request; a steady 3 a second is never refused.
    twilio.clock.now += 1 / 3
    assert [twilio.get(path) for _ in range(2)] == [200, 429]
    for _ in range(6):
        twilio.clock.now += 1 / 3
        assert twilio.get(path) == 200
    # The same list without the filter is not limited.
    assert twilio.get(path.split("?")[0]) == 200


def test_each_filter_and_each_account_has_its_own_allowance(twilio: Server) -> None:
    for _ in range(3):
        assert twilio.get(FILTERS[0]) == 200
    assert twilio.get(FILTERS[0]) == 429
    assert twilio.get(FILTERS[1]) == 200
    other = twilio.http.post(
        "/v1/Workspaces", data={"FriendlyName": "O"}, auth=(OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN)
    ).json()["sid"]
    path = f"/v1/Workspaces/{other}/{FILTERS[0]}"
    response = twilio.http.get(path, auth=(OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN))
    assert response.status_code == 200


def test_the_sdk_sees_a_429(twilio: Server) -> None:
    client = sdk_client(InProcessHttpClient(twilio.app), "http://testserver")
    queues = client.taskrouter.v1.workspaces(twilio.ws).task_queues
    bulk = queues.bulk_real_time_statistics
    for _ in range(5):
        bulk.create(Body({"QueueSids": ["WQ" + "0" * 32]}))
    with pytest.raises(TwilioRestException) as caught:
        bulk.create(Body({"QueueSids": ["WQ" + "0" * 32]}))
    assert (caught.value.status, caught.value.code) == (429, 20429)
    for _ in range(3):
        queues.list(evaluate_worker_attributes="{}")
    with pytest.raises(TwilioException) as failed:
        queues.list(evaluate_worker_attributes="{}")
    assert failed.value.args[1].status_code == 429


def test_local_limits_allow_any_rate(local: Server) -> None:
    for path in FILTERS:
        assert {local.get(path) for _ in range(20)} == {200}
    assert local.services.engine.core.limits.max_tasks_per_workspace is None


def test_the_task_count(twilio: Server) -> None:
    assert twilio.services.engine.core.limits.max_tasks_per_workspace == TWILIO_MAX_TASKS == 500_000
    # The same check with a count a test can reach.
    twilio.services.engine.core.limits = Limits(max_tasks_per_workspace=2)
    http, auth = twilio.http, (ACCOUNT_SID, AUTH_TOKEN)
    workflow = http.post(
        f"/v1/Workspaces/{twilio.ws}/Workflows",
        data={"FriendlyName": "f", "Configuration": '{"task_routing":{"filters":[]}}'},
        auth=auth,
    )
    assert workflow.status_code == 201, workflow.text
    path = f"/v1/Workspaces/{twilio.ws}/Tasks"
    assert [http.post(path, data={}, auth=auth).status_code for _ in range(2)] == [201, 201]
    refused = http.post(path, data={}, auth=auth)
    assert refused.status_code == 400
    assert refused.json()["code"] == 20001 and "2 tasks" in refused.json()["message"]


def _closed_tasks(server: Server) -> tuple[Any, list[str]]:
    """A workspace's tasks through the SDK: one completed, one canceled, one left open."""
    client = sdk_client(InProcessHttpClient(server.app), "http://testserver")
    ws = client.taskrouter.v1.workspaces(server.ws)
    available = ws.activities.list(friendly_name="Available")[0].sid
    queue = ws.task_queues.create(friendly_name="Q", target_workers="1==1")
    ws.workers.create(friendly_name="alice", activity_sid=available)
    ws.workflows.create(
        friendly_name="F",
        configuration=json.dumps({"task_routing": {"default_filter": {"queue": queue.sid}}}),
    )
    done = ws.tasks.create(attributes="{}")
    (offer,) = ws.tasks(done.sid).reservations.list()
    ws.tasks(done.sid).reservations(offer.sid).update(reservation_status="accepted")
    ws.tasks(done.sid).update(assignment_status="completed", reason="done")
    dropped = ws.tasks.create(attributes="{}")
    ws.tasks(dropped.sid).update(assignment_status="canceled", reason="not needed")
    kept = ws.tasks.create(attributes="{}", timeout=86_400)
    return ws, [done.sid, dropped.sid, kept.sid]


def _advance(server: Server, seconds: int) -> None:
    answer = server.http.post(
        "/switchboard/clock", data={"AdvanceSeconds": str(seconds)}, auth=(ACCOUNT_SID, AUTH_TOKEN)
    )
    assert answer.status_code == 200, answer.text


def _exists(ws: Any, sid: str) -> bool:
    try:
        ws.tasks(sid).fetch()
    except TwilioRestException as error:
        assert error.status == 404
        return False
    return True


def test_closed_tasks_are_deleted_after_twilios_retention(twilio: Server) -> None:
    assert TWILIO_CLOSED_TASK_RETENTION_MS == 5 * 60 * 1000
    ws, (done, dropped, kept) = _closed_tasks(twilio)
    _advance(twilio, 299)
    assert [_exists(ws, sid) for sid in (done, dropped, kept)] == [True, True, True]
    _advance(twilio, 2)
    assert [_exists(ws, sid) for sid in (done, dropped, kept)] == [False, False, True]
    assert [t.sid for t in ws.tasks.list()] == [kept]
    assert ws.tasks(kept).fetch().assignment_status == "pending"
    # Nothing of theirs is left to list, and no event says they went: only API deletes do.
    assert twilio.services.store.reservations.find(twilio.ws, task_sid=done) == []
    types = {e.event_type for e in ws.events.list()}
    assert "task.deleted" not in types and "task.system-deleted" not in types


def test_local_limits_keep_closed_tasks(local: Server) -> None:
    ws, (done, dropped, kept) = _closed_tasks(local)
    _advance(local, 3600)
    assert [_exists(ws, sid) for sid in (done, dropped, kept)] == [True, True, True]


def test_the_flag_and_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHBOARD_LIMITS", raising=False)
    assert cli._settings(cli._parser().parse_args([])).limits == "local"
    assert cli._settings(cli._parser().parse_args(["--limits", "twilio"])).limits == "twilio"
    monkeypatch.setenv("SWITCHBOARD_LIMITS", "twilio")
    assert cli._settings(cli._parser().parse_args([])).limits == "twilio"
    monkeypatch.setenv("SWITCHBOARD_LIMITS", "strict")
    with pytest.raises(ValueError, match="SWITCHBOARD_LIMITS"):
        cli._settings(cli._parser().parse_args([]))
