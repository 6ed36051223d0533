"""Worker channels through the official SDK: one per task channel, fetch by SID or unique name,
capacity and availability updates, and channels that are not the caller's to see."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.models import DEFAULT_CHANNELS
from tests.support import rest_error


@pytest.fixture
def ws(client: Client, workspace: Any) -> Any:
    return client.taskrouter.v1.workspaces(workspace.sid)


@pytest.fixture
def worker(ws: Any) -> Any:
    return ws.workers.create(friendly_name="Alice")


def test_a_new_worker_has_one_channel_per_task_channel(ws: Any, worker: Any) -> None:
    channels = ws.workers(worker.sid).worker_channels.list()
    task_channels = {c.unique_name: c.sid for c in ws.task_channels.list()}
    assert sorted(c.task_channel_unique_name for c in channels) == sorted(DEFAULT_CHANNELS)
    for channel in channels:
        assert channel.sid.startswith("WC") and len(channel.sid) == 34
        assert channel.task_channel_sid == task_channels[channel.task_channel_unique_name]
        assert (channel.configured_capacity, channel.available) == (1, True)
        assert (channel.assigned_tasks, channel.available_capacity_percentage) == (0, 100)
        assert channel.worker_sid == worker.sid
        assert channel.date_created == worker.date_created
        assert channel.url == f"{worker.url}/Channels/{channel.sid}"


def test_list_envelope(http: TestClient, workspace: Any, worker: Any) -> None:
    url = f"/v1/Workspaces/{workspace.sid}/Workers/{worker.sid}/Channels"
    first = http.get(url, params={"PageSize": 3}).json()
    assert first["meta"]["key"] == "channels" and len(first["channels"]) == 3
    second = http.get(first["meta"]["next_page_url"]).json()
    assert len(second["channels"]) == 2 and second["meta"]["next_page_url"] is None
    sids = [c["sid"] for c in first["channels"] + second["channels"]]
    assert len(set(sids)) == 5


def test_fetch_by_sid_or_unique_name(ws: Any, worker: Any) -> None:
    channels = ws.workers(worker.sid).worker_channels
    by_name = channels("voice").fetch()
    assert by_name.task_channel_unique_name == "voice"
    by_sid = channels(by_name.sid).fetch()
    assert (by_sid.sid, by_sid.task_channel_sid) == (by_name.sid, by_name.task_channel_sid)


@pytest.mark.both_databases
def test_update_capacity_and_availability(ws: Any, worker: Any, services: Services) -> None:
    channels = ws.workers(worker.sid).worker_channels
    services.clock.advance_ms(60_000)  # type: ignore[attr-defined]
    updated = channels("chat").update(capacity=5, available=False)
    assert (updated.configured_capacity, updated.available) == (5, False)
    assert updated.available_capacity_percentage == 100
    assert updated.date_updated > updated.date_created
    assert channels(updated.sid).fetch().configured_capacity == 5
    closed = channels("chat").update(capacity=0)
    assert (closed.configured_capacity, closed.available_capacity_percentage) == (0, 0)
    assert channels("voice").fetch().configured_capacity == 1


def test_update_that_changes_nothing_returns_the_channel(
    ws: Any, worker: Any, services: Services
) -> None:
    channels = ws.workers(worker.sid).worker_channels
    before = channels("sms").fetch()
    services.clock.advance_ms(60_000)  # type: ignore[attr-defined]
    same = channels("sms").update(capacity=1, available=True)
    assert same.date_updated == before.date_updated
    assert channels("sms").update().configured_capacity == 1


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"Capacity": "51"}, "Capacity must be at most 50"),
        ({"Capacity": "-1"}, "Capacity must be at least 0"),
        ({"Capacity": "two"}, "Capacity must be a whole number"),
        ({"Available": "maybe"}, "Available must be true or false"),
    ],
)
def test_bad_update_is_400_and_changes_nothing(
    http: TestClient, ws: Any, workspace: Any, worker: Any, data: dict[str, str], fragment: str
) -> None:
    url = f"/v1/Workspaces/{workspace.sid}/Workers/{worker.sid}/Channels/voice"
    response = http.post(url, data=data)
    assert response.status_code == 400 and fragment in response.json()["message"]
    channel = ws.workers(worker.sid).worker_channels("voice").fetch()
    assert (channel.configured_capacity, channel.available) == (1, True)


def test_capacity_51_through_the_sdk(ws: Any, worker: Any) -> None:
    error = rest_error(lambda: ws.workers(worker.sid).worker_channels("voice").update(capacity=51))
    assert (error.status, error.code) == (400, 20001) and "Capacity" in error.msg


def test_channels_of_another_worker_or_workspace_are_404(
    client: Client, other_client: Client, ws: Any, workspace: Any, worker: Any
) -> None:
    bob = ws.workers.create(friendly_name="Bob")
    alice_voice = ws.workers(worker.sid).worker_channels("voice").fetch()
    other = client.taskrouter.v1.workspaces.create(friendly_name="Other")
    lookups = [
        ws.workers(bob.sid).worker_channels(alice_voice.sid),
        client.taskrouter.v1.workspaces(other.sid).workers(worker.sid).worker_channels("voice"),
        other_client.taskrouter.v1.workspaces(workspace.sid)
        .workers(worker.sid)
        .worker_channels("voice"),
        ws.workers(worker.sid).worker_channels("fax"),
        ws.workers(worker.sid).worker_channels("WC" + "0" * 32),
        ws.workers("WA" + "0" * 32).worker_channels("voice"),
        ws.workers("nonsense").worker_channels("voice"),
    ]
    for channel in lookups:
        assert rest_error(channel.fetch).status == 404
        assert rest_error(lambda c=channel: c.update(capacity=2)).status == 404
    assert ws.workers(worker.sid).worker_channels("voice").fetch().configured_capacity == 1


@pytest.mark.parametrize("worker_sid", ["WK" + "0" * 32, "WQ" + "0" * 32, "x"])
def test_listing_channels_of_an_unknown_worker_is_404(
    http: TestClient, workspace: Any, worker_sid: str
) -> None:
    response = http.get(f"/v1/Workspaces/{workspace.sid}/Workers/{worker_sid}/Channels")
    assert response.status_code == 404 and response.json()["code"] == 20404
