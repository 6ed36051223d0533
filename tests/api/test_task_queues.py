"""Task queues through the official SDK: defaults, validation, activities, updates, deletion,
and the list filters that ask the routing index (WorkerSid, EvaluateWorkerAttributes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

import switchboard.engine.task_queues as task_queue_ops
from switchboard.api.context import Services
from switchboard.timers import ManualClock
from tests.support import ACCOUNT_SID, rest_error


def queues(client: Client, ws: Any) -> Any:
    return client.taskrouter.v1.workspaces(ws.sid).task_queues


def activity_sid(client: Client, ws: Any, name: str) -> str:
    sid: str = client.taskrouter.v1.workspaces(ws.sid).activities.list(friendly_name=name)[0].sid
    return sid


def create_worker(http: TestClient, ws: Any, name: str, attributes: dict[str, Any]) -> str:
    response = http.post(
        f"/v1/Workspaces/{ws.sid}/Workers",
        data={"FriendlyName": name, "Attributes": json.dumps(attributes)},
    )
    assert response.status_code == 201, response.text
    sid: str = response.json()["sid"]
    return sid


def names(items: Any) -> list[str]:
    """Sorted: queues made in one test share a creation time on the manual clock."""
    return sorted(q.friendly_name for q in items)


def test_create_has_defaults_and_links(client: Client, workspace: Any) -> None:
    queue = queues(client, workspace).create(friendly_name="Support")
    assert queue.sid.startswith("WQ") and len(queue.sid) == 34
    assert (queue.account_sid, queue.workspace_sid) == (ACCOUNT_SID, workspace.sid)
    assert queue.friendly_name == "Support"
    assert queue.target_workers == "1==1"
    assert queue.max_reserved_workers == 1
    assert queue.task_order == "FIFO"
    assert queue.reservation_activity_sid is None and queue.reservation_activity_name is None
    assert queue.assignment_activity_sid is None and queue.assignment_activity_name is None
    url = f"{workspace.url}/TaskQueues/{queue.sid}"
    assert queue.url == url
    assert queue.links == {
        "workspace": workspace.url,
        "statistics": f"{url}/Statistics",
        "real_time_statistics": f"{url}/RealTimeStatistics",
        "cumulative_statistics": f"{url}/CumulativeStatistics",
        "list_statistics": f"{workspace.url}/TaskQueues/Statistics",
        "bulk_real_time_statistics": f"{workspace.url}/TaskQueues/RealTimeStatistics",
    }
    assert queues(client, workspace)(queue.sid).fetch().target_workers == "1==1"


def test_create_with_every_parameter(client: Client, workspace: Any) -> None:
    unavailable = activity_sid(client, workspace, "Unavailable")
    offline = activity_sid(client, workspace, "Offline")
    queue = queues(client, workspace).create(
        friendly_name="Spanish",
        target_workers='languages HAS "es" AND level >= 2',
        max_reserved_workers=50,
        task_order="LIFO",
        reservation_activity_sid=unavailable,
        assignment_activity_sid=offline,
    )
    assert queue.target_workers == 'languages HAS "es" AND level >= 2'
    assert (queue.max_reserved_workers, queue.task_order) == (50, "LIFO")
    assert (queue.reservation_activity_sid, queue.reservation_activity_name) == (
        unavailable, "Unavailable",
    )  # fmt: skip
    assert (queue.assignment_activity_sid, queue.assignment_activity_name) == (offline, "Offline")
    activities = f"{workspace.url}/Activities"
    assert queue.links["reservation_activity"] == f"{activities}/{unavailable}"
    assert queue.links["assignment_activity"] == f"{activities}/{offline}"
    fetched = queues(client, workspace)(queue.sid).fetch()
    assert fetched.reservation_activity_name == "Unavailable"
    assert fetched.assignment_activity_name == "Offline"


def foreign_activity(client: Client) -> str:
    other = client.taskrouter.v1.workspaces.create(friendly_name="Other")
    sid: str = client.taskrouter.v1.workspaces(other.sid).activities.list()[0].sid
    return sid


BAD_QUEUE_PARAMS = [
    ({"TargetWorkers": "skill == "}, ["TargetWorkers", "column 9"]),
    ({"TargetWorkers": "level > 1 AND (x == 2"}, ["TargetWorkers", "column"]),
    ({"TargetWorkers": "team == sales-east"}, ["TargetWorkers", "column"]),
    ({"MaxReservedWorkers": "0"}, ["MaxReservedWorkers"]),
    ({"MaxReservedWorkers": "51"}, ["MaxReservedWorkers"]),
    ({"MaxReservedWorkers": "two"}, ["MaxReservedWorkers"]),
    ({"TaskOrder": "RANDOM"}, ["TaskOrder"]),
    ({"ReservationActivitySid": "WA" + "0" * 32}, ["ReservationActivitySid"]),
    ({"ReservationActivitySid": "Offline"}, ["ReservationActivitySid"]),
    ({"AssignmentActivitySid": "WA" + "0" * 32}, ["AssignmentActivitySid"]),
    ({"AssignmentActivitySid": "WK" + "0" * 32}, ["AssignmentActivitySid"]),
    ({"FriendlyName": "x" * 65}, ["FriendlyName"]),
    ({"FriendlyName": "  "}, ["FriendlyName"]),
]


@pytest.mark.parametrize(("data", "fragments"), BAD_QUEUE_PARAMS)
def test_bad_creates_are_400_and_create_nothing(
    client: Client, http: TestClient, workspace: Any, data: dict[str, str], fragments: list[str]
) -> None:
    body = {"FriendlyName": "Q", **data}
    response = http.post(f"/v1/Workspaces/{workspace.sid}/TaskQueues", data=body)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == 20001
    for fragment in fragments:
        assert fragment in error["message"]
    assert queues(client, workspace).list() == []


def test_create_requires_friendly_name(http: TestClient, workspace: Any) -> None:
    response = http.post(f"/v1/Workspaces/{workspace.sid}/TaskQueues", data={})
    assert response.status_code == 400 and "FriendlyName" in response.json()["message"]


def test_activities_of_another_workspace_are_refused(client: Client, workspace: Any) -> None:
    sid = foreign_activity(client)
    error = rest_error(queues(client, workspace).create, friendly_name="Q",
                       reservation_activity_sid=sid)  # fmt: skip
    assert error.status == 400 and "ReservationActivitySid" in error.msg


def test_update_each_field(client: Client, workspace: Any, services: Services) -> None:
    created = queues(client, workspace).create(friendly_name="Support")
    assert isinstance(services.clock, ManualClock)
    services.clock.advance_ms(3_000)
    unavailable = activity_sid(client, workspace, "Unavailable")
    queue = queues(client, workspace)(created.sid)
    assert queue.update(friendly_name="Help").friendly_name == "Help"
    assert queue.update(target_workers="level > 2").target_workers == "level > 2"
    assert queue.update(max_reserved_workers=7).max_reserved_workers == 7
    assert queue.update(task_order="LIFO").task_order == "LIFO"
    updated = queue.update(reservation_activity_sid=unavailable)
    assert updated.reservation_activity_name == "Unavailable"
    updated = queue.update(assignment_activity_sid=unavailable)
    assert updated.assignment_activity_name == "Unavailable"
    fetched = queue.fetch()
    assert (fetched.friendly_name, fetched.target_workers) == ("Help", "level > 2")
    assert (fetched.max_reserved_workers, fetched.task_order) == (7, "LIFO")
    assert fetched.reservation_activity_sid == fetched.assignment_activity_sid == unavailable
    assert fetched.date_updated > created.date_updated
    assert fetched.date_created == created.date_created


def test_an_empty_activity_sid_clears_it(client: Client, workspace: Any) -> None:
    offline = activity_sid(client, workspace, "Offline")
    created = queues(client, workspace).create(
        friendly_name="Q", reservation_activity_sid=offline, assignment_activity_sid=offline
    )
    cleared = queues(client, workspace)(created.sid).update(reservation_activity_sid="")
    assert cleared.reservation_activity_sid is None and cleared.reservation_activity_name is None
    assert "reservation_activity" not in cleared.links
    assert cleared.assignment_activity_sid == offline


@pytest.mark.parametrize(("data", "fragments"), BAD_QUEUE_PARAMS)
def test_bad_updates_are_400_and_change_nothing(
    client: Client, http: TestClient, workspace: Any, data: dict[str, str], fragments: list[str]
) -> None:
    created = queues(client, workspace).create(friendly_name="Q", target_workers="level > 1")
    response = http.post(f"/v1/Workspaces/{workspace.sid}/TaskQueues/{created.sid}", data=data)
    assert response.status_code == 400
    for fragment in fragments:
        assert fragment in response.json()["message"]
    fetched = queues(client, workspace)(created.sid).fetch()
    assert (fetched.friendly_name, fetched.target_workers) == ("Q", "level > 1")
    assert (fetched.max_reserved_workers, fetched.task_order) == (1, "FIFO")
    assert fetched.reservation_activity_sid is None and fetched.assignment_activity_sid is None
    assert fetched.date_updated == created.date_updated


def test_a_blank_target_workers_selects_nobody(
    client: Client, http: TestClient, workspace: Any
) -> None:
    queue = queues(client, workspace).create(friendly_name="Parking", target_workers="")
    assert queue.target_workers == ""
    everyone = queues(client, workspace).create(friendly_name="Everyone")
    worker = create_worker(http, workspace, "alice", {})
    assert names(queues(client, workspace).list(worker_sid=worker)) == ["Everyone"]
    assert names(queues(client, workspace).list(evaluate_worker_attributes="{}")) == ["Everyone"]
    queues(client, workspace)(everyone.sid).update(target_workers="")
    assert queues(client, workspace).list(worker_sid=worker) == []


@pytest.mark.both_databases
def test_delete(client: Client, workspace: Any, http: TestClient) -> None:
    keep = queues(client, workspace).create(friendly_name="Keep")
    gone = queues(client, workspace).create(friendly_name="Gone")
    worker = create_worker(http, workspace, "alice", {})
    assert len(queues(client, workspace).list(worker_sid=worker)) == 2
    assert queues(client, workspace)(gone.sid).delete() is True
    assert rest_error(queues(client, workspace)(gone.sid).fetch).status == 404
    assert rest_error(queues(client, workspace)(gone.sid).delete).status == 404
    assert [q.sid for q in queues(client, workspace).list()] == [keep.sid]
    # The routing index forgets it too.
    assert [q.sid for q in queues(client, workspace).list(worker_sid=worker)] == [keep.sid]
    assert [q.sid for q in queues(client, workspace).list(evaluate_worker_attributes="{}")] == [
        keep.sid
    ]


@pytest.mark.both_databases
def test_activity_used_by_a_queue_cannot_be_deleted(client: Client, workspace: Any) -> None:
    unavailable = activity_sid(client, workspace, "Unavailable")
    queues(client, workspace).create(friendly_name="Q", assignment_activity_sid=unavailable)
    activity = client.taskrouter.v1.workspaces(workspace.sid).activities(unavailable)
    assert rest_error(activity.delete).status == 400


@pytest.mark.parametrize("sid", ["WQ" + "0" * 32, "WA" + "0" * 32, "support", "WQ123"])
def test_unknown_queues_are_404(client: Client, workspace: Any, sid: str) -> None:
    queues(client, workspace).create(friendly_name="support")
    for call in (
        queues(client, workspace)(sid).fetch,
        lambda: queues(client, workspace)(sid).update(friendly_name="x"),
        queues(client, workspace)(sid).delete,
    ):
        error = rest_error(call)
        assert error.status == 404 and error.code == 20404


def test_queues_of_another_account_do_not_exist(
    client: Client, other_client: Client, workspace: Any
) -> None:
    queue = queues(client, workspace).create(friendly_name="Mine")
    theirs = other_client.taskrouter.v1.workspaces(workspace.sid).task_queues
    with pytest.raises(TwilioException, match="20404"):
        theirs.list()
    for call in (
        lambda: theirs.create(friendly_name="x"),
        theirs(queue.sid).fetch,
        lambda: theirs(queue.sid).update(friendly_name="x"),
        theirs(queue.sid).delete,
    ):
        assert rest_error(call).status == 404
    assert names(queues(client, workspace).list()) == ["Mine"]


def test_at_most_5000_queues(
    client: Client, workspace: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(task_queue_ops, "MAX_TASK_QUEUES", 2)
    queues(client, workspace).create(friendly_name="a")
    queues(client, workspace).create(friendly_name="b")
    error = rest_error(queues(client, workspace).create, friendly_name="c")
    assert error.status == 400 and "at most 2 task queues" in error.msg
    queues(client, workspace)(queues(client, workspace).list(friendly_name="a")[0].sid).delete()
    queues(client, workspace).create(friendly_name="c")
    # A refused create leaves the routing index intact: later queues are still matched.
    assert names(queues(client, workspace).list(evaluate_worker_attributes="{}")) == ["b", "c"]


@pytest.mark.both_databases
def test_list_filters_by_friendly_name_exactly(client: Client, workspace: Any) -> None:
    for name in ("Sales", "Sales EMEA", "sales"):
        queues(client, workspace).create(friendly_name=name)
    assert names(queues(client, workspace).list(friendly_name="Sales")) == ["Sales"]
    assert queues(client, workspace).list(friendly_name="Sal") == []


def make_skill_queues(client: Client, ws: Any) -> None:
    queues(client, ws).create(friendly_name="Everyone")
    queues(client, ws).create(friendly_name="Sales", target_workers='skills HAS "sales"')
    queues(client, ws).create(friendly_name="Tech", target_workers="tech_support_skill > 5")
    queues(client, ws).create(friendly_name="Nobody", target_workers="1==0")


def test_evaluate_worker_attributes(client: Client, workspace: Any) -> None:
    make_skill_queues(client, workspace)

    def matching(attributes: dict[str, Any]) -> list[str]:
        found = queues(client, workspace).list(evaluate_worker_attributes=json.dumps(attributes))
        return names(found)

    assert matching({}) == ["Everyone"]
    assert matching({"skills": ["sales", "billing"]}) == ["Everyone", "Sales"]
    # Twilio's own example: a numeric string compares as a number.
    assert matching({"tech_support_skill": "6"}) == ["Everyone", "Tech"]
    assert matching({"skills": ["sales"], "tech_support_skill": 9}) == ["Everyone", "Sales", "Tech"]
    found = queues(client, workspace).list(
        evaluate_worker_attributes='{"skills": ["sales"]}', friendly_name="Sales"
    )
    assert names(found) == ["Sales"]


@pytest.mark.parametrize(
    "value", ["{", "[1, 2]", '"sales"', "null", "42", json.dumps({"a": "x" * 4100})]
)
def test_evaluate_worker_attributes_must_be_a_json_object(
    http: TestClient, workspace: Any, value: str
) -> None:
    response = http.get(
        f"/v1/Workspaces/{workspace.sid}/TaskQueues", params={"EvaluateWorkerAttributes": value}
    )
    assert response.status_code == 400
    assert "EvaluateWorkerAttributes" in response.json()["message"]


@pytest.mark.both_databases
def test_worker_sid_lists_the_worker_s_queues(
    client: Client, http: TestClient, workspace: Any
) -> None:
    make_skill_queues(client, workspace)
    seller = create_worker(http, workspace, "seller", {"skills": ["sales"]})
    techie = create_worker(http, workspace, "techie", {"tech_support_skill": 7})
    assert names(queues(client, workspace).list(worker_sid=seller)) == ["Everyone", "Sales"]
    assert names(queues(client, workspace).list(worker_sid=techie)) == ["Everyone", "Tech"]
    # Membership follows changes to a queue's expression and to the worker's attributes.
    tech = queues(client, workspace).list(friendly_name="Tech")[0]
    queues(client, workspace)(tech.sid).update(target_workers="tech_support_skill > 8")
    assert names(queues(client, workspace).list(worker_sid=techie)) == ["Everyone"]
    worker = client.taskrouter.v1.workspaces(workspace.sid).workers(techie)
    worker.update(attributes=json.dumps({"tech_support_skill": 9, "skills": ["sales"]}))
    assert names(queues(client, workspace).list(worker_sid=techie)) == ["Everyone", "Sales", "Tech"]
    found = queues(client, workspace).list(
        worker_sid=techie, evaluate_worker_attributes="{}", friendly_name="Everyone"
    )
    assert names(found) == ["Everyone"]


def test_worker_sid_of_no_worker_here_is_404(
    client: Client, http: TestClient, workspace: Any
) -> None:
    url = f"/v1/Workspaces/{workspace.sid}/TaskQueues"
    unknown = http.get(url, params={"WorkerSid": "WK" + "0" * 32})
    assert unknown.status_code == 404 and "WK" + "0" * 32 in unknown.json()["message"]
    other_ws = client.taskrouter.v1.workspaces.create(friendly_name="Other")
    elsewhere = create_worker(http, other_ws, "alice", {})
    assert http.get(url, params={"WorkerSid": elsewhere}).status_code == 404
    malformed = http.get(url, params={"WorkerSid": "alice"})
    assert malformed.status_code == 400 and "WorkerSid" in malformed.json()["message"]


@pytest.mark.both_databases
def test_ordering(client: Client, workspace: Any, services: Services) -> None:
    assert isinstance(services.clock, ManualClock)
    for name in ("b", "c", "a"):
        queues(client, workspace).create(friendly_name=name)
        services.clock.advance_ms(1_000)
    first = queues(client, workspace).list(friendly_name="b")[0]
    queues(client, workspace)(first.sid).update(max_reserved_workers=2)

    def ordered(ordering: str) -> list[str]:
        found = queues(client, workspace).list(ordering=ordering, page_size=2)
        return [q.friendly_name for q in found]

    assert [q.friendly_name for q in queues(client, workspace).list()] == ["b", "c", "a"]
    assert ordered("DateCreated:desc") == ["a", "c", "b"]
    assert ordered("DateCreated") == ["b", "c", "a"]
    assert ordered("FriendlyName:asc") == ["a", "b", "c"]
    assert ordered("FriendlyName:desc") == ["c", "b", "a"]
    assert ordered("DateUpdated:desc") == ["b", "a", "c"]
    assert ordered("DateUpdated:asc,FriendlyName:desc") == ["c", "a", "b"]


@pytest.mark.parametrize(
    "ordering",
    ["Priority:asc", "FriendlyName:up", "friendlyname", "", "DateCreated:asc,DateCreated:desc"],
)
def test_bad_ordering_is_400(http: TestClient, workspace: Any, ordering: str) -> None:
    response = http.get(f"/v1/Workspaces/{workspace.sid}/TaskQueues", params={"Ordering": ordering})
    assert response.status_code == 400 and "Ordering" in response.json()["message"]


@pytest.mark.both_databases
def test_list_pages_carry_filters_and_ordering(
    client: Client, http: TestClient, workspace: Any
) -> None:
    for i in range(5):
        queues(client, workspace).create(friendly_name=f"q{i}")
    url = f"/v1/Workspaces/{workspace.sid}/TaskQueues"
    params = {"Ordering": "FriendlyName:desc", "EvaluateWorkerAttributes": "{}", "PageSize": 2}
    page = http.get(url, params=params).json()
    assert page["meta"]["key"] == "task_queues"
    assert "Ordering=FriendlyName%3Adesc" in page["meta"]["next_page_url"]
    assert "EvaluateWorkerAttributes=%7B%7D" in page["meta"]["next_page_url"]
    seen = [q["friendly_name"] for q in page["task_queues"]]
    while page["meta"]["next_page_url"]:
        page = http.get(page["meta"]["next_page_url"]).json()
        seen += [q["friendly_name"] for q in page["task_queues"]]
    assert seen == ["q4", "q3", "q2", "q1", "q0"]
    # A token belongs to its ordering: reusing it with another ordering is refused.
    first = http.get(url, params=params).json()
    token = first["meta"]["next_page_url"].split("PageToken=")[1]
    response = http.get(url, params={"Ordering": "FriendlyName:asc", "PageToken": token})
    assert response.status_code == 400 and "PageToken" in response.json()["message"]
