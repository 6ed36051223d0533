"""/switchboard/metrics: scraped and parsed with prometheus_client's own parser, its values
checked against a workload run through the twilio SDK (time moves with the manual clock)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import build_services, create_app
from switchboard.config import Settings
from switchboard.storage import Store
from switchboard.timers import ManualClock
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OTHER_ACCOUNT_SID,
    OTHER_AUTH_TOKEN,
    POSTGRES_URL,
    START_MS,
    Env,
    InProcessHttpClient,
    make_services,
    sdk_client,
)


class Scrape:
    """One parsed exposition: every sample, found by name and a subset of its labels."""

    def __init__(self, text: str) -> None:
        self.samples = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels`."""
        found = [
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        assert found, f"no sample {name} {labels}"
        return sum(found)

    def sparse(self, name: str, **labels: str) -> float:
        """A series that is left out while it is 0."""
        found = [
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        return sum(found)

    def names(self) -> set[str]:
        return {s.name for s in self.samples}

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name}


def scrape(http: TestClient, **kwargs: Any) -> Scrape:
    response = http.get("/switchboard/metrics", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


@pytest.fixture
def env(client: Client, services: Services, workspace: Any) -> Env:
    return Env(client, services, workspace)


def test_metrics_follow_a_scripted_workload(env: Env, http: TestClient) -> None:
    support = env.queue("Support")
    # A name the text format must escape: quotes and a backslash.
    idle_name = 'Idle "night" \\ shift'
    idle = env.queue(idle_name, target_workers="skills HAS 'nothing'")
    env.to_queue(support)
    env.worker("Alice")
    bob = env.worker("Bob", available=False)
    first = env.task()  # offered to Alice at once
    env.advance(2)
    second, third = env.task(), env.task()  # Alice is busy: both wait
    env.advance(10)
    env.accept(first.sid)

    m = scrape(http)
    ws = {"workspace_sid": env.sid}
    assert m.value("switchboard_tasks", **ws, task_queue_sid=support, status="assigned") == 1
    assert m.value("switchboard_tasks", **ws, task_queue_sid=support, status="pending") == 2
    assert m.sparse("switchboard_tasks", **ws, task_queue_sid=support, status="reserved") == 0
    # Every queue reports its pending tasks, even none; other statuses only while not 0.
    assert m.value("switchboard_tasks", **ws, task_queue_sid=idle, status="pending") == 0
    assert m.label_values("switchboard_tasks", "status") == {"pending", "assigned"}
    assert m.value("switchboard_task_longest_wait_seconds", task_queue_sid=support) == 10
    assert m.value("switchboard_task_longest_wait_seconds", task_queue_sid=idle) == 0
    assert (
        m.value("switchboard_task_queue_info", task_queue_sid=idle, task_queue_name=idle_name) == 1
    )
    assert m.label_values("switchboard_task_queue_info", "task_queue_name") == {
        "Support",
        idle_name,
    }
    assert m.value("switchboard_workers", **ws, activity_name="Available") == 1
    assert m.value("switchboard_workers", **ws, activity_name="Offline") == 1
    assert m.value("switchboard_workers", **ws, available="true") == 1
    assert m.value("switchboard_reservations_open", task_queue_sid=support, status="accepted") == 1
    assert m.sparse("switchboard_reservations_open", task_queue_sid=support, status="pending") == 0
    assert m.value("switchboard_reservations_created_total", **ws) == 1
    assert m.value("switchboard_reservations_ended_total", **ws, outcome="accepted") == 1
    latency = "switchboard_task_reservation_latency_seconds"
    assert m.value(f"{latency}_count", **ws) == 1
    assert m.value(f"{latency}_sum", **ws) == 0
    # The SDK's creates, counted by operation name and status, never by path.
    assert m.value("switchboard_requests_total", operation="create_task", status="201") == 3
    assert m.value("switchboard_requests_total", operation="update_task_reservation") == 1
    assert not any(
        first.sid in v for v in m.label_values("switchboard_requests_total", "operation")
    )
    assert m.value("switchboard_request_duration_seconds_count", operation="create_task") == 3

    # Bob comes in 12 s after the second task was created and is offered it: one more
    # reservation, and the histogram sees the 12 s the task waited.
    env.advance(2)
    env.set_available(bob)
    offered = env.reservations(second.sid, "pending")
    assert [r.worker_sid for r in offered] == [bob]
    m = scrape(http)
    assert m.value("switchboard_reservations_created_total", **ws) == 2
    assert m.value(f"{latency}_count", **ws) == 2
    assert m.value(f"{latency}_sum", **ws) == 12
    assert m.value(f"{latency}_bucket", **ws, le="10.0") == 1
    assert m.value(f"{latency}_bucket", **ws, le="30.0") == 2
    assert m.value("switchboard_tasks", task_queue_sid=support, status="reserved") == 1
    # The second task, reserved now, still counts as waiting until it is accepted.
    assert m.value("switchboard_task_longest_wait_seconds", task_queue_sid=support) == 12
    assert [r.worker_sid for r in env.reservations(third.sid)] == []


def test_reservations_ended_by_timeout_and_rejection(env: Env, http: TestClient) -> None:
    env.to_queue(env.queue("Support"))
    alice = env.worker("Alice")
    task = env.task()
    (offer,) = env.reservations(task.sid, "pending")
    env.ws.tasks(task.sid).reservations(offer.sid).update(reservation_status="rejected")
    env.set_available(alice)
    env.advance(200)  # the second offer times out (the default 120 s)
    m = scrape(http)
    ws = {"workspace_sid": env.sid}
    assert m.value("switchboard_reservations_ended_total", **ws, outcome="rejected") == 1
    assert m.value("switchboard_reservations_ended_total", **ws, outcome="timeout") == 1
    assert m.value("switchboard_reservations_created_total", **ws) == 2


def test_database_time_per_operation(env: Env, http: TestClient) -> None:
    """Each request adds up the time its statements and commits took and is observed once,
    under its operation; what no request does (start-up's warm-up) is background time."""
    env.to_queue(env.queue("Support"))
    env.worker("Alice")
    before = scrape(http)
    created = [env.task() for _ in range(3)]
    for task in created:
        env.ws.tasks(task.sid).fetch()
    assert http.get("/switchboard/console/static/board.js").status_code == 200
    m = scrape(http)

    def added(name: str, operation: str) -> float:
        return m.sparse(name, operation=operation) - before.sparse(name, operation=operation)

    count, seconds = "switchboard_database_seconds_count", "switchboard_database_seconds_sum"
    assert added(count, "create_task") == 3 and added(count, "fetch_task") == 3
    for operation in ("create_task", "fetch_task"):
        spent = added(seconds, operation)
        answering = added("switchboard_request_duration_seconds_sum", operation)
        assert 0 < spent <= answering, operation
    # The scrape before this one read the database; a static file never does, and no other
    # request's time lands on it.
    assert m.value(count, operation="fetch_metrics") >= 1
    assert m.value(seconds, operation="fetch_metrics") > 0
    assert (
        m.value(count, operation="console_static"),
        m.value(seconds, operation="console_static"),
    ) == (1, 0)
    assert m.value("switchboard_background_database_seconds_total") > 0


def test_a_scrape_needs_credentials(http: TestClient, workspace: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer anything"}):
        response = http.get("/switchboard/metrics", auth=None, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == 20003
    wrong = http.get("/switchboard/metrics", auth=(ACCOUNT_SID, "wrong"))
    assert wrong.status_code == 401


def test_an_account_sees_only_its_workspaces(http: TestClient, client: Client) -> None:
    mine = client.taskrouter.v1.workspaces.create(friendly_name="Mine")
    client.taskrouter.v1.workspaces(mine.sid).task_queues.create(
        friendly_name="Q", target_workers="1==1"
    )
    own = scrape(http)
    other = scrape(http, auth=(OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN))
    assert own.label_values("switchboard_workers", "workspace_sid") == {mine.sid}
    assert "switchboard_workers" not in other.names()
    assert "switchboard_tasks" not in other.names()


def test_the_metrics_token_sees_every_workspace(tmp_path: Path) -> None:
    services = make_services(tmp_path, metrics_token="s3cret-token")
    app = create_app(services.settings, services=services)
    with TestClient(app, base_url="http://testserver") as http:
        created = {
            http.post("/v1/Workspaces", data={"FriendlyName": name}, auth=(sid, token)).json()[
                "sid"
            ]
            for name, sid, token in (
                ("A", ACCOUNT_SID, AUTH_TOKEN),
                ("B", OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN),
            )
        }
        m = scrape(http, headers={"Authorization": "Bearer s3cret-token"})
        assert m.label_values("switchboard_workers", "workspace_sid") == created
        # Basic credentials still work alongside the token, for their own workspaces.
        assert len(scrape(http, auth=(ACCOUNT_SID, AUTH_TOKEN)).label_values(
            "switchboard_workers", "workspace_sid")) == 1  # fmt: skip
        refused = http.get("/switchboard/metrics", headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401
    services.store.close()


def test_a_manual_clock_reports_no_tick_loop(http: TestClient) -> None:
    # The deadline loop runs only with the system clock; here requests move time.
    assert "switchboard_tick_lag_seconds" not in scrape(http).names()


def test_the_system_clock_reports_tick_lag(tmp_path: Path) -> None:
    services = make_services(tmp_path, clock="system")
    app = create_app(services.settings, services=services)
    with TestClient(app, base_url="http://testserver") as http:
        m = scrape(http, auth=(ACCOUNT_SID, AUTH_TOKEN))
        assert m.value("switchboard_tick_lag_seconds") >= 0
        assert m.label_values("switchboard_tick_leader", "process")
    services.store.close()


def test_processes_sharing_postgresql_report_the_same_state(pg_schema: str) -> None:
    """Two apps on one PostgreSQL schema stand for two processes: the state gauges come from
    the database, so both report the same; each counts only the reservations it made."""
    apps = []
    for _ in range(2):
        settings = Settings(database_url=POSTGRES_URL, clock="manual")
        store = Store.open(POSTGRES_URL, schema=pg_schema)
        services = build_services(settings, store=store, clock=ManualClock(START_MS))
        services.engine.accounts.ensure_account(ACCOUNT_SID, AUTH_TOKEN)
        apps.append((services, create_app(settings, services=services)))
    (first, first_app), (second, second_app) = apps
    with (
        TestClient(first_app, base_url="http://testserver") as one,
        TestClient(second_app, base_url="http://testserver") as two,
    ):
        sdk = sdk_client(InProcessHttpClient(first_app), "http://testserver")
        env = Env(sdk, first, sdk.taskrouter.v1.workspaces.create(friendly_name="Shared"))
        support = env.queue("Support")
        env.to_queue(support)
        env.worker("Alice")
        env.task()
        env.task()
        scrapes = [scrape(http, auth=(ACCOUNT_SID, AUTH_TOKEN)) for http in (one, two)]
        for m in scrapes:
            assert m.value("switchboard_tasks", task_queue_sid=support, status="pending") == 1
            assert m.value("switchboard_tasks", task_queue_sid=support, status="reserved") == 1
            assert m.value("switchboard_workers", workspace_sid=env.sid, available="true") == 1
        assert scrapes[0].value("switchboard_reservations_created_total") == 1
        assert "switchboard_reservations_created_total" not in scrapes[1].names()
    first.store.close()
    second.store.close()


def test_the_grafana_dashboard_charts_only_metrics_that_exist(tmp_path: Path) -> None:
    dashboard = json.loads(
        (Path(__file__).parent.parent / "docs/grafana-dashboard.json").read_text()
    )
    charted = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"switchboard_\w+", target["expr"])
    }
    services = make_services(tmp_path, clock="system")
    app = create_app(services.settings, services=services)
    with TestClient(app, base_url="http://testserver") as http:
        sdk = sdk_client(InProcessHttpClient(app), "http://testserver")
        env = Env(sdk, services, sdk.taskrouter.v1.workspaces.create(friendly_name="Charted"))
        env.to_queue(env.queue("Support"))
        env.worker("Alice")
        env.accept(env.task().sid)
        exposed = scrape(http, auth=(ACCOUNT_SID, AUTH_TOKEN)).names()
    services.store.close()
    assert charted and charted <= exposed, sorted(charted - exposed)
