"""Workflows through the official SDK: every property, updates, deletion, lists, and bad
configurations that must be a 400 naming where the problem is, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.api.context import Services
from tests.support import ACCOUNT_SID, rest_error


def ws_of(client: Client, workspace: Any) -> Any:
    return client.taskrouter.v1.workspaces(workspace.sid)


def queue(client: Client, workspace: Any, name: str = "Support", **kw: Any) -> str:
    sid: str = ws_of(client, workspace).task_queues.create(friendly_name=name, **kw).sid
    return sid


def to_queue(queue_sid: str) -> str:
    """The plainest configuration: every task to one queue."""
    return json.dumps({"task_routing": {"filters": [
        {"filter_friendly_name": "all", "expression": "1==1", "targets": [{"queue": queue_sid}]}
    ]}})  # fmt: skip


def test_create_renders_every_property(client: Client, workspace: Any) -> None:
    text = to_queue(queue(client, workspace))
    wf = ws_of(client, workspace).workflows.create(friendly_name="Sales", configuration=text)
    assert wf.sid.startswith("WW") and len(wf.sid) == 34
    assert wf.account_sid == ACCOUNT_SID and wf.workspace_sid == workspace.sid
    assert wf.friendly_name == "Sales"
    assert wf.configuration == text  # exactly as sent
    assert wf.document_content_type == "application/json"
    assert wf.task_reservation_timeout == 120
    assert wf.assignment_callback_url is None and wf.fallback_assignment_callback_url is None
    assert wf.date_created == wf.date_updated
    assert wf.url == f"{workspace.url}/Workflows/{wf.sid}"
    assert wf.links == {
        "statistics": f"{wf.url}/Statistics",
        "real_time_statistics": f"{wf.url}/RealTimeStatistics",
        "cumulative_statistics": f"{wf.url}/CumulativeStatistics",
    }


def test_create_with_callbacks_and_timeout(
    client: Client, workspace: Any, http: TestClient
) -> None:
    q = queue(client, workspace)
    response = http.post(
        f"/v1/Workspaces/{workspace.sid}/Workflows",
        data={
            "FriendlyName": "Callbacks", "Configuration": to_queue(q),
            "AssignmentCallbackUrl": "https://example.com/assign",
            "FallbackAssignmentCallbackUrl": "https://example.com/fallback",
            "TaskReservationTimeout": "86400",
        },
    )  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert body["assignment_callback_url"] == "https://example.com/assign"
    assert body["fallback_assignment_callback_url"] == "https://example.com/fallback"
    assert body["task_reservation_timeout"] == 86400
    fetched = ws_of(client, workspace).workflows(body["sid"]).fetch()
    assert fetched.assignment_callback_url == "https://example.com/assign"


def test_fetch_update_delete(client: Client, workspace: Any) -> None:
    q1, q2 = queue(client, workspace, "One"), queue(client, workspace, "Two")
    workflows = ws_of(client, workspace).workflows
    wf = workflows.create(friendly_name="Flow", configuration=to_queue(q1))
    assert workflows(wf.sid).fetch().configuration == to_queue(q1)
    updated = workflows(wf.sid).update(
        friendly_name="Renamed", configuration=to_queue(q2), task_reservation_timeout=30,
        assignment_callback_url="https://example.com/a",
    )  # fmt: skip
    assert (updated.friendly_name, updated.configuration) == ("Renamed", to_queue(q2))
    assert updated.task_reservation_timeout == 30
    assert updated.assignment_callback_url == "https://example.com/a"
    cleared = workflows(wf.sid).update(assignment_callback_url="")
    assert cleared.assignment_callback_url is None
    assert cleared.friendly_name == "Renamed"  # untouched fields keep their values
    assert workflows(wf.sid).delete() is True
    error = rest_error(workflows(wf.sid).fetch)
    assert (error.status, error.code) == (404, 20404)
    assert rest_error(workflows(wf.sid).delete).status == 404


@pytest.mark.parametrize("sid", ["WW" + "0" * 32, "nonsense", "WT" + "0" * 32])
def test_unknown_workflow_is_404(client: Client, workspace: Any, sid: str) -> None:
    workflows = ws_of(client, workspace).workflows
    for call in (workflows(sid).fetch, lambda: workflows(sid).update(friendly_name="x"),
                 workflows(sid).delete):  # fmt: skip
        error = rest_error(call)
        assert (error.status, error.code) == (404, 20404)


def test_workflow_of_another_account_is_404(
    client: Client, other_client: Client, workspace: Any
) -> None:
    wf = ws_of(client, workspace).workflows.create(
        friendly_name="Mine", configuration=to_queue(queue(client, workspace))
    )
    error = rest_error(other_client.taskrouter.v1.workspaces(workspace.sid).workflows(wf.sid).fetch)
    assert error.status == 404


@pytest.mark.both_databases
def test_list_filters_by_name_and_pages(
    client: Client, workspace: Any, http: TestClient, services: Services
) -> None:
    q = queue(client, workspace)
    workflows = ws_of(client, workspace).workflows
    made = []
    for name in "ABCA":
        services.clock.advance_ms(1000)  # type: ignore[attr-defined]
        made.append(workflows.create(friendly_name=name, configuration=to_queue(q)).sid)
    assert [w.sid for w in workflows.list(page_size=1)] == made  # creation order, over pages
    assert [w.sid for w in workflows.list(friendly_name="A")] == [made[0], made[3]]
    assert workflows.list(friendly_name="Z") == []
    page = http.get(f"/v1/Workspaces/{workspace.sid}/Workflows?FriendlyName=A&PageSize=1").json()
    assert page["meta"]["key"] == "workflows" and len(page["workflows"]) == 1
    assert "FriendlyName=A" in page["meta"]["next_page_url"]
    assert page["workflows"][0]["configuration"] == to_queue(q)


# -- bad input ------------------------------------------------------------------------------


def _bad_configurations(q: str) -> list[tuple[str, str]]:
    """(configuration, fragment its error must contain)."""
    target = {"queue": q}
    return [
        ("{", "line 1 column 2"),
        ("[]", "must be a JSON object"),
        (json.dumps({"task_routing": {"filters": [{"expression": "1==1", "targets": [
            {**target, "timeout": 0}]}]}}),
         "task_routing.filters[0].targets[0].timeout: must be between 1 and 2147483647, got 0"),
        (json.dumps({"task_routing": {"filters": [{"expression": "a ==", "targets": [target]}]}}),
         "task_routing.filters[0].expression"),
        (json.dumps({"task_routing": {"filters": [{"expression": "1==1", "targets": [
            {**target, "expression": "worker.a == (", }]}]}}),
         "task_routing.filters[0].targets[0].expression"),
        (json.dumps({"task_routing": {"filters": [{"expression": "1==1", "targets": [target]}],
                                      "default_filter": {"queue": "nope"}}}),
         "task_routing.default_filter.queue"),
        (json.dumps({"task_routing": {"filters": [{"expression": "1==1", "targets": [
            {**target, "time_out": 5}]}]}}),
         "task_routing.filters[0].targets[0].time_out: unknown key"),
        (json.dumps({"task_routing": {"filters": [{"expression": "1==1", "targets": [
            {"queue": "WQ" + "f" * 32}]}]}}),
         "WQ" + "f" * 32),
    ]  # fmt: skip


def test_bad_configuration_is_400_naming_the_place(client: Client, workspace: Any) -> None:
    q = queue(client, workspace)
    workflows = ws_of(client, workspace).workflows
    good = workflows.create(friendly_name="Good", configuration=to_queue(q))
    for text, fragment in _bad_configurations(q):
        error = rest_error(lambda t=text: workflows.create(friendly_name="Bad", configuration=t))
        assert (error.status, error.code) == (400, 20001), text
        assert fragment in error.msg, (fragment, error.msg)
        error = rest_error(lambda t=text: workflows(good.sid).update(configuration=t))
        assert error.status == 400 and fragment in error.msg
    assert [w.sid for w in workflows.list()] == [good.sid]
    assert workflows(good.sid).fetch().configuration == to_queue(q)


def test_queue_of_another_workspace_is_refused(client: Client, workspace: Any) -> None:
    other = client.taskrouter.v1.workspaces.create(friendly_name="Other")
    foreign = queue(client, other)
    error = rest_error(
        lambda: ws_of(client, workspace).workflows.create(
            friendly_name="X", configuration=to_queue(foreign)
        )
    )
    assert error.status == 400 and foreign in error.msg and "Configuration" in error.msg


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"Configuration": "CONFIG"}, "FriendlyName"),
        ({"FriendlyName": "x"}, "Configuration"),
        ({"FriendlyName": "  ", "Configuration": "CONFIG"}, "FriendlyName"),
        ({"FriendlyName": "x" * 65, "Configuration": "CONFIG"}, "FriendlyName"),
        ({"FriendlyName": "x", "Configuration": ""}, "Configuration"),
        ({"FriendlyName": "x", "Configuration": "CONFIG", "TaskReservationTimeout": "0"},
         "TaskReservationTimeout"),
        ({"FriendlyName": "x", "Configuration": "CONFIG", "TaskReservationTimeout": "86401"},
         "TaskReservationTimeout"),
        ({"FriendlyName": "x", "Configuration": "CONFIG", "TaskReservationTimeout": "soon"},
         "TaskReservationTimeout"),
        ({"FriendlyName": "x", "Configuration": "CONFIG", "AssignmentCallbackUrl": "ftp://x"},
         "AssignmentCallbackUrl"),
        ({"FriendlyName": "x", "Configuration": "CONFIG",
          "FallbackAssignmentCallbackUrl": "not a url"}, "FallbackAssignmentCallbackUrl"),
    ],
)  # fmt: skip
def test_bad_create_is_400_and_creates_nothing(
    client: Client, workspace: Any, http: TestClient, data: dict[str, str], fragment: str
) -> None:
    config = to_queue(queue(client, workspace))
    body = {k: config if v == "CONFIG" else v for k, v in data.items()}
    response = http.post(f"/v1/Workspaces/{workspace.sid}/Workflows", data=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 20001 and fragment in response.json()["message"]
    assert ws_of(client, workspace).workflows.list() == []


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"FriendlyName": ""}, "FriendlyName"),
        ({"TaskReservationTimeout": "-5"}, "TaskReservationTimeout"),
        (
            {"FallbackAssignmentCallbackUrl": "mailto:x@example.com"},
            "FallbackAssignmentCallbackUrl",
        ),
    ],
)
def test_bad_update_is_400_and_changes_nothing(
    client: Client, workspace: Any, http: TestClient, data: dict[str, str], fragment: str
) -> None:
    wf = ws_of(client, workspace).workflows.create(
        friendly_name="Keep", configuration=to_queue(queue(client, workspace))
    )
    response = http.post(f"/v1/Workspaces/{workspace.sid}/Workflows/{wf.sid}", data=data)
    assert response.status_code == 400 and fragment in response.json()["message"]
    after = ws_of(client, workspace).workflows(wf.sid).fetch()
    assert (after.friendly_name, after.task_reservation_timeout) == ("Keep", 120)
    assert after.date_updated == wf.date_updated


def test_re_evaluate_tasks_is_a_lenient_flag(
    client: Client, workspace: Any, http: TestClient
) -> None:
    """`ReEvaluateTasks` is a string: true/1/yes turn it on, anything else is false (no 400)."""
    wf = ws_of(client, workspace).workflows.create(
        friendly_name="Flag", configuration=to_queue(queue(client, workspace))
    )
    for value in ("true", "false", "maybe", "YES"):
        response = http.post(
            f"/v1/Workspaces/{workspace.sid}/Workflows/{wf.sid}", data={"ReEvaluateTasks": value}
        )
        assert response.status_code == 200, (value, response.text)


@pytest.mark.both_databases
def test_delete_is_refused_while_open_tasks_use_it(client: Client, workspace: Any) -> None:
    ws = ws_of(client, workspace)
    wf = ws.workflows.create(friendly_name="Busy", configuration=to_queue(queue(client, workspace)))
    task = ws.tasks.create(attributes="{}")
    error = rest_error(ws.workflows(wf.sid).delete)
    assert error.status == 400 and "open tasks" in error.msg
    ws.tasks(task.sid).update(assignment_status="canceled", reason="done")
    assert ws.workflows(wf.sid).delete() is True


def test_workflow_events(client: Client, workspace: Any, services: Services) -> None:
    workflows = ws_of(client, workspace).workflows
    wf = workflows.create(friendly_name="Ev", configuration=to_queue(queue(client, workspace)))
    workflows(wf.sid).update(friendly_name="Ev2")
    workflows(wf.sid).delete()
    events = [
        (e.event_type, e.resource_sid, json.loads(e.data)["workflow_name"])
        for e in services.store.events.in_order(workspace.sid)
        if e.event_type.startswith("workflow.")
    ]
    assert events == [
        ("workflow.created", wf.sid, "Ev"),
        ("workflow.updated", wf.sid, "Ev2"),
        ("workflow.deleted", wf.sid, "Ev2"),
    ]


def test_odd_values_never_cause_a_server_error(
    client: Client, workspace: Any, http: TestClient
) -> None:
    """Every parameter of every workflow operation, given odd values: a 2xx or a Twilio 4xx."""
    q = queue(client, workspace)
    url = f"/v1/Workspaces/{workspace.sid}/Workflows"
    wf = ws_of(client, workspace).workflows.create(friendly_name="F", configuration=to_queue(q))
    names = ["FriendlyName", "Configuration", "AssignmentCallbackUrl", "ReEvaluateTasks",
             "FallbackAssignmentCallbackUrl", "TaskReservationTimeout"]  # fmt: skip
    values = ["", " ", "null", "-1", "1e309", "9" * 40, "[]", "{}", '{"task_routing":', "\u2603",
              '{"task_routing": {"default_filter": {"queue": "WQ' + "0" * 32 + '"}}}',
              '{"task_routing": {"filters": [{"expression": "' + "(" * 5000 + '"}]}}',
              "x" * 5000]  # fmt: skip
    for value in values:
        base = {"FriendlyName": "F", "Configuration": to_queue(q)}
        responses = [http.post(url, data={**base, name: value}) for name in names]
        responses += [http.post(f"{url}/{wf.sid}", data={name: value}) for name in names]
        responses += [http.get(url, params={name: value}) for name in ("FriendlyName", "PageToken")]
        for response in responses:
            assert response.status_code < 500, (value, response.text)
            if response.status_code >= 400:
                assert set(response.json()) == {"code", "message", "more_info", "status"}
