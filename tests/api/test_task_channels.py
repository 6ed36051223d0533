"""Task channels through the official SDK: create, fetch and change by SID or unique name,
the per-workspace limit, and the worker channels that follow a channel's life."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.timers import ManualClock
from tests.support import ACCOUNT_SID, rest_error


def channels(client: Client, ws: Any) -> Any:
    return client.taskrouter.v1.workspaces(ws.sid).task_channels


def create_worker(http: TestClient, ws: Any, name: str) -> str:
    response = http.post(f"/v1/Workspaces/{ws.sid}/Workers", data={"FriendlyName": name})
    assert response.status_code == 201, response.text
    sid: str = response.json()["sid"]
    return sid


def test_create_has_defaults_and_links(client: Client, workspace: Any) -> None:
    channel = channels(client, workspace).create(friendly_name="Email", unique_name="email")
    assert channel.sid.startswith("TC") and len(channel.sid) == 34
    assert channel.account_sid == ACCOUNT_SID
    assert channel.workspace_sid == workspace.sid
    assert (channel.friendly_name, channel.unique_name) == ("Email", "email")
    assert channel.channel_optimized_routing is False
    assert channel.url == f"{workspace.url}/TaskChannels/{channel.sid}"
    assert channel.links == {"workspace": workspace.url}
    assert channel.date_created == channel.date_updated


def test_create_with_channel_optimized_routing(client: Client, workspace: Any) -> None:
    channel = channels(client, workspace).create(
        friendly_name="Email", unique_name="email", channel_optimized_routing=True
    )
    assert channel.channel_optimized_routing is True
    assert channels(client, workspace)(channel.sid).fetch().channel_optimized_routing is True


def test_fetch_by_sid_or_unique_name(client: Client, workspace: Any) -> None:
    created = channels(client, workspace).create(friendly_name="Email", unique_name="email")
    assert channels(client, workspace)(created.sid).fetch().unique_name == "email"
    assert channels(client, workspace)("email").fetch().sid == created.sid
    assert channels(client, workspace)("voice").fetch().friendly_name == "Voice"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"UniqueName": "email"}, "FriendlyName"),
        ({"FriendlyName": "Email"}, "UniqueName"),
        ({"FriendlyName": " ", "UniqueName": "email"}, "FriendlyName"),
        ({"FriendlyName": "x" * 65, "UniqueName": "email"}, "FriendlyName"),
        ({"FriendlyName": "Email", "UniqueName": "e" * 65}, "UniqueName"),
        ({"FriendlyName": "Email", "UniqueName": "e mail"}, "UniqueName"),
        ({"FriendlyName": "Email", "UniqueName": "e/mail"}, "UniqueName"),
        ({"FriendlyName": "Email", "UniqueName": "TC" + "a" * 32}, "UniqueName"),
        ({"FriendlyName": "E", "UniqueName": "e", "ChannelOptimizedRouting": "maybe"},
         "ChannelOptimizedRouting"),
    ],
)  # fmt: skip
def test_bad_creates_are_400_and_create_nothing(
    client: Client, http: TestClient, workspace: Any, data: dict[str, str], fragment: str
) -> None:
    response = http.post(f"/v1/Workspaces/{workspace.sid}/TaskChannels", data=data)
    assert response.status_code == 400
    assert response.json()["code"] == 20001 and fragment in response.json()["message"]
    assert len(channels(client, workspace).list()) == 5


def test_unique_names_may_hold_letters_digits_underscore_dollar_and_hyphen(
    client: Client, workspace: Any
) -> None:
    for name in ("task-channel", "web_chat_2", "$priority", "2fa"):
        assert channels(client, workspace).create(friendly_name=name, unique_name=name)
        assert channels(client, workspace)(name).fetch().unique_name == name


@pytest.mark.both_databases
def test_duplicate_unique_name_is_409(client: Client, workspace: Any) -> None:
    channels(client, workspace).create(friendly_name="Email", unique_name="email")
    error = rest_error(channels(client, workspace).create, friendly_name="B", unique_name="email")
    assert error.status == 409 and error.code == 20409 and "email" in error.msg
    error = rest_error(channels(client, workspace).create, friendly_name="V", unique_name="voice")
    assert error.status == 409
    # Names compare exactly: another case is another channel.
    assert channels(client, workspace).create(friendly_name="E", unique_name="Email")


def test_at_most_15_channels_including_the_defaults(client: Client, workspace: Any) -> None:
    for i in range(10):
        channels(client, workspace).create(friendly_name=f"c{i}", unique_name=f"c{i}")
    error = rest_error(channels(client, workspace).create, friendly_name="x", unique_name="x")
    assert error.status == 400 and "15" in error.msg and "default" in error.msg
    assert len(channels(client, workspace).list()) == 15
    channels(client, workspace)("c0").delete()
    assert channels(client, workspace).create(friendly_name="x", unique_name="x")


def test_update_by_unique_name(client: Client, workspace: Any, services: Services) -> None:
    created = channels(client, workspace).create(friendly_name="Email", unique_name="email")
    assert isinstance(services.clock, ManualClock)
    services.clock.advance_ms(5_000)
    updated = channels(client, workspace)("email").update(
        friendly_name="E-mail", channel_optimized_routing=True
    )
    assert (updated.sid, updated.unique_name) == (created.sid, "email")
    assert updated.friendly_name == "E-mail" and updated.channel_optimized_routing is True
    assert updated.date_updated > created.date_updated
    assert updated.date_created == created.date_created
    fetched = channels(client, workspace)(created.sid).fetch()
    assert (fetched.friendly_name, fetched.channel_optimized_routing) == ("E-mail", True)
    again = channels(client, workspace)(created.sid).update(channel_optimized_routing=False)
    assert (again.friendly_name, again.channel_optimized_routing) == ("E-mail", False)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"FriendlyName": "x" * 65}, "FriendlyName"),
        ({"FriendlyName": ""}, "FriendlyName"),
        ({"ChannelOptimizedRouting": "perhaps"}, "ChannelOptimizedRouting"),
    ],
)
def test_bad_updates_are_400_and_change_nothing(
    client: Client, http: TestClient, workspace: Any, data: dict[str, str], fragment: str
) -> None:
    response = http.post(f"/v1/Workspaces/{workspace.sid}/TaskChannels/voice", data=data)
    assert response.status_code == 400 and fragment in response.json()["message"]
    voice = channels(client, workspace)("voice").fetch()
    assert (voice.friendly_name, voice.channel_optimized_routing) == ("Voice", False)


def test_delete_by_sid_or_unique_name(client: Client, workspace: Any) -> None:
    email = channels(client, workspace).create(friendly_name="Email", unique_name="email")
    assert channels(client, workspace)("email").delete() is True
    assert rest_error(channels(client, workspace)(email.sid).fetch).status == 404
    sms = channels(client, workspace)("sms").fetch()
    assert channels(client, workspace)(sms.sid).delete() is True
    names = {c.unique_name for c in channels(client, workspace).list()}
    assert names == {"default", "voice", "chat", "video"}
    # The unique name is free again once its channel is gone.
    assert channels(client, workspace).create(friendly_name="Email", unique_name="email")


def test_the_default_channel_cannot_be_deleted(client: Client, workspace: Any) -> None:
    error = rest_error(channels(client, workspace)("default").delete)
    assert error.status == 400 and "default" in error.msg
    assert channels(client, workspace)("default").fetch().unique_name == "default"


def test_a_channel_open_tasks_use_cannot_be_deleted(client: Client, workspace: Any) -> None:
    ws = client.taskrouter.v1.workspaces(workspace.sid)
    email = channels(client, workspace).create(friendly_name="Email", unique_name="email")
    queue = ws.task_queues.create(friendly_name="Nobody", target_workers="1==0")
    flow = ws.workflows.create(
        friendly_name="Flow",
        configuration=json.dumps({"task_routing": {"default_filter": {"queue": queue.sid}}}),
    )
    task = ws.tasks.create(workflow_sid=flow.sid, task_channel="email", attributes="{}")
    ws.tasks.create(workflow_sid=flow.sid, task_channel="voice", attributes="{}")
    error = rest_error(channels(client, workspace)("email").delete)
    assert (error.status, error.code) == (400, 20001)
    assert "email" in error.msg and "1 open tasks" in error.msg
    assert channels(client, workspace)(email.sid).fetch().unique_name == "email"
    # Closed tasks do not hold it, nor do open tasks on another channel.
    ws.tasks(task.sid).update(assignment_status="canceled", reason="Handled elsewhere")
    assert channels(client, workspace)("email").delete() is True
    assert rest_error(channels(client, workspace)(email.sid).fetch).status == 404


@pytest.mark.both_databases
def test_list_pages_with_channels_key(client: Client, http: TestClient, workspace: Any) -> None:
    url = f"/v1/Workspaces/{workspace.sid}/TaskChannels"
    first = http.get(url, params={"PageSize": 2}).json()
    assert first["meta"]["key"] == "channels" and len(first["channels"]) == 2
    assert first["meta"]["next_page_url"].startswith(f"http://testserver{url}?PageSize=2&Page=1")
    seen = [c["sid"] for c in first["channels"]]
    page = first
    while page["meta"]["next_page_url"]:
        page = http.get(page["meta"]["next_page_url"]).json()
        seen += [c["sid"] for c in page["channels"]]
    assert len(seen) == len(set(seen)) == 5
    assert [c.sid for c in channels(client, workspace).list(page_size=2)] == seen


@pytest.mark.parametrize("sid", ["TC" + "0" * 32, "WQ" + "0" * 32, "nosuchchannel", "TC123"])
def test_unknown_channels_are_404(client: Client, workspace: Any, sid: str) -> None:
    for call in (
        channels(client, workspace)(sid).fetch,
        lambda: channels(client, workspace)(sid).update(friendly_name="x"),
        channels(client, workspace)(sid).delete,
    ):
        error = rest_error(call)
        assert error.status == 404 and error.code == 20404


def test_channels_of_another_account_do_not_exist(
    client: Client, other_client: Client, workspace: Any
) -> None:
    voice = channels(client, workspace)("voice").fetch()
    theirs = other_client.taskrouter.v1.workspaces(workspace.sid).task_channels
    with pytest.raises(TwilioException, match="20404"):
        theirs.list()
    for call in (
        lambda: theirs.create(friendly_name="x", unique_name="x"),
        theirs(voice.sid).fetch,
        lambda: theirs(voice.sid).update(friendly_name="x"),
        theirs(voice.sid).delete,
    ):
        assert rest_error(call).status == 404
    assert channels(client, workspace)("voice").fetch().friendly_name == "Voice"
    assert len(channels(client, workspace).list()) == 5


@pytest.mark.both_databases
def test_new_channel_gives_every_worker_a_worker_channel(
    client: Client, http: TestClient, workspace: Any
) -> None:
    alice, bob = create_worker(http, workspace, "alice"), create_worker(http, workspace, "bob")
    email = channels(client, workspace).create(friendly_name="Email", unique_name="email")
    for worker_sid in (alice, bob):
        worker = client.taskrouter.v1.workspaces(workspace.sid).workers(worker_sid)
        by_name = {wc.task_channel_unique_name: wc for wc in worker.worker_channels.list()}
        assert set(by_name) == {"default", "voice", "sms", "chat", "video", "email"}
        wc = by_name["email"]
        assert (wc.task_channel_sid, wc.worker_sid) == (email.sid, worker_sid)
        assert (wc.configured_capacity, wc.available) == (1, True)
        assert worker.worker_channels("email").fetch().sid == wc.sid


@pytest.mark.both_databases
def test_deleting_a_channel_removes_its_worker_channels(
    client: Client, http: TestClient, workspace: Any
) -> None:
    channels(client, workspace).create(friendly_name="Email", unique_name="email")
    worker_sid = create_worker(http, workspace, "alice")
    worker = client.taskrouter.v1.workspaces(workspace.sid).workers(worker_sid)
    assert "email" in {wc.task_channel_unique_name for wc in worker.worker_channels.list()}
    channels(client, workspace)("email").delete()
    names = {wc.task_channel_unique_name for wc in worker.worker_channels.list()}
    assert names == {"default", "voice", "sms", "chat", "video"}
    assert rest_error(worker.worker_channels("email").fetch).status == 404
