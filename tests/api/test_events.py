"""The Events resource through the SDK: what a task's life logs and in which order, every
property, every filter, the date window and its paging; raw HTTP for refused input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import create_app
from switchboard.events import EVENT_TYPES
from switchboard.timers import ManualClock
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    START_MS,
    InProcessHttpClient,
    make_services,
    sdk_client,
)

SPEC_PROPERTIES = {
    "account_sid", "actor_sid", "actor_type", "actor_url", "description", "event_data",
    "event_date", "event_date_ms", "event_type", "resource_sid", "resource_type",
    "resource_url", "sid", "source", "source_ip_address", "url", "workspace_sid",
}  # fmt: skip
START = datetime.fromtimestamp(START_MS / 1000, UTC)
EARLY = START - timedelta(days=1)


def advance(services: Services, ms: int) -> None:
    clock = services.clock
    assert isinstance(clock, ManualClock)
    clock.advance_ms(ms)


def types_in_order(ws: Any, **filters: Any) -> list[str]:
    """Event types oldest first (the list is newest first)."""
    return [e.event_type for e in reversed(ws.events.list(start_date=EARLY, **filters))]


class Routed:
    """A workspace with a queue, a workflow, an available worker and one task offered to it."""

    def __init__(self, client: Client, workspace: Any) -> None:
        self.sid: str = workspace.sid
        self.ws = ws = client.taskrouter.v1.workspaces(workspace.sid)
        self.queue = ws.task_queues.create(friendly_name="Support", target_workers="1==1")
        config = {"task_routing": {"filters": [
            {"expression": "1==1", "targets": [{"queue": self.queue.sid}]}]}}  # fmt: skip
        self.workflow = ws.workflows.create(friendly_name="Main", configuration=json.dumps(config))
        available = ws.activities.list(friendly_name="Available")[0]
        self.worker = ws.workers.create(friendly_name="alice", activity_sid=available.sid)
        self.task = ws.tasks.create(
            workflow_sid=self.workflow.sid, attributes=json.dumps({"topic": "billing"})
        )
        self.reservation = ws.tasks(self.task.sid).reservations.list()[0]


@pytest.fixture
def routed(client: Client, workspace: Any) -> Routed:
    return Routed(client, workspace)


@pytest.mark.both_databases
def test_a_task_life_is_logged_in_commit_order(routed: Routed) -> None:
    ws, task = routed.ws, routed.task
    ws.tasks(task.sid).reservations(routed.reservation.sid).update(reservation_status="accepted")
    ws.tasks(task.sid).update(assignment_status="completed", reason="resolved")
    assert types_in_order(ws, task_sid=task.sid) == [
        "task.created", "workflow.entered", "workflow.target-matched", "task-queue.entered",
        "reservation.created", "reservation.accepted", "task.completed", "reservation.completed",
    ]  # fmt: skip
    assert types_in_order(ws)[:4] == [
        "workspace.created", "task-queue.created", "workflow.created", "worker.created",
    ]  # fmt: skip
    completed = ws.events.list(start_date=EARLY, event_type="task.completed")[0]
    assert completed.event_data["task_completed_reason"] == "resolved"
    assert completed.event_data["task_assignment_status"] == "completed"


def test_an_event_has_every_property_of_the_spec(routed: Routed, http: TestClient) -> None:
    ws, reservation = routed.ws, routed.reservation
    listed = ws.events.list(reservation_sid=reservation.sid)[0]
    event = ws.events(listed.sid).fetch()
    base = f"http://testserver/v1/Workspaces/{routed.sid}"
    assert event.sid.startswith("EV") and len(event.sid) == 34
    assert (event.event_type, event.resource_type) == ("reservation.created", "reservation")
    assert event.resource_sid == reservation.sid
    assert event.resource_url == f"{base}/Tasks/{routed.task.sid}/Reservations/{reservation.sid}"
    assert event.url == f"{base}/Events/{event.sid}"
    assert (event.actor_type, event.actor_sid, event.actor_url) == (
        "workspace", routed.sid, base
    )  # fmt: skip
    assert event.account_sid == ACCOUNT_SID and event.workspace_sid == routed.sid
    assert event.source == "twilio"
    assert event.description == f"Reservation {reservation.sid} created"
    assert event.event_date == START and event.event_date_ms == START_MS
    data = event.event_data
    assert data["task_sid"] == routed.task.sid and data["worker_name"] == "alice"
    assert data["task_queue_name"] == "Support" and data["workflow_name"] == "Main"
    assert data["reservation_status"] == "pending"
    assert json.loads(data["task_attributes"]) == {"topic": "billing"}
    body = http.get(f"{base}/Events/{event.sid}").json()
    assert set(body) == SPEC_PROPERTIES  # no `links`: the spec gives Events none
    assert isinstance(body["event_data"], dict) and body["event_date"] == "2026-01-01T00:00:00Z"
    assert all(key == key.lower() for key in body["event_data"])


def test_resource_urls_point_at_each_kind_of_resource(routed: Routed) -> None:
    ws = routed.ws
    base = f"http://testserver/v1/Workspaces/{routed.sid}"
    urls = {e.event_type: e.resource_url for e in ws.events.list(start_date=EARLY)}
    assert urls["workspace.created"] == base
    assert urls["task-queue.created"] == f"{base}/TaskQueues/{routed.queue.sid}"
    assert urls["workflow.created"] == f"{base}/Workflows/{routed.workflow.sid}"
    assert urls["worker.created"] == f"{base}/Workers/{routed.worker.sid}"
    assert urls["task.created"] == f"{base}/Tasks/{routed.task.sid}"


@pytest.mark.both_databases
def test_filters_select_the_events_about_one_thing(routed: Routed) -> None:
    ws = routed.ws
    sid = routed.task.sid
    assert set(types_in_order(ws, worker_sid=routed.worker.sid)) == {
        "worker.created", "reservation.created"
    }  # fmt: skip
    assert types_in_order(ws, reservation_sid=routed.reservation.sid) == ["reservation.created"]
    assert "task-queue.created" in types_in_order(ws, task_queue_sid=routed.queue.sid)
    assert "task-queue.entered" in types_in_order(ws, task_queue_sid=routed.queue.sid)
    assert types_in_order(ws, workflow_sid=routed.workflow.sid)[:2] == [
        "workflow.created", "task.created"
    ]  # fmt: skip
    assert types_in_order(ws, event_type="task.created") == ["task.created"]
    assert {e.resource_sid for e in ws.events.list(start_date=EARLY, task_sid=sid)} == {
        sid, routed.reservation.sid
    }  # fmt: skip
    one = ws.events.list(start_date=EARLY)[3]
    assert [e.sid for e in ws.events.list(start_date=EARLY, sid=one.sid)] == [one.sid]
    both = ws.events.list(start_date=EARLY, task_sid=sid, event_type="reservation.created")
    assert [e.resource_sid for e in both] == [routed.reservation.sid]


@pytest.mark.both_databases
def test_task_channel_filter_takes_a_sid_or_a_unique_name(client: Client, workspace: Any) -> None:
    ws = client.taskrouter.v1.workspaces(workspace.sid)
    channel = ws.task_channels.create(friendly_name="Email", unique_name="email")
    ws.task_channels(channel.sid).update(friendly_name="E-mail")
    by_name = types_in_order(ws, task_channel="email")
    assert by_name == ["task-channel.created", "task-channel.updated"]
    assert types_in_order(ws, task_channel=channel.sid) == by_name
    ws.task_channels(channel.sid).delete()
    # A deleted channel's events stay reachable by its SID.
    assert types_in_order(ws, task_channel=channel.sid)[-1] == "task-channel.deleted"


def test_activities_channels_and_the_workspace_log_their_changes(
    client: Client, workspace: Any
) -> None:
    ws = client.taskrouter.v1.workspaces(workspace.sid)
    break_ = ws.activities.create(friendly_name="Break", available=False)
    ws.activities(break_.sid).update(friendly_name="Lunch")
    ws.activities(break_.sid).delete()
    ws.update(friendly_name="Renamed")
    events = list(reversed(ws.events.list(start_date=EARLY)))
    assert [e.event_type for e in events] == [
        "workspace.created", "activity.created", "activity.updated", "activity.deleted",
        "workspace.updated",
    ]  # fmt: skip
    created, updated = events[1], events[2]
    assert created.resource_type == "activity" and created.resource_sid == break_.sid
    assert created.event_data["activity_name"] == "Break"
    assert created.event_data["activity_available"] == "false"
    assert updated.event_data["activity_name"] == "Lunch"
    assert events[-1].event_data["workspace_name"] == "Renamed"
    assert events[-1].resource_url == events[-1].actor_url


def test_the_default_window_is_the_last_15_minutes(
    client: Client, workspace: Any, services: Services
) -> None:
    ws = client.taskrouter.v1.workspaces(workspace.sid)
    advance(services, 15 * 60_000 + 1000)
    ws.activities.create(friendly_name="Later")
    assert [e.event_type for e in ws.events.list()] == ["activity.created"]
    assert len(ws.events.list(minutes=16)) == 2
    # StartDate wins over Minutes.
    assert len(ws.events.list(minutes=1, start_date=START)) == 2


@pytest.mark.both_databases
def test_start_and_end_date_bound_the_window(
    client: Client, workspace: Any, services: Services
) -> None:
    ws = client.taskrouter.v1.workspaces(workspace.sid)
    for name in ("A", "B", "C"):
        advance(services, 60_000)
        ws.activities.create(friendly_name=name)
    names = [
        e.event_data["activity_name"]
        for e in ws.events.list(
            start_date=START + timedelta(minutes=2), end_date=START + timedelta(minutes=2)
        )
    ]
    assert names == ["B"]  # both bounds included; EndDate covers its whole second
    later = ws.events.list(start_date=START + timedelta(seconds=61))
    assert [e.event_data["activity_name"] for e in later] == ["C", "B"]


@pytest.mark.both_databases
def test_pages_run_newest_first_and_keep_their_window(
    client: Client, workspace: Any, services: Services, http: TestClient
) -> None:
    ws = client.taskrouter.v1.workspaces(workspace.sid)
    for n in range(5):
        advance(services, 1000)
        ws.activities.create(friendly_name=f"A{n}")
    everything = ws.events.list(page_size=2)
    assert [e.event_date_ms for e in everything] == sorted(
        (e.event_date_ms for e in everything), reverse=True
    )
    assert len(everything) == 6
    first = http.get(f"/v1/Workspaces/{workspace.sid}/Events", params={"PageSize": 2}).json()
    assert first["meta"]["key"] == "events" and len(first["events"]) == 2
    assert "StartDate=2025-12-31T23%3A45%3A05Z" in first["meta"]["next_page_url"]
    # Later pages cover the window of the first even when the clock has moved on.
    advance(services, 60 * 60_000)
    rest: list[dict[str, Any]] = []
    url = first["meta"]["next_page_url"]
    while url:
        page = http.get(url).json()
        rest += page["events"]
        url = page["meta"]["next_page_url"]
    assert [e["sid"] for e in first["events"] + rest] == [e.sid for e in everything]


def test_task_attributes_are_redacted_after_30_days(tmp_path: Path) -> None:
    services = make_services(tmp_path, event_retention_days=60)
    app = create_app(services.settings, services=services)
    with TestClient(app, base_url="http://testserver"):
        client = sdk_client(InProcessHttpClient(app), "http://testserver")
        routed = Routed(client, client.taskrouter.v1.workspaces.create(friendly_name="Long"))
        advance(services, 43_200 * 60_000 + 60_000)
        old = routed.ws.events.list(start_date=EARLY, event_type="task.created")[0]
        assert old.event_data["task_attributes"] is None
        assert old.event_data["task_sid"] == routed.task.sid
    services.store.close()


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"EventType": "task.exploded"}, "EventType"),
        ({"StartDate": "2026-01-02T00:00:00Z", "EndDate": "2026-01-01T00:00:00Z"}, "EndDate"),
        ({"EndDate": "2025-01-01T00:00:00Z"}, "EndDate"),
        ({"StartDate": "yesterday"}, "StartDate"),
        ({"Minutes": "many"}, "Minutes"),
        ({"Minutes": "0"}, "Minutes"),
        ({"TaskSid": "WK" + "0" * 32}, "TaskSid"),
        ({"Sid": "nope"}, "Sid"),
        ({"TaskChannel": "carrier-pigeon"}, "TaskChannel"),
        ({"PageSize": "0"}, "PageSize"),
    ],
)
def test_bad_filters_are_refused_by_name(
    http: TestClient, workspace: Any, params: dict[str, str], named: str
) -> None:
    response = http.get(f"/v1/Workspaces/{workspace.sid}/Events", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and body["code"] == 20001
    assert named in body["message"]


def test_every_catalogued_type_is_a_valid_filter(http: TestClient, workspace: Any) -> None:
    for event_type in sorted(EVENT_TYPES):
        response = http.get(
            f"/v1/Workspaces/{workspace.sid}/Events", params={"EventType": event_type}
        )
        assert response.status_code == 200, event_type


def test_another_workspaces_event_is_not_found(
    client: Client, other_client: Client, workspace: Any, http: TestClient
) -> None:
    mine = client.taskrouter.v1.workspaces(workspace.sid).events.list()[0]
    other = client.taskrouter.v1.workspaces.create(friendly_name="Other")
    for sid in (mine.sid, "EV" + "0" * 32, "not-a-sid"):
        response = http.get(f"/v1/Workspaces/{other.sid}/Events/{sid}")
        assert response.status_code == 404 and response.json()["code"] == 20404
    listed = client.taskrouter.v1.workspaces(other.sid).events.list(sid=mine.sid)
    assert listed == []
    with pytest.raises(TwilioRestException) as caught:
        other_client.taskrouter.v1.workspaces(workspace.sid).events(mine.sid).fetch()
    assert caught.value.status == 404


@pytest.fixture
def deleted_workspace_events(client: Client, services: Services) -> Iterator[str]:
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Doomed")
    client.taskrouter.v1.workspaces(ws.sid).activities.create(friendly_name="Soon gone")
    client.taskrouter.v1.workspaces(ws.sid).delete()
    yield ws.sid


@pytest.mark.both_databases
def test_deleting_a_workspace_deletes_its_event_log(
    deleted_workspace_events: str, services: Services, http: TestClient
) -> None:
    sid = deleted_workspace_events
    assert http.get(f"/v1/Workspaces/{sid}/Events").status_code == 404
    # Only workspace.deleted is left, for a callback stream to deliver; without a URL it
    # waits for the retention period like any other event.
    left = services.store.events.after(sid, (0, -1), 10)
    assert [e.event_type for e in left] == ["workspace.deleted"]
    assert services.store.event_streams.get(sid) is None


def test_the_wrong_auth_token_is_refused(http: TestClient, workspace: Any) -> None:
    url = f"/v1/Workspaces/{workspace.sid}/Events"
    assert http.get(url, auth=(ACCOUNT_SID, "wrong")).status_code == 401
    assert http.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN)).status_code == 200
