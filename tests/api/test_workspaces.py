"""Workspaces through the official SDK: defaults, updates, lists, deletion, isolation."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from tests.support import ACCOUNT_SID


def test_create_workspace_has_twilio_defaults(client: Client) -> None:
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Support")
    assert ws.sid.startswith("WS") and len(ws.sid) == 34
    assert ws.account_sid == ACCOUNT_SID
    assert ws.friendly_name == "Support"
    assert ws.default_activity_name == "Offline"
    assert ws.timeout_activity_name == "Offline"
    assert ws.default_activity_sid == ws.timeout_activity_sid
    assert ws.multi_task_enabled is True
    assert ws.prioritize_queue_order == "FIFO"
    assert ws.event_callback_url == ""
    assert ws.url == f"http://testserver/v1/Workspaces/{ws.sid}"
    assert ws.links["workers"] == f"{ws.url}/Workers"
    activities = {
        a.friendly_name: a.available
        for a in client.taskrouter.v1.workspaces(ws.sid).activities.list()
    }
    assert activities == {"Offline": False, "Available": True, "Unavailable": False}
    channels = {c.unique_name for c in client.taskrouter.v1.workspaces(ws.sid).task_channels.list()}
    assert channels == {"default", "voice", "sms", "chat", "video"}


def test_dates_are_parsed_by_the_sdk(client: Client, workspace: Any) -> None:
    import datetime

    assert isinstance(workspace.date_created, datetime.datetime)


@pytest.mark.both_databases
def test_fetch_update_delete_workspace(client: Client, workspace: Any) -> None:
    ws = client.taskrouter.v1.workspaces(workspace.sid)
    available = ws.activities.list(friendly_name="Available")[0]
    updated = ws.update(
        friendly_name="Renamed",
        timeout_activity_sid=available.sid,
        event_callback_url="https://example.com/events",
        events_filter="task.created,worker.activity.update",
        prioritize_queue_order="LIFO",
        multi_task_enabled=False,
    )
    assert updated.friendly_name == "Renamed"
    assert updated.timeout_activity_name == "Available"
    assert updated.event_callback_url == "https://example.com/events"
    assert updated.events_filter == "task.created,worker.activity.update"
    assert updated.prioritize_queue_order == "LIFO"
    assert updated.multi_task_enabled is False
    assert ws.fetch().friendly_name == "Renamed"
    assert ws.delete() is True
    with pytest.raises(TwilioRestException) as caught:
        ws.fetch()
    assert caught.value.status == 404 and caught.value.code == 20404
    # Its resources are gone at once too, though the workspace was just found (and, on
    # PostgreSQL, is remembered for a moment as the caller's).
    with pytest.raises(TwilioException) as listed:  # a list's page raises the base class
        ws.tasks.list()
    assert "HTTP 404" in str(listed.value)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"events_filter": "task.nope"}, "task.nope"),
        ({"event_callback_url": "ftp://x"}, "EventCallbackUrl"),
        ({"default_activity_sid": "WA" + "0" * 32}, "DefaultActivitySid"),
        ({"prioritize_queue_order": "RANDOM"}, "PrioritizeQueueOrder"),
        ({"friendly_name": "x" * 65}, "FriendlyName"),
    ],
)
def test_bad_updates_are_400_and_change_nothing(
    client: Client, workspace: Any, params: dict[str, str], fragment: str
) -> None:
    with pytest.raises(TwilioRestException) as caught:
        client.taskrouter.v1.workspaces(workspace.sid).update(**params)
    assert caught.value.status == 400
    assert fragment in caught.value.msg
    assert (
        client.taskrouter.v1.workspaces(workspace.sid).fetch().date_updated
        == workspace.date_updated
    )


def test_create_requires_friendly_name(http: TestClient) -> None:
    response = http.post("/v1/Workspaces", data={})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 20001 and "FriendlyName" in body["message"]
    assert set(body) == {"code", "message", "more_info", "status"}


@pytest.mark.both_databases
def test_list_pages_with_absolute_urls(client: Client, http: TestClient, services: Any) -> None:
    # Lists are in creation order (then SID for the same millisecond): let time pass.
    for i in range(5):
        client.taskrouter.v1.workspaces.create(friendly_name=f"ws{i}")
        services.clock.advance_ms(1000)
    first = http.get("/v1/Workspaces", params={"PageSize": 2}).json()
    assert first["meta"]["key"] == "workspaces"
    assert first["meta"]["page_size"] == 2
    assert first["meta"]["next_page_url"].startswith(
        "http://testserver/v1/Workspaces?PageSize=2&Page=1&PageToken=PT"
    )
    assert first["meta"]["previous_page_url"] is None
    names = [w.friendly_name for w in client.taskrouter.v1.workspaces.list(page_size=2)]
    assert names == [f"ws{i}" for i in range(5)]
    second = http.get(first["meta"]["next_page_url"]).json()
    back = http.get(second["meta"]["previous_page_url"]).json()
    assert [w["sid"] for w in back["workspaces"]] == [w["sid"] for w in first["workspaces"]]
    assert [w.friendly_name for w in client.taskrouter.v1.workspaces.list(friendly_name="ws3")] == [
        "ws3"
    ]


def test_workspace_of_another_account_does_not_exist(other_client: Client, workspace: Any) -> None:
    with pytest.raises(TwilioRestException) as caught:
        other_client.taskrouter.v1.workspaces(workspace.sid).fetch()
    assert caught.value.status == 404 and caught.value.code == 20404
    assert other_client.taskrouter.v1.workspaces.list() == []


def test_template_fifo_adds_a_queue_for_everyone(client: Client) -> None:
    ws = client.taskrouter.v1.workspaces.create(friendly_name="Fifo", template="FIFO")
    queues = client.taskrouter.v1.workspaces(ws.sid).task_queues.list()
    assert [(q.friendly_name, q.target_workers) for q in queues] == [("Sample Queue", "1==1")]
