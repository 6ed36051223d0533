"""Workers through the official SDK: defaults, channels, names, updates, versions and If-Match,
deletion, the per-workspace limit, and bad input that must be a 400 or 404, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import create_app
from tests.support import InProcessHttpClient, etag, make_services, rest_error, sdk_client

LINKS = {
    "channels", "activity", "workspace", "statistics", "real_time_statistics",
    "cumulative_statistics", "worker_statistics", "worker_channels", "reservations",
}  # fmt: skip


def workers_of(client: Client, workspace: Any) -> Any:
    return client.taskrouter.v1.workspaces(workspace.sid).workers


def activity(client: Client, workspace: Any, name: str) -> str:
    found = client.taskrouter.v1.workspaces(workspace.sid).activities.list(friendly_name=name)
    sid: str = found[0].sid
    return sid


def test_create_worker_has_twilio_defaults(client: Client, workspace: Any) -> None:
    response = workers_of(client, workspace).create_with_http_info(friendly_name="Alice")
    worker = response.data
    assert response.status_code == 201
    assert etag(response) == "0"
    assert worker.sid.startswith("WK") and len(worker.sid) == 34
    assert worker.activity_sid == workspace.default_activity_sid
    assert worker.activity_name == "Offline"
    assert worker.available is False
    assert worker.attributes == "{}"
    assert worker.date_status_changed == worker.date_created == worker.date_updated
    assert worker.url == f"{workspace.url}/Workers/{worker.sid}"
    assert set(worker.links) == LINKS
    assert worker.links["activity"] == f"{workspace.url}/Activities/{worker.activity_sid}"
    assert worker.links["statistics"] == f"{workspace.url}/Workers/Statistics"


@pytest.mark.both_databases
def test_create_with_activity_keeps_attributes_text_exactly(client: Client, workspace: Any) -> None:
    text = '{ "skills" : ["billing",  "sales"], "level": 3 }'
    available = activity(client, workspace, "Available")
    worker = workers_of(client, workspace).create(
        friendly_name="Bob", activity_sid=available, attributes=text
    )
    assert (worker.activity_name, worker.available, worker.attributes) == ("Available", True, text)
    fetched = workers_of(client, workspace)(worker.sid).fetch()
    assert fetched.attributes == text and fetched.available is True


def test_attributes_of_exactly_4096_characters_are_accepted(client: Client, workspace: Any) -> None:
    text = json.dumps({"pad": "x" * 4085})
    assert len(text) == 4096
    assert (
        workers_of(client, workspace).create(friendly_name="Big", attributes=text).attributes
        == text
    )


@pytest.mark.both_databases
def test_names_are_unique_without_regard_to_case(client: Client, workspace: Any) -> None:
    workers = workers_of(client, workspace)
    alice = workers.create(friendly_name="Alice")
    bob = workers.create(friendly_name="Bob")
    error = rest_error(lambda: workers.create(friendly_name="ALICE"))
    assert (error.status, error.code) == (409, 20409)
    assert "'ALICE'" in error.msg
    error = rest_error(lambda: workers(bob.sid).update(friendly_name="alice"))
    assert error.status == 409
    assert workers(alice.sid).update(friendly_name="alice").friendly_name == "alice"
    assert workers(bob.sid).fetch().friendly_name == "Bob"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"attributes": "{not json"}, "Attributes is not valid JSON"),
        ({"attributes": "[1, 2]"}, "Attributes must be a JSON object, not an array"),
        ({"attributes": '"text"'}, "Attributes must be a JSON object"),
        ({"attributes": json.dumps({"pad": "x" * 4086})}, "Attributes is 4097 characters"),
        ({"friendly_name": "x" * 65}, "FriendlyName is 65 characters"),
        ({"friendly_name": "   "}, "FriendlyName must not be empty"),
        ({"activity_sid": "WA" + "0" * 32}, "ActivitySid"),
        ({"activity_sid": "WS" + "0" * 32}, "ActivitySid must be a WA SID"),
        ({"activity_sid": "Offline"}, "ActivitySid must be a WA SID"),
    ],
)
def test_bad_create_is_400_and_creates_nothing(
    client: Client, workspace: Any, params: dict[str, str], fragment: str
) -> None:
    values = {"friendly_name": "Carol", **params}
    error = rest_error(lambda: workers_of(client, workspace).create(**values))
    assert (error.status, error.code) == (400, 20001)
    assert fragment in error.msg
    assert workers_of(client, workspace).list() == []


def test_activity_of_another_workspace_is_refused(client: Client, workspace: Any) -> None:
    other = client.taskrouter.v1.workspaces.create(friendly_name="Other")
    error = rest_error(
        lambda: workers_of(client, workspace).create(
            friendly_name="Dan", activity_sid=other.default_activity_sid
        )
    )
    assert error.status == 400 and "ActivitySid" in error.msg


def test_create_without_friendly_name_is_400(http: TestClient, workspace: Any) -> None:
    response = http.post(f"/v1/Workspaces/{workspace.sid}/Workers", data={})
    assert response.status_code == 400
    assert "FriendlyName" in response.json()["message"]


def test_attributes_given_as_a_dict_are_refused(http: TestClient, workspace: Any) -> None:
    # A Python caller who passes a dict sends one Attributes key per dict key.
    response = http.post(
        f"/v1/Workspaces/{workspace.sid}/Workers",
        content=b"FriendlyName=Eve&Attributes=a&Attributes=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400 and "Attributes" in response.json()["message"]


def test_body_that_is_not_utf8_is_400(http: TestClient, workspace: Any) -> None:
    response = http.post(
        f"/v1/Workspaces/{workspace.sid}/Workers",
        content=b"FriendlyName=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400


@pytest.mark.parametrize("sid", ["WK" + "0" * 32, "WA" + "0" * 32, "nonsense", "WK123"])
def test_unknown_or_malformed_worker_sid_is_404(client: Client, workspace: Any, sid: str) -> None:
    workers = workers_of(client, workspace)
    for call in (
        workers(sid).fetch,
        lambda: workers(sid).update(friendly_name="x"),
        workers(sid).delete,
    ):
        error = rest_error(call)
        assert (error.status, error.code) == (404, 20404)


def test_worker_of_another_workspace_or_account_is_404(
    client: Client, other_client: Client, workspace: Any
) -> None:
    worker = workers_of(client, workspace).create(friendly_name="Fay")
    other = client.taskrouter.v1.workspaces.create(friendly_name="Other")
    assert rest_error(workers_of(client, other)(worker.sid).fetch).status == 404
    assert rest_error(workers_of(other_client, workspace)(worker.sid).fetch).status == 404


def test_update_bumps_version_and_moves_dates(
    client: Client, workspace: Any, services: Services, http: TestClient
) -> None:
    workers = workers_of(client, workspace)
    worker = workers.create(friendly_name="Gus")
    services.clock.advance_ms(60_000)  # type: ignore[attr-defined]
    renamed = workers(worker.sid).update(attributes='{"team": "sales"}', friendly_name="Gustav")
    assert (renamed.friendly_name, renamed.attributes) == ("Gustav", '{"team": "sales"}')
    assert renamed.date_updated > worker.date_updated
    assert renamed.date_status_changed == worker.date_status_changed
    services.clock.advance_ms(60_000)  # type: ignore[attr-defined]
    moved = workers(worker.sid).update(activity_sid=activity(client, workspace, "Available"))
    assert (moved.activity_name, moved.available) == ("Available", True)
    assert moved.date_status_changed == moved.date_updated > renamed.date_updated
    response = http.get(f"/v1/Workspaces/{workspace.sid}/Workers/{worker.sid}")
    assert response.headers["ETag"] == "2"
    assert response.json()["activity_name"] == "Available"


def test_update_that_changes_nothing_returns_the_worker_unchanged(
    client: Client, workspace: Any, services: Services
) -> None:
    workers = workers_of(client, workspace)
    worker = workers.create(friendly_name="Hal", attributes='{"a": 1}')
    services.clock.advance_ms(60_000)  # type: ignore[attr-defined]
    response = workers(worker.sid).update_with_http_info(
        friendly_name="Hal", attributes='{"a": 1}', activity_sid=worker.activity_sid
    )
    assert response.status_code == 200
    assert etag(response) == "0"
    same = response.data
    assert (same.date_updated, same.date_status_changed) == (
        worker.date_updated,
        worker.date_status_changed,
    )
    assert workers(worker.sid).update().friendly_name == "Hal"


@pytest.mark.parametrize("tag", ["0", '"0"', 'W/"0"', "*", '"7", "0"'])
def test_update_with_matching_if_match(client: Client, workspace: Any, tag: str) -> None:
    workers = workers_of(client, workspace)
    worker = workers.create(friendly_name="Ida")
    response = workers(worker.sid).update_with_http_info(if_match=tag, attributes='{"x": 1}')
    assert response.status_code == 200 and etag(response) == "1"


@pytest.mark.parametrize("tag", ["1", '"1"', 'W/"1"', "abc"])
def test_update_with_stale_if_match_is_412_and_changes_nothing(
    client: Client, workspace: Any, tag: str
) -> None:
    workers = workers_of(client, workspace)
    worker = workers.create(friendly_name="Jo")
    workers(worker.sid).update(attributes='{"v": 1}')
    workers(worker.sid).update(attributes='{"v": 2}')
    error = rest_error(lambda: workers(worker.sid).update(if_match=tag, attributes='{"v": 3}'))
    assert (error.status, error.code) == (412, 20412)
    assert workers(worker.sid).fetch().attributes == '{"v": 2}'


def test_delete_honours_if_match(client: Client, workspace: Any, http: TestClient) -> None:
    # The Python SDK never sends If-Match on delete (clients.md G6); Node does, so raw HTTP.
    workers = workers_of(client, workspace)
    worker = workers.create(friendly_name="Kay")
    url = f"/v1/Workspaces/{workspace.sid}/Workers/{worker.sid}"
    refused = http.delete(url, headers={"If-Match": '"3"'})
    assert refused.status_code == 412 and refused.json()["code"] == 20412
    assert workers(worker.sid).fetch().sid == worker.sid
    changed = http.post(url, data={"Attributes": '{"v": 1}'}, headers={"If-Match": ""})
    assert changed.status_code == 200 and changed.headers["ETag"] == "1"
    assert http.delete(url, headers={"If-Match": '"0"'}).status_code == 412
    deleted = http.delete(url, headers={"If-Match": 'W/"1"'})
    assert deleted.status_code == 204 and deleted.content == b""
    assert rest_error(workers(worker.sid).fetch).status == 404


@pytest.mark.both_databases
def test_delete_removes_worker_and_channels(
    client: Client, workspace: Any, http: TestClient
) -> None:
    workers = workers_of(client, workspace)
    worker = workers.create(friendly_name="Lee")
    channel = workers(worker.sid).worker_channels.list()[0]
    assert workers(worker.sid).delete() is True
    assert workers.list() == []
    listed = http.get(f"/v1/Workspaces/{workspace.sid}/Workers/{worker.sid}/Channels")
    assert listed.status_code == 404
    assert rest_error(workers(worker.sid).worker_channels(channel.sid).fetch).status == 404
    # The name is free again.
    assert workers.create(friendly_name="LEE").friendly_name == "LEE"


def test_reject_pending_reservations_needs_an_unavailable_activity(
    client: Client, workspace: Any
) -> None:
    workers = workers_of(client, workspace)
    worker = workers.create(
        friendly_name="Max", activity_sid=activity(client, workspace, "Available")
    )
    for params in (
        {"reject_pending_reservations": True},
        {
            "reject_pending_reservations": True,
            "activity_sid": activity(client, workspace, "Available"),
        },
    ):
        error = rest_error(lambda p=params: workers(worker.sid).update(**p))
        assert error.status == 400 and "RejectPendingReservations" in error.msg
    assert workers(worker.sid).fetch().activity_name == "Available"
    moved = workers(worker.sid).update(
        activity_sid=activity(client, workspace, "Unavailable"), reject_pending_reservations=True
    )
    assert (moved.activity_name, moved.available) == ("Unavailable", False)
    # false asks for nothing, so it is accepted with or without an activity.
    assert (
        workers(worker.sid).update(reject_pending_reservations=False).activity_name == "Unavailable"
    )


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"attributes": "[]"}, "Attributes must be a JSON object"),
        ({"attributes": "{"}, "Attributes is not valid JSON"),
        ({"friendly_name": "y" * 65}, "FriendlyName"),
        ({"activity_sid": "WA" + "f" * 32}, "ActivitySid"),
        ({"activity_sid": "WQ" + "f" * 32}, "ActivitySid"),
    ],
)
def test_bad_update_is_400_and_changes_nothing(
    client: Client, workspace: Any, params: dict[str, str], fragment: str
) -> None:
    workers = workers_of(client, workspace)
    worker = workers.create(friendly_name="Ned", attributes='{"k": 1}')
    error = rest_error(lambda: workers(worker.sid).update(**params))
    assert error.status == 400 and fragment in error.msg
    after = workers(worker.sid).fetch()
    assert (after.friendly_name, after.attributes, after.activity_sid) == (
        "Ned", '{"k": 1}', worker.activity_sid,
    )  # fmt: skip


@pytest.fixture
def small_client(tmp_path: Path) -> Iterator[Client]:
    """A server whose workspaces may hold at most two workers."""
    services = make_services(tmp_path, max_workers_per_workspace=2)
    app = create_app(services.settings, services=services)
    with TestClient(app):
        yield sdk_client(InProcessHttpClient(app), "http://testserver")
    services.store.close()


def test_worker_limit_is_a_400_until_a_worker_goes(small_client: Client) -> None:
    ws = small_client.taskrouter.v1.workspaces.create(friendly_name="Small")
    workers = small_client.taskrouter.v1.workspaces(ws.sid).workers
    first = workers.create(friendly_name="one")
    workers.create(friendly_name="two")
    error = rest_error(lambda: workers.create(friendly_name="three"))
    assert (error.status, error.code) == (400, 20001)
    assert "2 workers" in error.msg and "SWITCHBOARD_MAX_WORKERS" in error.msg
    workers(first.sid).delete()
    assert workers.create(friendly_name="three").friendly_name == "three"


def test_versions_over_a_real_socket(live_client: Client) -> None:
    ws = live_client.taskrouter.v1.workspaces.create(friendly_name="Live")
    workers = live_client.taskrouter.v1.workspaces(ws.sid).workers
    worker = workers.create(friendly_name="Sam", attributes='{"skills": ["en"]}')
    assert etag(workers(worker.sid).fetch_with_http_info()) == "0"
    updated = workers(worker.sid).update_with_http_info(if_match='"0"', attributes="{}")
    assert etag(updated) == "1"
    error = rest_error(lambda: workers(worker.sid).update(if_match='"0"', attributes="{}"))
    assert (error.status, error.code) == (412, 20412)
    assert [w.sid for w in workers.list(target_workers_expression="1==1")] == [worker.sid]
