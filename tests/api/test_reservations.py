"""Reservations through the official SDK: both views of one reservation, accept / reject /
wrapping / completed, instructions, If-Match, timeouts, lists, and bad input (a 4xx that names
the problem, never a 500)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.api.context import Services
from tests.support import ACCOUNT_SID, rest_error

LINKS = {"task", "worker", "workspace"}


class Desk:
    """One workspace with a queue, its workflow and workers, driven through the SDK."""

    def __init__(self, client: Client, services: Services, *, single_task: bool = False) -> None:
        self.client, self.services = client, services
        created = client.taskrouter.v1.workspaces.create(
            friendly_name="Desk", multi_task_enabled=not single_task
        )
        self.sid: str = created.sid
        self.ws = client.taskrouter.v1.workspaces(self.sid)
        self.activities = {a.friendly_name: a.sid for a in self.ws.activities.list()}
        self.queue_sid = ""
        self.workflow_sid = ""

    def route(self, max_reserved_workers: int = 1, **queue: Any) -> None:
        self.queue_sid = self.ws.task_queues.create(
            friendly_name="Support", max_reserved_workers=max_reserved_workers, **queue
        ).sid
        routing = {"filters": [], "default_filter": {"queue": self.queue_sid}}
        self.workflow_sid = self.ws.workflows.create(
            friendly_name="Flow", configuration=json.dumps({"task_routing": routing})
        ).sid

    def worker(self, name: str) -> str:
        sid: str = self.ws.workers.create(
            friendly_name=name, activity_sid=self.activities["Available"]
        ).sid
        # One second apart, so the longest-idle order of workers is their creation order.
        self.services.clock.advance_ms(1000)  # type: ignore[attr-defined]
        return sid

    def task(self, **attributes: Any) -> str:
        sid: str = self.ws.tasks.create(
            attributes=json.dumps(attributes), workflow_sid=self.workflow_sid
        ).sid
        return sid

    def reservations(self, task_sid: str, status: str | None = None) -> list[Any]:
        if status is None:
            return list(self.ws.tasks(task_sid).reservations.list())
        return list(self.ws.tasks(task_sid).reservations.list(reservation_status=status))

    def pending(self, task_sid: str) -> Any:
        found = self.reservations(task_sid, "pending")
        assert len(found) == 1, found
        return found[0]

    def reservation(self, task_sid: str, sid: str) -> Any:
        return self.ws.tasks(task_sid).reservations(sid)

    def activity_of(self, worker_sid: str) -> str:
        name: str = self.ws.workers(worker_sid).fetch().activity_name
        return name


@pytest.fixture
def desk(client: Client, services: Services) -> Desk:
    """Two available workers in a queue that offers each task to one worker at a time."""
    d = Desk(client, services)
    d.route()
    d.alice, d.bob = d.worker("alice"), d.worker("bob")  # type: ignore[attr-defined]
    return d


# -- properties and views ----------------------------------------------------------------------


def test_a_task_offered_to_a_worker_renders_every_property(desk: Desk) -> None:
    task = desk.task(type="support")
    r = desk.pending(task)
    assert r.sid.startswith("WR") and len(r.sid) == 34
    assert r.account_sid == ACCOUNT_SID and r.workspace_sid == desk.sid
    assert r.task_sid == task
    assert (r.worker_sid, r.worker_name) == (desk.alice, "alice")  # type: ignore[attr-defined]
    assert r.reservation_status == "pending"
    assert r.date_created is not None and r.date_updated is not None
    ws_url = f"http://testserver/v1/Workspaces/{desk.sid}"
    assert r.url == f"{ws_url}/Tasks/{task}/Reservations/{r.sid}"
    assert r.links == {
        "task": f"{ws_url}/Tasks/{task}",
        "worker": f"{ws_url}/Workers/{r.worker_sid}",
        "workspace": ws_url,
    }


def test_the_worker_view_reaches_the_same_reservation(desk: Desk) -> None:
    task = desk.task()
    r = desk.pending(task)
    worker = desk.ws.workers(r.worker_sid)
    fetched = worker.reservations(r.sid).fetch()
    assert fetched.sid == r.sid and fetched.task_sid == task
    assert fetched.url == (
        f"http://testserver/v1/Workspaces/{desk.sid}/Workers/{r.worker_sid}/Reservations/{r.sid}"
    )
    assert set(fetched.links) == LINKS
    assert [x.sid for x in worker.reservations.list()] == [r.sid]
    assert worker.reservations.list(reservation_status="accepted") == []
    accepted = worker.reservations(r.sid).update(reservation_status="accepted")
    assert accepted.reservation_status == "accepted"
    assert "/Workers/" in accepted.url
    assert desk.reservation(task, r.sid).fetch().reservation_status == "accepted"


def test_a_reservation_is_not_found_through_another_task_or_worker(
    desk: Desk, http: TestClient
) -> None:
    task, other_task = desk.task(), desk.task()
    r = desk.pending(task)
    other_worker = desk.bob if r.worker_sid == desk.alice else desk.alice  # type: ignore[attr-defined]
    for call in (
        lambda: desk.reservation(other_task, r.sid).fetch(),
        lambda: desk.ws.workers(other_worker).reservations(r.sid).fetch(),
        lambda: (
            desk.ws.workers(other_worker).reservations(r.sid).update(reservation_status="accepted")
        ),
        lambda: desk.reservation(task, "WR" + "0" * 32).fetch(),
        lambda: desk.reservation(task, "not-a-sid").fetch(),
    ):
        error = rest_error(call)
        assert (error.status, error.code) == (404, 20404)
    assert desk.reservation(task, r.sid).fetch().reservation_status == "pending"
    base = f"/v1/Workspaces/{desk.sid}"
    for path in (f"{base}/Tasks/WT{'0' * 32}/Reservations", f"{base}/Workers/nope/Reservations"):
        # The SDK's list raises a plain TwilioException on a 404, so look at the status.
        assert http.get(path).status_code == 404


@pytest.mark.both_databases
def test_a_task_s_reservations_are_listed_until_the_task_is_deleted(
    desk: Desk, http: TestClient
) -> None:
    task = desk.task()
    r = desk.pending(task)
    path = f"/v1/Workspaces/{desk.sid}/Tasks/{task}/Reservations"
    assert [x["sid"] for x in http.get(path).json()["reservations"]] == [r.sid]
    none_accepted = http.get(path, params={"ReservationStatus": "accepted"})
    assert none_accepted.status_code == 200 and none_accepted.json()["reservations"] == []
    desk.ws.tasks(task).delete()
    for params in ({}, {"ReservationStatus": "pending"}):
        assert http.get(path, params=params).status_code == 404


def test_another_account_cannot_see_the_reservation(desk: Desk, other_client: Client) -> None:
    task = desk.task()
    r = desk.pending(task)
    ws = other_client.taskrouter.v1.workspaces(desk.sid)
    assert rest_error(lambda: ws.tasks(task).reservations(r.sid).fetch()).status == 404
    assert rest_error(lambda: ws.tasks(task).reservations(r.sid).update(
        reservation_status="accepted")).status == 404  # fmt: skip


# -- lists -------------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_lists_page_and_filter(client: Client, services: Services, http: TestClient) -> None:
    d = Desk(client, services)
    d.route(max_reserved_workers=3)
    workers = [d.worker(name) for name in ("a", "b", "c")]
    task = d.task()
    path = f"/v1/Workspaces/{d.sid}/Tasks/{task}/Reservations"
    first = http.get(path, params={"PageSize": 2}).json()
    assert first["meta"]["key"] == "reservations" and len(first["reservations"]) == 2
    second = http.get(first["meta"]["next_page_url"]).json()
    assert len(second["reservations"]) == 1 and second["meta"]["next_page_url"] is None
    listed = [r["worker_sid"] for r in first["reservations"] + second["reservations"]]
    assert sorted(listed) == sorted(workers)
    only_b = d.ws.tasks(task).reservations.list(worker_sid=workers[1])
    assert [r.worker_sid for r in only_b] == [workers[1]]
    assert len(d.reservations(task, "pending")) == 3 and d.reservations(task, "accepted") == []
    assert len(list(d.ws.tasks(task).reservations.stream(page_size=1))) == 3


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"ReservationStatus": "bogus"}, "ReservationStatus"),
        ({"WorkerSid": "WKnope"}, "WorkerSid"),
        ({"PageSize": "0"}, "PageSize"),
    ],
)
def test_bad_list_filters_are_400(
    desk: Desk, http: TestClient, params: dict[str, str], fragment: str
) -> None:
    task = desk.task()
    response = http.get(f"/v1/Workspaces/{desk.sid}/Tasks/{task}/Reservations", params=params)
    assert response.status_code == 400 and fragment in response.json()["message"]


# -- accept, reject, wrapping, completed -------------------------------------------------------


@pytest.mark.both_databases
def test_accept_assigns_the_task_and_rescinds_the_other_offers(
    client: Client, services: Services
) -> None:
    d = Desk(client, services)
    d.route(max_reserved_workers=2)
    d.worker("a"), d.worker("b")
    task = d.task()
    first, second = d.reservations(task, "pending")
    accepted = d.reservation(task, first.sid).update(reservation_status="accepted")
    assert accepted.reservation_status == "accepted"
    assert d.ws.tasks(task).fetch().assignment_status == "assigned"
    assert d.reservation(task, second.sid).fetch().reservation_status == "rescinded"
    error = rest_error(
        lambda: d.reservation(task, second.sid).update(reservation_status="accepted")
    )
    assert error.status == 410
    assert d.reservation(task, first.sid).fetch().reservation_status == "accepted"


def test_accepting_twice_is_harmless(desk: Desk) -> None:
    task = desk.task()
    r = desk.pending(task)
    desk.reservation(task, r.sid).update(reservation_status="accepted")
    again = desk.reservation(task, r.sid).update(reservation_status="accepted")
    assert again.reservation_status == "accepted"


@pytest.mark.both_databases
def test_reject_with_an_activity_moves_the_worker_and_offers_the_task_on(desk: Desk) -> None:
    task = desk.task()
    r = desk.pending(task)
    assert r.worker_sid == desk.alice  # type: ignore[attr-defined]
    rejected = desk.reservation(task, r.sid).update(
        reservation_status="rejected", worker_activity_sid=desk.activities["Offline"]
    )
    assert rejected.reservation_status == "rejected"
    assert desk.activity_of(desk.alice) == "Offline"  # type: ignore[attr-defined]
    assert desk.pending(task).worker_sid == desk.bob  # type: ignore[attr-defined]
    assert desk.ws.tasks(task).fetch().assignment_status == "reserved"


def test_reject_without_an_activity_returns_the_worker_to_where_it_was(
    client: Client, services: Services
) -> None:
    d = Desk(client, services, single_task=True)
    reserved = d.ws.activities.create(friendly_name="Reserved", available=False).sid
    d.route(reservation_activity_sid=reserved)
    alice, bob = d.worker("alice"), d.worker("bob")
    task = d.task()
    r = d.pending(task)
    assert r.worker_sid == alice and d.activity_of(alice) == "Reserved"
    d.reservation(task, r.sid).update(reservation_status="rejected")
    assert d.activity_of(alice) == "Available"
    assert d.pending(task).worker_sid == bob and d.activity_of(bob) == "Reserved"


@pytest.mark.both_databases
def test_wrapping_then_completed(desk: Desk) -> None:
    task = desk.task()
    r = desk.reservation(task, desk.pending(task).sid)
    assert rest_error(lambda: r.update(reservation_status="wrapping")).status == 409
    r.update(reservation_status="accepted")
    assert r.update(reservation_status="wrapping").reservation_status == "wrapping"
    assert desk.ws.tasks(task).fetch().assignment_status == "wrapping"
    assert r.update(reservation_status="completed").reservation_status == "completed"
    assert desk.ws.tasks(task).fetch().assignment_status == "completed"
    error = rest_error(lambda: r.update(reservation_status="accepted"))
    assert error.status == 409


@pytest.mark.parametrize("status", ["timeout", "canceled", "rescinded"])
def test_a_client_cannot_ask_for_the_statuses_routing_sets(desk: Desk, status: str) -> None:
    task = desk.task()
    r = desk.pending(task)
    error = rest_error(lambda: desk.reservation(task, r.sid).update(reservation_status=status))
    assert error.status == 400 and "ReservationStatus" in error.msg
    assert desk.reservation(task, r.sid).fetch().reservation_status == "pending"


@pytest.mark.both_databases
def test_a_timed_out_reservation_cannot_be_accepted(desk: Desk) -> None:
    task = desk.task()
    r = desk.pending(task)
    desk.services.clock.advance_ms(121_000)  # type: ignore[attr-defined]
    desk.services.engine.deadlines.tick()
    assert desk.reservation(task, r.sid).fetch().reservation_status == "timeout"
    error = rest_error(lambda: desk.reservation(task, r.sid).update(reservation_status="accepted"))
    assert error.status == 410
    # The worker went to the workspace's timeout activity; the task was offered on.
    assert desk.activity_of(r.worker_sid) == "Offline"
    assert desk.pending(task).worker_sid != r.worker_sid


# -- versions ----------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_etag_is_the_version_and_if_match_guards_updates(desk: Desk, http: TestClient) -> None:
    task = desk.task()
    r = desk.pending(task)
    path = f"/v1/Workspaces/{desk.sid}/Tasks/{task}/Reservations/{r.sid}"
    version = http.get(path).headers["ETag"]
    worker_path = f"/v1/Workspaces/{desk.sid}/Workers/{r.worker_sid}/Reservations/{r.sid}"
    assert http.get(worker_path).headers["ETag"] == version
    error = rest_error(lambda: desk.reservation(task, r.sid).update(
        reservation_status="accepted", if_match=str(int(version) + 5)))  # fmt: skip
    assert (error.status, error.code) == (412, 20412)
    assert desk.reservation(task, r.sid).fetch().reservation_status == "pending"
    response = http.post(
        worker_path, data={"ReservationStatus": "accepted"}, headers={"If-Match": version}
    )
    assert response.status_code == 200
    assert int(response.headers["ETag"]) > int(version)


# -- instructions ------------------------------------------------------------------------------


def test_dequeue_without_dequeue_from_is_40132(desk: Desk) -> None:
    task = desk.task(call_sid="CA" + "1" * 32)
    r = desk.pending(task)
    error = rest_error(lambda: desk.reservation(task, r.sid).update(instruction="dequeue"))
    assert (error.status, error.code) == (400, 40132)
    assert "DequeueFrom" in error.msg
    assert desk.reservation(task, r.sid).fetch().reservation_status == "pending"


def test_dequeue_with_every_parameter_accepts(desk: Desk) -> None:
    task = desk.task(call_sid="CA" + "1" * 32)
    r = desk.pending(task)
    done = desk.reservation(task, r.sid).update(
        instruction="dequeue", dequeue_from="+15550100", dequeue_to="client:alice",
        dequeue_post_work_activity_sid=desk.activities["Offline"],
        dequeue_record="record-from-answer", dequeue_timeout=30,
        dequeue_status_callback_url="https://example.com/status",
        dequeue_status_callback_event=["initiated", "completed"],
    )  # fmt: skip
    assert done.reservation_status == "accepted"
    assert desk.ws.tasks(task).fetch().assignment_status == "assigned"


def test_call_with_call_accept_accepts(desk: Desk) -> None:
    task = desk.task()
    r = desk.pending(task)
    done = desk.reservation(task, r.sid).update(
        instruction="call", call_from="+15550100", call_url="https://example.com/twiml",
        call_to="+15550111", call_accept=True, call_timeout=20, call_record="record-from-answer",
        call_status_callback_url="https://example.com/status",
    )  # fmt: skip
    assert done.reservation_status == "accepted"


def test_redirect_without_accept_leaves_the_reservation_pending(desk: Desk) -> None:
    task = desk.task()
    r = desk.pending(task)
    done = desk.reservation(task, r.sid).update(
        instruction="redirect", redirect_call_sid="CA" + "2" * 32,
        redirect_url="https://example.com/twiml",
    )  # fmt: skip
    assert done.reservation_status == "pending"
    assert done.date_updated >= r.date_updated


def test_conference_with_every_parameter_accepts(desk: Desk) -> None:
    task = desk.task(call_sid="CA" + "1" * 32, to="+15550100")
    r = desk.pending(task)
    done = desk.ws.workers(r.worker_sid).reservations(r.sid).update(
        instruction="conference", to="client:alice", from_="+15550100", timeout=20,
        status_callback="https://example.com/s", status_callback_method="GET",
        status_callback_event=["ringing", "answered"], record=True, muted=False, beep="onEnter",
        start_conference_on_enter=True, end_conference_on_exit=False,
        end_conference_on_customer_exit=True, beep_on_customer_entrance=False,
        wait_url="https://example.com/wait", wait_method="POST", early_media=True,
        max_participants=10, conference_status_callback="https://example.com/c",
        conference_status_callback_method="POST",
        conference_status_callback_event=["start", "end", "join"],
        conference_record="record-from-start", conference_trim="do-not-trim",
        recording_channels="dual", recording_status_callback="https://example.com/r",
        recording_status_callback_method="POST",
        conference_recording_status_callback="https://example.com/cr",
        conference_recording_status_callback_method="GET", region="ie1",
        sip_auth_username="alice", sip_auth_password="secret", jitter_buffer_size="small",
        post_work_activity_sid=desk.activities["Available"],
    )  # fmt: skip
    assert done.reservation_status == "accepted"


def test_the_instruction_is_recorded_without_secrets(desk: Desk) -> None:
    task = desk.task(call_sid="CA" + "1" * 32)
    r = desk.pending(task)
    desk.reservation(task, r.sid).update(
        instruction="conference", from_="+15550100", sip_auth_password="hunter2"
    )
    stored = desk.services.store.reservations.get(desk.sid, r.sid)
    assert stored is not None and stored.instruction is not None
    recorded = json.loads(stored.instruction)
    assert recorded["instruction"] == "conference" and recorded["from"] == "+15550100"
    assert "hunter2" not in stored.instruction


def test_supervise_on_a_pending_reservation_is_40146(desk: Desk) -> None:
    task = desk.task()
    r = desk.pending(task)
    error = rest_error(lambda: desk.reservation(task, r.sid).update(
        instruction="supervise", supervisor="client:boss", supervisor_mode="monitor"))  # fmt: skip
    assert (error.status, error.code) == (409, 40146)


def test_supervise_an_accepted_reservation(desk: Desk) -> None:
    task = desk.task()
    r = desk.reservation(task, desk.pending(task).sid)
    r.update(reservation_status="accepted")
    done = r.update(instruction="supervise", supervisor="client:boss", supervisor_mode="barge")
    assert done.reservation_status == "accepted"


def test_the_worker_view_takes_the_supervise_parameters_too(desk: Desk, http: TestClient) -> None:
    task = desk.task()
    r = desk.pending(task)
    desk.reservation(task, r.sid).update(reservation_status="accepted")
    path = f"/v1/Workspaces/{desk.sid}/Workers/{r.worker_sid}/Reservations/{r.sid}"
    data = {"Instruction": "supervise", "Supervisor": "client:boss", "SupervisorMode": "whisper"}
    response = http.post(path, data=data)
    assert response.status_code == 200, response.json()
    stored = desk.services.store.reservations.get(desk.sid, r.sid)
    assert stored is not None and stored.instruction is not None
    assert json.loads(stored.instruction)["supervisor_mode"] == "whisper"


def test_an_unknown_instruction_is_55555(desk: Desk) -> None:
    task = desk.task()
    r = desk.pending(task)
    error = rest_error(lambda: desk.reservation(task, r.sid).update(instruction="teleport"))
    assert (error.status, error.code) == (400, 55555)


@pytest.mark.parametrize(
    ("data", "fragment", "code"),
    [
        ({"ReservationStatus": "bogus"}, "ReservationStatus", 20001),
        ({"ReservationStatus": "accepted", "Instruction": "call"}, "not both", 20001),
        ({"WorkerActivitySid": "WAnope"}, "WorkerActivitySid", 20001),
        ({"ReservationStatus": "rejected", "WorkerActivitySid": "WA" + "0" * 32},
         "WorkerActivitySid", 20001),
        ({"Instruction": "dequeue", "DequeueFrom": "x", "DequeueStatusCallbackEvent": "bogus"},
         "DequeueStatusCallbackEvent", 40134),
        ({"DequeueStatusCallbackUrl": "ftp://x"}, "DequeueStatusCallbackUrl", 40157),
        ({"DequeuePostWorkActivitySid": "WA" + "0" * 32}, "DequeuePostWorkActivitySid", 40130),
        ({"DequeueTimeout": "soon"}, "DequeueTimeout", 20001),
        ({"CallUrl": "/relative"}, "CallUrl", 40112),
        ({"CallAccept": "maybe"}, "CallAccept", 20001),
        ({"RedirectCallSid": "CAnope"}, "RedirectCallSid", 40121),
        ({"RedirectUrl": "nope"}, "RedirectUrl", 40120),
        ({"MaxParticipants": "1"}, "MaxParticipants", 20001),
        ({"Beep": "loud"}, "Beep", 20001),
        ({"StatusCallbackMethod": "PUT"}, "StatusCallbackMethod", 20001),
        ({"ConferenceStatusCallbackEvent": "explode"}, "ConferenceStatusCallbackEvent", 20001),
        ({"Region": "mars1"}, "Region", 20001),
        ({"SupervisorMode": "spy"}, "SupervisorMode", 20001),
        ({"Record": "sometimes"}, "Record", 20001),
    ],
)  # fmt: skip
def test_bad_updates_name_the_parameter_and_change_nothing(
    desk: Desk, http: TestClient, data: dict[str, str], fragment: str, code: int
) -> None:
    task = desk.task(call_sid="CA" + "1" * 32)
    r = desk.pending(task)
    path = f"/v1/Workspaces/{desk.sid}/Tasks/{task}/Reservations/{r.sid}"
    response = http.post(path, data=data)
    body = response.json()
    assert response.status_code == 400, body
    assert fragment in body["message"] and body["code"] == code
    after = desk.reservation(task, r.sid).fetch()
    assert (after.reservation_status, after.date_updated) == ("pending", r.date_updated)


def test_comma_joined_and_repeated_events_are_both_read(desk: Desk, http: TestClient) -> None:
    task = desk.task(call_sid="CA" + "1" * 32)
    r = desk.pending(task)
    path = f"/v1/Workspaces/{desk.sid}/Workers/{r.worker_sid}/Reservations/{r.sid}"
    body = [("Instruction", "dequeue"), ("DequeueFrom", "+1555"),
            ("DequeueStatusCallbackEvent", "ringing,answered"),
            ("DequeueStatusCallbackEvent", "completed")]  # fmt: skip
    response = http.post(path, content=_form(body), headers=_FORM)
    assert response.status_code == 200, response.json()
    stored = desk.services.store.reservations.get(desk.sid, r.sid)
    assert stored is not None and stored.instruction is not None
    events = json.loads(stored.instruction)["status_callback_events"]
    assert events == ["ringing", "answered", "completed"]


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _form(pairs: list[tuple[str, str]]) -> str:
    from urllib.parse import urlencode

    return urlencode(pairs)
