"""Tasks through the official SDK: every property, defaults, updates and the task lifecycle,
versions and If-Match, deletion, every list filter, and bad input (a 400, 404, 409 or 412 that
names the problem, never a 500)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.api.context import Services
from tests.support import ACCOUNT_SID, START_MS, Env, etag, iso, rest_error

LINKS = {"task_queue", "workflow", "workspace", "reservations"}


@pytest.fixture
def env(client: Client, services: Services, workspace: Any) -> Env:
    return Env(client, services, workspace)


@pytest.fixture
def parked(env: Env) -> str:
    """A workflow whose one queue selects no worker, so tasks wait there (pending)."""
    return env.to_queue(env.queue("Parked", target_workers="skill == 'none'"))


# -- create and fetch -------------------------------------------------------------------------


def test_create_renders_every_property(env: Env, parked: str) -> None:
    text = '{ "type" : "support",  "lang": "en" }'
    response = env.ws.tasks.create_with_http_info(attributes=text)
    task = response.data
    assert response.status_code == 201 and etag(response) == str(task_version(env, task.sid))
    assert task.sid.startswith("WT") and len(task.sid) == 34
    assert (task.account_sid, task.workspace_sid) == (ACCOUNT_SID, env.sid)
    assert task.attributes == text  # exactly as sent
    assert task.assignment_status == "pending"
    assert (task.priority, task.timeout, task.age, task.reason) == (0, 86400, 0, None)
    assert task.addons == "{}"
    assert (task.workflow_sid, task.workflow_friendly_name) == (parked, "Flow")
    assert task.task_queue_friendly_name == "Parked" and task.task_queue_sid.startswith("WQ")
    assert task.task_channel_unique_name == "default" and task.task_channel_sid.startswith("TC")
    assert task.date_created == task.date_updated == iso(START_MS)
    assert task.virtual_start_time == task.date_created
    assert task.task_queue_entered_date == task.date_created
    assert (task.ignore_capacity, task.routing_target) == (None, None)
    assert task.url == f"{env.workspace.url}/Tasks/{task.sid}"
    assert set(task.links) == LINKS
    assert task.links["task_queue"] == f"{env.workspace.url}/TaskQueues/{task.task_queue_sid}"
    assert task.links["workflow"] == f"{env.workspace.url}/Workflows/{parked}"
    assert task.links["reservations"] == f"{task.url}/Reservations"


def task_version(env: Env, task_sid: str) -> int:
    found = env.services.store.tasks.get(env.sid, task_sid)
    assert found is not None
    return found.version


def test_fetch_has_etag_and_age_from_the_engine_clock(env: Env, parked: str) -> None:
    task = env.task(kind="x")
    env.services.clock.advance_ms(90_500)  # type: ignore[attr-defined]
    response = env.ws.tasks(task.sid).fetch_with_http_info()
    assert response.data.age == 90
    assert etag(response) == str(task_version(env, task.sid))
    assert response.data.attributes == '{"kind": "x"}'


def test_create_with_every_parameter(env: Env, parked: str) -> None:
    start = iso(START_MS - 3_600_000)
    task = env.ws.tasks.create(
        attributes='{"a": 1}', workflow_sid=parked, priority=2147483647, timeout=1209600,
        task_channel="chat", virtual_start_time=start,
    )  # fmt: skip
    assert (task.priority, task.timeout, task.task_channel_unique_name) == (
        2147483647,
        1209600,
        "chat",
    )
    assert task.virtual_start_time == start
    channel_sid = task.task_channel_sid
    by_sid = env.ws.tasks.create(task_channel=channel_sid)
    assert by_sid.task_channel_unique_name == "chat" and by_sid.attributes == "{}"


def test_workflow_sid_is_needed_unless_there_is_exactly_one(env: Env) -> None:
    q = env.queue("Q", target_workers="skill == 'none'")
    error = rest_error(lambda: env.task())
    assert error.status == 400 and "WorkflowSid" in error.msg and "0 workflows" in error.msg
    first = env.to_queue(q, "First")
    assert env.task().workflow_sid == first
    second = env.to_queue(q, "Second")
    error = rest_error(lambda: env.task())
    assert error.status == 400 and "WorkflowSid" in error.msg
    assert env.ws.tasks.create(workflow_sid=second).workflow_sid == second


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"Attributes": "[1, 2]"}, "Attributes must be a JSON object"),
        ({"Attributes": '"text"'}, "Attributes must be a JSON object"),
        ({"Attributes": "{nope"}, "Attributes is not valid JSON"),
        ({"Attributes": json.dumps({"pad": "x" * 4090})}, "Attributes is 4101 characters"),
        ({"Priority": "-1"}, "Priority must be at least 0"),
        ({"Priority": "2147483648"}, "Priority must be at most 2147483647"),
        ({"Priority": "high"}, "Priority must be a whole number"),
        ({"Timeout": "0"}, "Timeout must be at least 1"),
        ({"Timeout": "1209601"}, "Timeout must be at most 1209600"),
        ({"TaskChannel": "fax"}, "TaskChannel 'fax'"),
        ({"TaskChannel": "TC" + "0" * 32}, "TaskChannel"),
        (
            {"VirtualStartTime": "2026-01-01T00:00:01Z"},
            "VirtualStartTime must not be in the future",
        ),
        ({"VirtualStartTime": "1899-12-31T23:59:59Z"}, "VirtualStartTime must not be before 1900"),
        ({"VirtualStartTime": "yesterday"}, "VirtualStartTime must be a date"),
        ({"WorkflowSid": "WW123"}, "WorkflowSid must be a WW SID"),
        ({"WorkflowSid": "WW" + "0" * 32}, "is not a workflow of this workspace"),
    ],
)
def test_bad_create_is_400_and_creates_nothing(
    env: Env, parked: str, http: TestClient, data: dict[str, str], fragment: str
) -> None:
    response = http.post(f"/v1/Workspaces/{env.sid}/Tasks", data=data)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 20001 and fragment in body["message"], body
    assert env.ws.tasks.list() == []
    assert "task.created" not in env.events()


def test_ignore_capacity_alone_is_accepted_and_has_no_effect(
    env: Env, parked: str, http: TestClient
) -> None:
    response = http.post(f"/v1/Workspaces/{env.sid}/Tasks", data={"IgnoreCapacity": "true"})
    assert response.status_code == 201 and response.json()["ignore_capacity"] is None


@pytest.mark.parametrize("sid", ["WT" + "0" * 32, "garbage", "WW" + "0" * 32])
def test_unknown_task_is_404(env: Env, parked: str, sid: str) -> None:
    for call in (env.ws.tasks(sid).fetch, lambda: env.ws.tasks(sid).update(priority=1),
                 env.ws.tasks(sid).delete):  # fmt: skip
        error = rest_error(call)
        assert (error.status, error.code) == (404, 20404)


def test_task_of_another_account_is_404(env: Env, parked: str, other_client: Client) -> None:
    task = env.task()
    other = other_client.taskrouter.v1.workspaces(env.sid).tasks(task.sid)
    assert rest_error(other.fetch).status == 404
    assert rest_error(lambda: other.update(priority=3)).status == 404


# -- update -----------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_update_fields_bumps_version_and_etag(env: Env, parked: str) -> None:
    task = env.task(a=1)
    before = task_version(env, task.sid)
    env.services.clock.advance_ms(5_000)  # type: ignore[attr-defined]
    start = iso(START_MS)
    response = env.ws.tasks(task.sid).update_with_http_info(
        attributes='{"a": 2}', priority=7, task_channel="sms", virtual_start_time=start
    )
    updated = response.data
    assert (updated.attributes, updated.priority) == ('{"a": 2}', 7)
    assert updated.task_channel_unique_name == "sms" and updated.virtual_start_time == start
    assert updated.date_updated == iso(START_MS + 5_000)
    assert int(etag(response)) == task_version(env, task.sid) > before
    assert env.fetch(task.sid).priority == 7


@pytest.mark.both_databases
def test_if_match_guards_update_and_delete(env: Env, parked: str, http: TestClient) -> None:
    task = env.task()
    version = str(task_version(env, task.sid))
    error = rest_error(lambda: env.ws.tasks(task.sid).update(if_match="999", priority=5))
    assert (error.status, error.code) == (412, 20412)
    assert env.fetch(task.sid).priority == 0
    updated = env.ws.tasks(task.sid).update_with_http_info(if_match=version, priority=5)
    assert updated.data.priority == 5
    stale = http.delete(f"/v1/Workspaces/{env.sid}/Tasks/{task.sid}", headers={"If-Match": version})
    assert stale.status_code == 412 and stale.json()["code"] == 20412
    current = etag(updated)
    gone = http.delete(f"/v1/Workspaces/{env.sid}/Tasks/{task.sid}", headers={"If-Match": current})
    assert gone.status_code == 204 and gone.content == b""
    assert rest_error(env.ws.tasks(task.sid).fetch).status == 404


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"AssignmentStatus": "done"}, "AssignmentStatus must be one of"),
        ({"Attributes": "[]"}, "Attributes must be a JSON object"),
        ({"Priority": "-3"}, "Priority"),
        ({"TaskChannel": "pigeon"}, "TaskChannel"),
        (
            {"VirtualStartTime": "2030-01-01T00:00:00Z"},
            "VirtualStartTime must not be in the future",
        ),
        ({"Reason": "x" * 4097}, "Reason"),
    ],
)
def test_bad_update_is_400_and_changes_nothing(
    env: Env, parked: str, http: TestClient, data: dict[str, str], fragment: str
) -> None:
    task = env.task(a=1)
    version = task_version(env, task.sid)
    response = http.post(f"/v1/Workspaces/{env.sid}/Tasks/{task.sid}", data=data)
    assert response.status_code == 400 and fragment in response.json()["message"], response.text
    assert task_version(env, task.sid) == version
    assert env.fetch(task.sid).attributes == '{"a": 1}'


def test_cancel_a_pending_task(env: Env, parked: str) -> None:
    task = env.task()
    canceled = env.ws.tasks(task.sid).update(assignment_status="canceled", reason="Caller hung up")
    assert (canceled.assignment_status, canceled.reason) == ("canceled", "Caller hung up")
    assert env.events(task.sid)[-1] == "task.canceled"
    error = rest_error(lambda: env.ws.tasks(task.sid).update(priority=3))
    assert error.status == 409 and "canceled" in error.msg


def test_assigned_task_cannot_be_canceled_and_pending_cannot_complete(env: Env) -> None:
    env.to_queue(env.queue("Q"))
    waiting_env_worker = env.worker("Alice")
    task = env.task()
    assert env.reserved_workers(task.sid) == [waiting_env_worker]
    env.accept(task.sid)
    error = rest_error(
        lambda: env.ws.tasks(task.sid).update(assignment_status="canceled", reason="no")
    )
    assert error.status == 400
    assert error.msg.endswith(  # the SDK puts "Unable to update record: " before it
        f"Cannot cancel task {task.sid} in workspace {env.sid} for account {ACCOUNT_SID}"
        " because it is not pending or reserved"
    )
    assert env.fetch(task.sid).assignment_status == "assigned"
    pending = env.task()  # Alice is busy: it waits
    error = rest_error(
        lambda: env.ws.tasks(pending.sid).update(assignment_status="completed", reason="x")
    )
    assert error.status == 400 and "pending and cannot become completed" in error.msg
    assert env.fetch(pending.sid).assignment_status == "pending"


@pytest.mark.parametrize("status", ["reserved", "assigned"])
def test_a_client_cannot_ask_for_the_statuses_routing_sets(env: Env, status: str) -> None:
    env.to_queue(env.queue("Q"))
    task = env.task()  # nobody in the queue: it waits
    error = rest_error(lambda: env.ws.tasks(task.sid).update(assignment_status=status))
    assert error.status == 400 and f"pending and cannot become {status}" in error.msg
    assert env.fetch(task.sid).assignment_status == "pending"


def test_assigned_task_wraps_up_then_completes(env: Env) -> None:
    env.to_queue(env.queue("Q"))
    env.worker("Alice")
    task = env.task()
    env.accept(task.sid)
    error = rest_error(
        lambda: env.ws.tasks(task.sid).update(assignment_status="wrapping", attributes="{}")
    )
    assert error.status == 400 and "two requests" in error.msg
    assert (
        env.ws.tasks(task.sid).update(assignment_status="wrapping").assignment_status == "wrapping"
    )
    done = env.ws.tasks(task.sid).update(assignment_status="completed", reason="Resolved")
    assert (done.assignment_status, done.reason) == ("completed", "Resolved")
    assert [r.reservation_status for r in env.reservations(task.sid)] == ["completed"]


@pytest.mark.both_databases
def test_canceling_a_reserved_task_cancels_its_reservation_and_frees_the_worker(
    env: Env,
) -> None:
    env.to_queue(env.queue("Q"))
    alice = env.worker("Alice")
    first, second = env.task(n=1), env.task(n=2)
    assert env.reserved_workers(first.sid) == [alice]
    assert env.fetch(second.sid).assignment_status == "pending"
    env.ws.tasks(first.sid).update(assignment_status="canceled", reason="Abandoned")
    assert [r.reservation_status for r in env.reservations(first.sid)] == ["canceled"]
    assert env.reserved_workers(second.sid) == [alice]  # Alice takes the next task at once


@pytest.mark.both_databases
def test_deleting_tasks_ends_their_reservations(env: Env) -> None:
    env.to_queue(env.queue("Q"))
    env.worker("Alice")
    env.advance(1)
    env.worker("Bob")
    assigned, reserved = env.task(n=1), env.task(n=2)
    env.accept(assigned.sid)
    reservations = {r.task_sid: r.sid for r in env.reservations()}
    env.ws.tasks(assigned.sid).delete()
    env.ws.tasks(reserved.sid).delete()
    ended = [
        (e.event_type, e.reservation_sid)
        for e in env.services.store.events.in_order(env.sid)
        if e.event_type in ("reservation.completed", "reservation.canceled")
    ]
    assert ended == [
        ("reservation.completed", reservations[assigned.sid]),
        ("reservation.canceled", reservations[reserved.sid]),
    ]
    assert env.reservations() == []  # a deleted task's reservations go with it


@pytest.mark.both_databases
def test_delete_removes_the_task(env: Env, parked: str) -> None:
    task = env.task()
    assert env.ws.tasks(task.sid).delete() is True
    assert rest_error(env.ws.tasks(task.sid).fetch).status == 404
    assert env.events(task.sid)[-1] == "task.deleted"


# -- list ---------------------------------------------------------------------------------------


@pytest.fixture
def spread(env: Env) -> dict[str, Any]:
    """Tasks in two workflows and queues, with different priorities and states."""
    qa = env.queue("Alpha", target_workers="skill == 'none'")
    qb = env.queue("Beta", target_workers="skill == 'none'")
    wa, wb = env.to_queue(qa, "FlowA"), env.to_queue(qb, "FlowB")
    made: dict[str, Any] = {"qa": qa, "qb": qb, "wa": wa, "wb": wb}
    for name, workflow, priority, attrs in (
        ("t1", wa, 5, {"lang": "en", "n": 1}),
        ("t2", wb, 1, {"lang": "es", "n": 2}),
        ("t3", wa, 9, {"lang": "es", "n": 3}),
        ("t4", wb, 5, {"lang": "fr", "n": 4}),
    ):
        env.services.clock.advance_ms(1_000)  # type: ignore[attr-defined]
        made[name] = env.ws.tasks.create(
            workflow_sid=workflow, priority=priority, attributes=json.dumps(attrs)
        ).sid
    env.ws.tasks(made["t4"]).update(assignment_status="canceled", reason="gone")
    return made


def sids(tasks: list[Any]) -> list[str]:
    return [t.sid for t in tasks]


def test_list_defaults_to_creation_order(env: Env, spread: dict[str, Any]) -> None:
    assert sids(env.ws.tasks.list()) == [spread[n] for n in ("t1", "t2", "t3", "t4")]
    assert sids(env.ws.tasks.list(page_size=1)) == [spread[n] for n in ("t1", "t2", "t3", "t4")]


@pytest.mark.both_databases
def test_list_filters(env: Env, spread: dict[str, Any]) -> None:
    tasks = env.ws.tasks
    s = spread
    assert sids(tasks.list(assignment_status=["pending"])) == [s["t1"], s["t2"], s["t3"]]
    assert sids(tasks.list(assignment_status=["canceled"])) == [s["t4"]]
    assert sids(tasks.list(workflow_sid=s["wb"])) == [s["t2"], s["t4"]]
    assert sids(tasks.list(workflow_name="FlowA")) == [s["t1"], s["t3"]]
    assert sids(tasks.list(task_queue_sid=s["qa"])) == [s["t1"], s["t3"]]
    assert sids(tasks.list(task_queue_name="Beta")) == [s["t2"], s["t4"]]
    assert sids(tasks.list(priority=5)) == [s["t1"], s["t4"]]
    assert sids(tasks.list(evaluate_task_attributes="lang == 'es'")) == [s["t2"], s["t3"]]
    assert sids(tasks.list(evaluate_task_attributes="n > 1 AND lang IN ['en', 'fr']")) == [s["t4"]]
    assert sids(tasks.list(has_addons=False)) == sids(tasks.list())
    assert tasks.list(has_addons=True) == []
    assert tasks.list(routing_target="WK" + "0" * 32) == []
    combined = tasks.list(
        assignment_status=["pending"], workflow_sid=s["wb"], evaluate_task_attributes="n >= 2"
    )
    assert sids(combined) == [s["t2"]]


@pytest.mark.both_databases
def test_assignment_status_as_repeated_keys_or_comma_list(
    env: Env, spread: dict[str, Any], http: TestClient
) -> None:
    url = f"/v1/Workspaces/{env.sid}/Tasks"
    repeated = http.get(f"{url}?AssignmentStatus=canceled&AssignmentStatus=reserved").json()
    joined = http.get(f"{url}?AssignmentStatus=canceled%2Creserved").json()
    assert [t["sid"] for t in repeated["tasks"]] == [spread["t4"]]
    assert [t["sid"] for t in joined["tasks"]] == [spread["t4"]]
    both = http.get(f"{url}?AssignmentStatus=canceled,pending&AssignmentStatus=assigned").json()
    assert len(both["tasks"]) == 4
    assert env.ws.tasks.list(assignment_status=["pending", "canceled"]) != []


@pytest.mark.both_databases
def test_list_ordering(env: Env, spread: dict[str, Any]) -> None:
    s = spread
    by_priority = env.ws.tasks.list(ordering="Priority:desc,DateCreated:asc")
    assert sids(by_priority) == [s["t3"], s["t1"], s["t4"], s["t2"]]
    assert sids(env.ws.tasks.list(ordering="DateCreated:desc")) == [
        s["t4"], s["t3"], s["t2"], s["t1"]
    ]  # fmt: skip
    assert sids(env.ws.tasks.list(ordering="Priority:asc,VirtualStartTime:desc", page_size=1)) == [
        s["t2"], s["t4"], s["t1"], s["t3"]
    ]  # fmt: skip


@pytest.mark.both_databases
def test_python_side_filters_page_correctly(
    env: Env, spread: dict[str, Any], http: TestClient
) -> None:
    url = f"/v1/Workspaces/{env.sid}/Tasks?EvaluateTaskAttributes=n%20%3E%3D%202&PageSize=1"
    first = http.get(url).json()
    assert [t["sid"] for t in first["tasks"]] == [spread["t2"]]
    assert first["meta"]["key"] == "tasks"
    assert "EvaluateTaskAttributes=n+%3E%3D+2" in first["meta"]["next_page_url"]
    seen = [spread["t2"]]
    page = first
    while page["meta"]["next_page_url"]:
        page = http.get(page["meta"]["next_page_url"]).json()
        seen += [t["sid"] for t in page["tasks"]]
    assert seen == [spread["t2"], spread["t3"], spread["t4"]]
    assert sids(env.ws.tasks.list(evaluate_task_attributes="n >= 2", page_size=2)) == seen


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("AssignmentStatus=done", "AssignmentStatus must be one of"),
        ("AssignmentStatus=pending,nope", "'nope'"),
        (
            "EvaluateTaskAttributes=lang%20%3D%3D",
            "EvaluateTaskAttributes is not a valid expression",
        ),
        ("EvaluateTaskAttributes=(a%20%3D%3D%201", "at column"),
        ("Ordering=DateCreated:asc,VirtualStartTime:desc", "cannot combine DateCreated and"),
        ("Ordering=Age:desc", "Ordering 'Age:desc' is not valid"),
        ("Ordering=Priority:up", "Ordering 'Priority:up' is not valid"),
        ("Ordering=Priority,Priority:desc", "more than once"),
        ("WorkflowSid=WW1", "WorkflowSid"),
        ("TaskQueueSid=nope", "TaskQueueSid"),
        ("HasAddons=perhaps", "HasAddons"),
        ("Priority=high", "Priority"),
        ("PageSize=0", "PageSize"),
    ],
)
def test_bad_list_filters_are_400(
    env: Env, parked: str, http: TestClient, query: str, fragment: str
) -> None:
    response = http.get(f"/v1/Workspaces/{env.sid}/Tasks?{query}")
    assert response.status_code == 400, response.text
    assert fragment in response.json()["message"], response.json()


def test_expression_error_reports_its_column(env: Env, parked: str, http: TestClient) -> None:
    response = http.get(
        f"/v1/Workspaces/{env.sid}/Tasks", params={"EvaluateTaskAttributes": "lang == 'en' AND"}
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "EvaluateTaskAttributes is not a valid expression:"
        " expected a comparison after 'AND' at column 17"
    )


ODD_VALUES = ["", " ", "null", "0", "-1", "1e309", "9" * 40, "[]", "{}", '{"a":', "\u00e9\u2603",
              "WT" + "0" * 32, "2026-01-01T00:00:00Z", "x" * 5000, "true"]  # fmt: skip


def test_odd_values_never_cause_a_server_error(env: Env, parked: str, http: TestClient) -> None:
    """Every parameter of every task operation, given odd values: a 2xx or a Twilio 4xx body."""
    url = f"/v1/Workspaces/{env.sid}/Tasks"
    task = env.task()
    create = ["Attributes", "WorkflowSid", "Priority", "Timeout", "TaskChannel",
              "VirtualStartTime", "RoutingTarget", "IgnoreCapacity", "TaskQueueSid"]  # fmt: skip
    update = ["Attributes", "AssignmentStatus", "Reason", "Priority", "TaskChannel",
              "VirtualStartTime"]  # fmt: skip
    listing = ["Priority", "AssignmentStatus", "WorkflowSid", "WorkflowName", "TaskQueueSid",
               "TaskQueueName", "EvaluateTaskAttributes", "RoutingTarget", "Ordering",
               "HasAddons", "PageSize", "Page", "PageToken"]  # fmt: skip
    for value in ODD_VALUES:
        responses = [http.post(url, data={name: value}) for name in create]
        responses += [http.post(f"{url}/{task.sid}", data={name: value}) for name in update]
        responses += [http.get(url, params={name: value}) for name in listing]
        if value.isascii():  # a header carries ASCII
            responses.append(http.post(f"{url}/{task.sid}", headers={"If-Match": value}))
        for response in responses:
            assert response.status_code < 500, (value, response.request.url, response.text)
            if response.status_code >= 400:
                assert set(response.json()) == {"code", "message", "more_info", "status"}


def _shown(instance: Any) -> dict[str, Any]:
    """What the SDK shows of a resource: its public properties."""
    return {k: v for k, v in vars(instance).items() if not k.startswith("_")}


@pytest.mark.both_databases
def test_the_answer_to_each_change_is_what_a_fetch_then_shows(env: Env) -> None:
    """Create, accept and complete answer with the rows as the write saved them (on
    PostgreSQL without reading them back): exactly what a fetch shows afterwards, names of
    the workflow, queue, channel and worker included."""
    queue = env.queue("Support", target_workers="1==1")
    env.to_queue(queue)
    worker = env.worker("alice")
    created = env.task(kind="support")
    assert created.assignment_status == "reserved"
    assert _shown(created) == _shown(env.fetch(created.sid))
    (pending,) = env.reservations(created.sid, "pending")
    reservations = env.ws.tasks(created.sid).reservations
    accepted = reservations(pending.sid).update(reservation_status="accepted")
    assert accepted.worker_name == "alice" and accepted.worker_sid == worker
    assert _shown(accepted) == _shown(reservations(pending.sid).fetch())
    completed = env.ws.tasks(created.sid).update(assignment_status="completed", reason="done")
    assert completed.assignment_status == "completed"
    assert completed.task_queue_friendly_name == "Support"
    assert _shown(completed) == _shown(env.fetch(created.sid))
