"""ListWorker: every filter, Ordering, keyset paging in both directions, and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.api.context import Services

# (name, activity, attributes), created one minute apart in this order.
STAFF = [
    ("Carol", "Available", {"team": "sales", "level": 3, "languages": ["en", "es"]}),
    ("alice", "Offline", {"team": "support", "level": 1, "languages": ["en"]}),
    ("Bob", "Available", {"team": "support", "level": 5, "languages": ["fr"]}),
    ("dave", "Unavailable", {"team": "sales", "level": 2, "languages": ["de"]}),
    ("Eve", "Available", {"team": "billing", "level": 4, "languages": ["en"]}),
]


@pytest.fixture
def ws(client: Client, workspace: Any) -> Any:
    return client.taskrouter.v1.workspaces(workspace.sid)


@pytest.fixture
def activities(ws: Any) -> dict[str, str]:
    return {a.friendly_name: a.sid for a in ws.activities.list()}


@pytest.fixture
def staff(ws: Any, activities: dict[str, str], services: Services) -> dict[str, Any]:
    import json

    created = {}
    for name, activity, attributes in STAFF:
        services.clock.advance_ms(60_000)  # type: ignore[attr-defined]
        created[name] = ws.workers.create(
            friendly_name=name, activity_sid=activities[activity], attributes=json.dumps(attributes)
        )
    return created


def names(workers: list[Any]) -> list[str]:
    return [w.friendly_name for w in workers]


def list_error(http: TestClient, workspace: Any, params: dict[str, str]) -> dict[str, Any]:
    """The error body of a refused list (the SDK's list raises a bare TwilioException that
    hides it, so raw HTTP)."""
    response = http.get(f"/v1/Workspaces/{workspace.sid}/Workers", params=params)
    assert response.status_code == 400
    body: dict[str, Any] = response.json()
    assert body["status"] == 400 and body["code"] == 20001
    return body


def test_default_order_is_creation_and_lists_carry_attributes(
    ws: Any, staff: dict[str, Any]
) -> None:
    listed = ws.workers.list()
    assert names(listed) == [name for name, _, _ in STAFF]
    assert listed[0].attributes == staff["Carol"].attributes
    assert (listed[0].activity_name, listed[0].available) == ("Available", True)


def test_filter_by_activity(ws: Any, staff: dict[str, Any], activities: dict[str, str]) -> None:
    assert names(ws.workers.list(activity_name="Available")) == ["Carol", "Bob", "Eve"]
    assert names(ws.workers.list(activity_sid=activities["Unavailable"])) == ["dave"]
    assert ws.workers.list(activity_name="available") == []


def test_unknown_activity_filters_match_nobody(ws: Any, staff: dict[str, Any]) -> None:
    assert ws.workers.list(activity_sid="WA" + "0" * 32) == []
    assert ws.workers.list(activity_name="Lunch") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", ["Carol", "Bob", "Eve"]),
        ("1", ["Carol", "Bob", "Eve"]),
        ("YES", ["Carol", "Bob", "Eve"]),
        ("false", ["alice", "dave"]),
        ("anything", ["alice", "dave"]),
    ],
)
def test_filter_by_availability(
    ws: Any, staff: dict[str, Any], value: str, expected: list[str]
) -> None:
    assert names(ws.workers.list(available=value)) == expected


@pytest.mark.both_databases
def test_filter_by_name_without_regard_to_case(ws: Any, staff: dict[str, Any]) -> None:
    assert names(ws.workers.list(friendly_name="ALICE")) == ["alice"]
    assert names(ws.workers.list(friendly_name="bob")) == ["Bob"]
    assert ws.workers.list(friendly_name="Zed") == []


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('team == "sales"', ["Carol", "dave"]),
        ('languages HAS "en" AND level >= 3', ["Carol", "Eve"]),
        ('activity_name == "Available" AND team != "sales"', ["Bob", "Eve"]),
        ("friendly_name IN ['Bob', 'dave']", ["Bob", "dave"]),
        ("1 == 1", ["Carol", "alice", "Bob", "dave", "Eve"]),
    ],
)
def test_filter_by_target_workers_expression(
    ws: Any, staff: dict[str, Any], expression: str, expected: list[str]
) -> None:
    assert names(ws.workers.list(target_workers_expression=expression)) == expected


def test_expression_can_use_sid_and_activity_sid(
    ws: Any, staff: dict[str, Any], activities: dict[str, str]
) -> None:
    sid = staff["Eve"].sid
    assert names(ws.workers.list(target_workers_expression=f"sid == '{sid}'")) == ["Eve"]
    offline = activities["Offline"]
    assert names(ws.workers.list(target_workers_expression=f"activity_sid == '{offline}'")) == [
        "alice"
    ]


@pytest.mark.both_databases
def test_filters_combine(ws: Any, staff: dict[str, Any]) -> None:
    listed = ws.workers.list(available="true", target_workers_expression='team == "support"')
    assert names(listed) == ["Bob"]


def test_bad_expression_names_parameter_and_column(
    http: TestClient, workspace: Any, staff: dict[str, Any]
) -> None:
    error = list_error(http, workspace, {"TargetWorkersExpression": "team == 'x' XOR level > 1"})
    assert "TargetWorkersExpression" in error["message"] and "XOR" in error["message"]
    assert error["message"].endswith("at column 13")
    error = list_error(http, workspace, {"TargetWorkersExpression": "team == 'x' AND (level > 1"})
    assert error["message"].endswith("at column 17")


@pytest.mark.both_databases
def test_filter_by_task_queue(ws: Any, staff: dict[str, Any]) -> None:
    sales = ws.task_queues.create(friendly_name="Sales", target_workers='team == "sales"')
    ws.task_queues.create(friendly_name="Senior", target_workers="level >= 4")
    assert names(ws.workers.list(task_queue_sid=sales.sid)) == ["Carol", "dave"]
    assert names(ws.workers.list(task_queue_name="Senior")) == ["Bob", "Eve"]
    assert names(ws.workers.list(task_queue_name="Senior", available="false")) == []


@pytest.mark.both_databases
def test_task_queue_filter_follows_worker_changes(ws: Any, staff: dict[str, Any]) -> None:
    queue = ws.task_queues.create(friendly_name="Sales", target_workers='team == "sales"')
    assert names(ws.workers.list(task_queue_sid=queue.sid)) == ["Carol", "dave"]
    ws.workers(staff["Eve"].sid).update(attributes='{"team": "sales"}')
    ws.workers(staff["Carol"].sid).delete()
    assert names(ws.workers.list(task_queue_sid=queue.sid)) == ["dave", "Eve"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"TaskQueueSid": "WA" + "0" * 32}, "TaskQueueSid must be a WQ SID"),
        ({"ActivitySid": "WK" + "0" * 32}, "ActivitySid must be a WA SID"),
        ({"PageSize": "many"}, "PageSize"),
    ],
)
def test_malformed_filters_are_400(
    http: TestClient, workspace: Any, staff: dict[str, Any], params: dict[str, str], fragment: str
) -> None:
    assert fragment in list_error(http, workspace, params)["message"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"TaskQueueSid": "WQ" + "0" * 32}, "WQ" + "0" * 32),
        ({"TaskQueueName": "Nobody"}, "TaskQueueName 'Nobody'"),
    ],
)
def test_filter_on_a_queue_that_does_not_exist_is_404(
    http: TestClient, workspace: Any, staff: dict[str, Any], params: dict[str, str], fragment: str
) -> None:
    response = http.get(f"/v1/Workspaces/{workspace.sid}/Workers", params=params)
    assert response.status_code == 404 and response.json()["code"] == 20404
    assert fragment in response.json()["message"]


def test_filter_on_a_queue_name_shared_by_two_queues_takes_both(
    ws: Any, staff: dict[str, Any]
) -> None:
    ws.task_queues.create(friendly_name="Team", target_workers='team == "billing"')
    ws.task_queues.create(friendly_name="Team", target_workers="level == 1")
    assert names(ws.workers.list(task_queue_name="Team")) == ["alice", "Eve"]


@pytest.mark.both_databases
def test_list_reflects_updates_deletes_and_activity_renames(
    ws: Any, staff: dict[str, Any], activities: dict[str, str]
) -> None:
    ws.workers(staff["alice"].sid).update(attributes='{"team": "billing"}')
    ws.workers(staff["Eve"].sid).delete()
    assert names(ws.workers.list(target_workers_expression='team == "billing"')) == ["alice"]
    ws.activities(activities["Available"]).update(friendly_name="Ready")
    listed = ws.workers.list(activity_name="Ready")
    assert names(listed) == ["Carol", "Bob"]
    assert {w.activity_name for w in listed} == {"Ready"}
    assert names(ws.workers.list(target_workers_expression='activity_name == "Ready"')) == [
        "Carol",
        "Bob",
    ]


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("DateCreated:desc", ["Eve", "dave", "Bob", "alice", "Carol"]),
        ("FriendlyName", ["alice", "Bob", "Carol", "dave", "Eve"]),
        ("FriendlyName:desc", ["Eve", "dave", "Carol", "Bob", "alice"]),
        ("DateUpdated:asc", ["Carol", "alice", "Bob", "dave", "Eve"]),
    ],
)
def test_ordering(ws: Any, staff: dict[str, Any], ordering: str, expected: list[str]) -> None:
    assert names(ws.workers.list(ordering=ordering)) == expected
    assert names(ws.workers.list(ordering=ordering, page_size=2)) == expected


@pytest.mark.both_databases
def test_ordering_by_status_change_then_name_pages_both_ways(
    ws: Any,
    workspace: Any,
    staff: dict[str, Any],
    activities: dict[str, str],
    services: Services,
    http: TestClient,
) -> None:
    # Bob and alice change activity at the same moment; the rest keep their creation time.
    services.clock.advance_ms(60_000)  # type: ignore[attr-defined]
    for name in ("Bob", "alice"):
        ws.workers(staff[name].sid).update(activity_sid=activities["Unavailable"])
    expected = ["alice", "Bob", "Eve", "dave", "Carol"]
    ordering = "DateStatusChanged:desc,FriendlyName:asc"
    assert names(ws.workers.list(ordering=ordering, page_size=2)) == expected
    url = f"/v1/Workspaces/{workspace.sid}/Workers"
    pages = [http.get(url, params={"Ordering": ordering, "PageSize": 2}).json()]
    while pages[-1]["meta"]["next_page_url"]:
        pages.append(http.get(pages[-1]["meta"]["next_page_url"]).json())
    assert [[w["friendly_name"] for w in p["workers"]] for p in pages] == [
        expected[0:2], expected[2:4], expected[4:],
    ]  # fmt: skip
    back = http.get(pages[2]["meta"]["previous_page_url"]).json()
    assert [w["friendly_name"] for w in back["workers"]] == expected[2:4]
    first = http.get(back["meta"]["previous_page_url"]).json()
    assert [w["friendly_name"] for w in first["workers"]] == expected[0:2]


def test_list_meta_carries_filters_and_absolute_urls(
    http: TestClient, workspace: Any, staff: dict[str, Any]
) -> None:
    url = f"/v1/Workspaces/{workspace.sid}/Workers"
    body = http.get(url, params={"Available": "true", "PageSize": 2}).json()
    meta = body["meta"]
    assert meta["key"] == "workers" and meta["page_size"] == 2
    assert meta["next_page_url"].startswith(
        f"http://testserver{url}?Available=true&PageSize=2&Page=1&PageToken=PT"
    )
    second = http.get(meta["next_page_url"]).json()
    assert [w["friendly_name"] for w in second["workers"]] == ["Eve"]
    assert second["meta"]["next_page_url"] is None


@pytest.mark.parametrize(
    "ordering",
    [
        "Priority:desc",
        "DateCreated:up",
        "DateCreated,DateCreated:desc",
        "friendlyname",
        "DateCreated:DESC",
        "",
        ":asc",
    ],
)
def test_bad_ordering_is_400_naming_it(
    http: TestClient, workspace: Any, staff: dict[str, Any], ordering: str
) -> None:
    assert "Ordering" in list_error(http, workspace, {"Ordering": ordering})["message"]


def test_page_token_of_another_list_is_400(
    http: TestClient, workspace: Any, staff: dict[str, Any]
) -> None:
    base = f"/v1/Workspaces/{workspace.sid}"
    activities = http.get(f"{base}/Activities", params={"PageSize": 1}).json()
    token = activities["meta"]["next_page_url"].split("PageToken=")[1]
    response = http.get(f"{base}/Workers", params={"PageToken": token})
    assert response.status_code == 400 and "PageToken" in response.json()["message"]
    by_date = http.get(f"{base}/Workers", params={"PageSize": 1}).json()
    token = by_date["meta"]["next_page_url"].split("PageToken=")[1]
    response = http.get(f"{base}/Workers", params={"PageToken": token, "Ordering": "FriendlyName"})
    assert response.status_code == 400
    assert http.get(f"{base}/Workers", params={"PageToken": "PTgarbage"}).status_code == 400


def test_empty_workspace_lists_nothing(ws: Any) -> None:
    assert ws.workers.list() == []
    assert ws.workers.list(target_workers_expression="1 == 1", ordering="FriendlyName:desc") == []


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("DateCreated", ["Carol", "alice", "Bob", "dave", "Eve"]),
        ("FriendlyName:desc,DateCreated:asc", ["Eve", "dave", "Carol", "Bob", "alice"]),
        ("DateUpdated:asc,FriendlyName:desc", ["Carol", "alice", "Bob", "dave", "Eve"]),
    ],
)
def test_next_page_survives_deleting_the_worker_it_resumes_after(
    http: TestClient,
    ws: Any,
    workspace: Any,
    staff: dict[str, Any],
    ordering: str,
    expected: list[str],
) -> None:
    url = f"/v1/Workspaces/{workspace.sid}/Workers"
    first = http.get(url, params={"Ordering": ordering, "PageSize": 2}).json()
    assert [w["friendly_name"] for w in first["workers"]] == expected[:2]
    ws.workers(staff[expected[1]].sid).delete()
    second = http.get(first["meta"]["next_page_url"]).json()
    assert [w["friendly_name"] for w in second["workers"]] == expected[2:4]


def test_queue_membership_follows_activity_when_the_expression_reads_it(
    client: Client, workspace: Any
) -> None:
    """A queue selecting by activity gains and loses a worker as its activity changes; one
    selecting by attributes keeps it."""
    ws = client.taskrouter.v1.workspaces(workspace.sid)
    activities = {a.friendly_name: a.sid for a in ws.activities.list()}
    by_activity = ws.task_queues.create(
        friendly_name="Ready", target_workers='activity_name == "Available"'
    )
    by_skill = ws.task_queues.create(friendly_name="English", target_workers='skills HAS "en"')
    worker = ws.workers.create(
        friendly_name="ana", activity_sid=activities["Available"], attributes='{"skills": ["en"]}'
    )

    def members(queue_sid: str) -> list[str]:
        return [w.sid for w in ws.workers.list(task_queue_sid=queue_sid)]

    assert members(by_activity.sid) == [worker.sid] and members(by_skill.sid) == [worker.sid]
    ws.workers(worker.sid).update(activity_sid=activities["Offline"])
    assert members(by_activity.sid) == [] and members(by_skill.sid) == [worker.sid]
    ws.workers(worker.sid).update(activity_sid=activities["Available"])
    assert members(by_activity.sid) == [worker.sid]


def test_expressions_follow_activity_changes_and_attributes_win(
    ws: Any, staff: dict[str, Any], activities: dict[str, str]
) -> None:
    """An activity change is seen by expressions on the built-in fields at once, while a
    worker whose attributes define those fields keeps its own values."""
    ws.workers(staff["alice"].sid).update(activity_sid=activities["Available"])
    available = 'activity_name == "Available"'
    assert names(ws.workers.list(target_workers_expression=available)) == [
        "Carol", "alice", "Bob", "Eve",
    ]  # fmt: skip
    offline = activities["Offline"]
    ws.workers(staff["Bob"].sid).update(activity_sid=offline)
    assert names(ws.workers.list(target_workers_expression=f"activity_sid == '{offline}'")) == [
        "Bob"
    ]
    zed = ws.workers.create(
        friendly_name="Zed", activity_sid=offline,
        attributes='{"activity_name": "Lunch", "team": "ops"}',
    )  # fmt: skip
    ws.workers(zed.sid).update(activity_sid=activities["Available"])
    assert "Zed" not in names(ws.workers.list(target_workers_expression=available))
    assert names(ws.workers.list(target_workers_expression='activity_name == "Lunch"')) == ["Zed"]
