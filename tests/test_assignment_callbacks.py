"""Assignment callbacks against a real HTTP receiver on a loopback port: the signed request,
each kind of reply (accept, reject, decide later, malformed…), the fallback URL, timeouts, and
a receiver that fails in every way without breaking the engine."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
import requests
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.models import ReservationStatus
from switchboard.outbound.assignment_callbacks import (
    AssignmentCallbackSender,
    Instruction,
    Outcome,
    engine_params,
    interpret,
)
from tests.support import ACCOUNT_SID, AUTH_TOKEN, Desk, Receiver, Reply, eventually

# -- through the running app (its lifespan runs the sender) ------------------------------------


def test_accept_reply_accepts_and_the_request_is_signed(
    services: Services, http: TestClient, client: Client, receiver: Receiver
) -> None:
    receiver.replies["/assign"] = Reply(body='{"instruction": "accept"}')
    desk = Desk(services, receiver.url("/assign"))
    task, reservation = desk.task(type="support")
    eventually(lambda: desk.status(reservation) == "accepted")
    fetched = client.taskrouter.v1.workspaces(desk.sid).tasks(task).fetch()
    assert fetched.assignment_status == "assigned"
    [seen] = receiver.seen
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert set(seen.form) == {
        "AccountSid", "WorkspaceSid", "WorkflowSid", "TaskQueueSid", "WorkerSid",
        "WorkerAttributes", "TaskSid", "TaskAttributes", "TaskAge", "TaskPriority",
        "ReservationSid", "Timestamp",
    }  # fmt: skip
    assert seen.form["ReservationSid"] == reservation and seen.form["TaskSid"] == task
    assert seen.form["WorkspaceSid"] == desk.sid and seen.form["WorkflowSid"] == desk.workflow
    assert seen.form["WorkerSid"] == desk.workers[0] and seen.form["AccountSid"] == ACCOUNT_SID
    assert json.loads(seen.form["TaskAttributes"]) == {"type": "support"}
    assert json.loads(seen.form["WorkerAttributes"]) == {"skills": ["en"], "n": 0}
    assert (seen.form["TaskAge"], seen.form["TaskPriority"]) == ("0", "3")
    assert seen.form["Timestamp"] == str(services.clock.now_ms() // 1000)
    validator = RequestValidator(AUTH_TOKEN)
    assert validator.validate(
        receiver.url("/assign"), seen.form, seen.headers["X-Twilio-Signature"]
    )
    assert not RequestValidator("wrong").validate(
        receiver.url("/assign"), seen.form, seen.headers["X-Twilio-Signature"]
    )
    path = f"/switchboard/v1/Workspaces/{desk.sid}/Reservations/{reservation}/AssignmentCallback"
    state = http.get(path).json()
    assert state == {
        "reservation_sid": reservation, "state": "sent", "attempts": 1, "last_error": None
    }  # fmt: skip


def test_an_empty_object_means_decide_later(
    services: Services, http: TestClient, client: Client, receiver: Receiver
) -> None:
    receiver.replies["/later"] = Reply(body="{}")
    desk = Desk(services, receiver.url("/later"))
    task, reservation = desk.task()
    assert eventually(lambda: desk.settled(reservation)) == ("sent", 1, None)
    assert desk.status(reservation) == "pending"
    ws = client.taskrouter.v1.workspaces(desk.sid)
    accepted = ws.tasks(task).reservations(reservation).update(reservation_status="accepted")
    assert accepted.reservation_status == "accepted"


def test_a_failing_url_falls_back(services: Services, http: TestClient, receiver: Receiver) -> None:
    receiver.replies["/broken"] = Reply(500, "oops", "text/plain")
    receiver.replies["/fallback"] = Reply(body='{"instruction": "accept"}')
    desk = Desk(services, receiver.url("/broken"), receiver.url("/fallback"))
    _, reservation = desk.task()
    eventually(lambda: desk.status(reservation) == "accepted")
    assert receiver.paths() == ["/broken", "/fallback"]
    first, second = receiver.seen
    assert first.form == second.form
    validator = RequestValidator(AUTH_TOKEN)
    assert validator.validate(
        receiver.url("/fallback"), second.form, second.headers["X-Twilio-Signature"]
    )
    assert eventually(lambda: desk.settled(reservation)) == ("sent", 1, None)


def test_malformed_json_is_recorded_and_the_engine_keeps_working(
    services: Services, http: TestClient, client: Client, receiver: Receiver
) -> None:
    receiver.replies["/bad"] = Reply(body='{"instruction": "accept"')
    desk = Desk(services, receiver.url("/bad"), workers=2)
    task, reservation = desk.task()
    state, attempts, error = eventually(lambda: desk.settled(reservation))
    assert (state, attempts) == ("failed", 1)
    assert error is not None and error.startswith("40001")
    assert desk.status(reservation) == "pending"
    ws = client.taskrouter.v1.workspaces(desk.sid)
    ws.tasks(task).reservations(reservation).update(reservation_status="accepted")
    assert ws.tasks(task).fetch().assignment_status == "assigned"
    # The next task is offered (and its callback sent) as usual.
    _, second = desk.task()
    assert eventually(lambda: desk.settled(second))[0] == "failed"
    assert len(receiver.seen) == 2


@pytest.mark.parametrize(
    ("reply", "state", "code", "status"),
    [
        (Reply(body='{"note": "thinking"}'), "sent", "40005", "pending"),
        (Reply(body='{"instruction": "accept"}', content_type="text/plain"), "failed", "40000",
         "pending"),
        (Reply(body="OK", content_type="text/plain"), "sent", None, "pending"),
        (Reply(body=""), "sent", None, "pending"),
        (Reply(body="[1, 2]"), "failed", "40001", "pending"),
        (Reply(body='{"instruction": "teleport"}'), "failed", "55555", "pending"),
        (Reply(body='{"instruction": "dequeue"}'), "failed", "40132", "pending"),
        (Reply(body='{"instruction": "reject", "activity_sid": "WAnope"}'), "failed", "40100",
         "pending"),
        (Reply(body='{"instruction": "reject"}'), "sent", None, "rejected"),
        (Reply(body='{"instruction": "call", "from": "+1555", "url": "https://x.test/t",'
                    ' "accept": "true"}'), "sent", None, "accepted"),
        (Reply(body='{"instruction": "redirect", "call_sid": "CA' + "1" * 32 + '",'
                    ' "url": "https://x.test/t", "accept": false}'), "sent", None, "pending"),
        (Reply(404), "failed", "11200", "pending"),
        (Reply(302, content_type="text/plain"), "failed", "11200", "pending"),
    ],
)  # fmt: skip
def test_each_kind_of_reply(
    services: Services,
    http: TestClient,
    receiver: Receiver,
    reply: Reply,
    state: str,
    code: str | None,
    status: str,
) -> None:
    receiver.replies["/cb"] = reply
    desk = Desk(services, receiver.url("/cb"))
    _, reservation = desk.task()
    settled = eventually(lambda: desk.settled(reservation))
    assert settled[0] == state, settled
    assert (settled[2] or "")[:5] == (code or "")
    assert desk.status(reservation) == status


def test_reject_with_an_activity_moves_the_worker(
    services: Services, http: TestClient, client: Client, receiver: Receiver
) -> None:
    desk = Desk(services, receiver.url("/reject"))
    offline = desk.activities["Offline"]
    receiver.replies["/reject"] = Reply(
        body=json.dumps({"instruction": "reject", "activity_sid": offline})
    )
    _, reservation = desk.task()
    eventually(lambda: desk.status(reservation) == "rejected")
    worker = client.taskrouter.v1.workspaces(desk.sid).workers(desk.workers[0]).fetch()
    assert worker.activity_name == "Offline"


def test_the_outbox_state_of_an_unknown_reservation_is_404(
    services: Services, http: TestClient
) -> None:
    desk = Desk(services, "https://example.com/assign")
    path = f"/switchboard/v1/Workspaces/{desk.sid}/Reservations/WR{'0' * 32}/AssignmentCallback"
    assert http.get(path).status_code == 404
    other = http.get(path.replace(desk.sid, "WS" + "0" * 32))
    assert other.status_code == 404


# -- the sender on its own (short timeouts, no app) --------------------------------------------


def _run(sender: AssignmentCallbackSender) -> int:
    async def go() -> int:
        try:
            return await sender.run_once()
        finally:
            await sender.stop()

    return asyncio.run(go())


@pytest.mark.slow  # waits out a real HTTP timeout
def test_a_slow_url_times_out_and_the_fallback_is_used(
    services: Services, receiver: Receiver
) -> None:
    receiver.replies["/slow"] = Reply(body='{"instruction": "accept"}', hang=True)
    receiver.replies["/fallback"] = Reply(body='{"instruction": "accept"}')
    desk = Desk(services, receiver.url("/slow"), receiver.url("/fallback"))
    _, reservation = desk.task()
    sender = AssignmentCallbackSender(
        services.store, services.engine.reservations, services.clock, timeout_s=0.3
    )
    assert _run(sender) == 1
    assert receiver.paths() == ["/slow", "/fallback"]
    assert desk.status(reservation) == "accepted"
    assert desk.outbox(reservation) == ("sent", 1, None)


@pytest.mark.slow  # waits out a real HTTP timeout
def test_both_urls_failing_is_recorded_and_the_reservation_stays_pending(
    services: Services, receiver: Receiver
) -> None:
    receiver.replies["/slow"] = Reply(hang=True)
    desk = Desk(services, receiver.url("/slow"), "http://127.0.0.1:9/refused")
    _, reservation = desk.task()
    sender = AssignmentCallbackSender(
        services.store, services.engine.reservations, services.clock, timeout_s=0.3
    )
    _run(sender)
    state, attempts, error = desk.outbox(reservation)
    assert (state, attempts) == ("failed", 1)
    assert error is not None and error.startswith("11200")
    assert "did not answer within 0.3 s" in error and "127.0.0.1:9/refused" in error
    assert desk.status(reservation) == "pending"


def test_a_reservation_that_timed_out_during_the_exchange_is_recorded_not_raised(
    services: Services, receiver: Receiver
) -> None:
    receiver.replies["/cb"] = Reply(body='{"instruction": "accept"}')
    desk = Desk(services, receiver.url("/cb"))
    _, reservation = desk.task()

    def time_passes() -> None:
        services.clock.advance_ms(121_000)  # type: ignore[attr-defined]
        services.engine.deadlines.tick()

    receiver.before_reply = time_passes
    _run(AssignmentCallbackSender(services.store, services.engine.reservations, services.clock))
    state, _, error = desk.outbox(reservation)
    assert state == "failed" and error is not None and "timeout" in error
    assert desk.status(reservation) == "timeout"


def test_a_reservation_no_longer_pending_is_skipped(services: Services, receiver: Receiver) -> None:
    receiver.replies["/cb"] = Reply(body='{"instruction": "accept"}')
    desk = Desk(services, receiver.url("/cb"))
    _, reservation = desk.task()
    services.engine.reservations.update_reservation(
        desk.sid, reservation, status=ReservationStatus.ACCEPTED
    )
    _run(AssignmentCallbackSender(services.store, services.engine.reservations, services.clock))
    assert receiver.seen == []
    assert desk.outbox(reservation)[0] == "skipped"


class LoopThread:
    """An event loop in a thread of its own, like the server's, for a long-lived sender."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def __enter__(self) -> LoopThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def test_a_commit_wakes_the_sender_without_waiting_for_its_poll(
    services: Services, receiver: Receiver
) -> None:
    receiver.replies["/cb"] = Reply(body='{"instruction": "accept"}')
    desk = Desk(services, receiver.url("/cb"))
    sender = AssignmentCallbackSender(
        services.store, services.engine.reservations, services.clock, poll_s=3600
    )
    with LoopThread() as loop:
        loop.run(sender.start())
        services.engine.commit_listeners.append(sender.on_commit)
        try:
            # The loop runs ready callbacks in order: this no-op, queued after the sender's
            # first look, returns once that look has found nothing to send.
            loop.run(asyncio.sleep(0))
            _, reservation = desk.task()  # committed on this thread: wakes the loop's sender
            eventually(lambda: desk.status(reservation) == "accepted")
        finally:
            services.engine.commit_listeners.remove(sender.on_commit)
            loop.run(sender.stop())


# -- reading replies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/json; charset=utf-8", b'{"instruction":"accept"}',
         Instruction("accept", {})),
        ("application/json", b'  {"instruction":"reject","activity_sid":"WA1"} ',
         Instruction("reject", {"activity_sid": "WA1"})),
        ("application/json", b"", Outcome("sent")),
        ("application/json", b"{}", Outcome("sent")),
        ("text/html", b"<p>ok</p>", Outcome("sent")),
        ("application/json", b"\xff\xfe", None),
        ("application/json", b'"accept"', None),
        ("application/json", b"x" * 70_000, None),
        ("application/json", b'{"instruction": 7}', Outcome(
            "failed", "55555: the instruction must be a string, not 7")),
    ],
)  # fmt: skip
def test_interpret(content_type: str, body: bytes, expected: Any) -> None:
    result = interpret(content_type, body)
    if expected is None:
        assert isinstance(result, Outcome) and result.state == "failed"
        assert result.error is not None and result.error.startswith("40001")
    else:
        assert result == expected


def test_end_to_end_over_real_sockets(
    live_client: Client, live_server: Any, receiver: Receiver
) -> None:
    """SDK → uvicorn → engine → sender → receiver → accept, every hop a real socket."""
    receiver.replies["/assign"] = Reply(body='{"instruction": "accept"}')
    ws_sid = live_client.taskrouter.v1.workspaces.create(friendly_name="Live").sid
    ws = live_client.taskrouter.v1.workspaces(ws_sid)
    available = ws.activities.list(friendly_name="Available")[0].sid
    queue = ws.task_queues.create(friendly_name="Support").sid
    ws.workers.create(friendly_name="alice", activity_sid=available)
    routing = {"filters": [], "default_filter": {"queue": queue}}
    workflow = ws.workflows.create(
        friendly_name="Flow", configuration=json.dumps({"task_routing": routing}),
        assignment_callback_url=receiver.url("/assign"),
    )  # fmt: skip
    task = ws.tasks.create(attributes="{}", workflow_sid=workflow.sid).sid
    eventually(lambda: ws.tasks(task).fetch().assignment_status == "assigned")
    [reservation] = ws.tasks(task).reservations.list()
    assert reservation.reservation_status == "accepted"
    [seen] = receiver.seen
    assert RequestValidator(AUTH_TOKEN).validate(
        receiver.url("/assign"), seen.form, seen.headers["X-Twilio-Signature"]
    )
    path = f"/switchboard/v1/Workspaces/{ws_sid}/Reservations/{reservation.sid}"
    state = requests.get(
        f"{live_server.url}{path}/AssignmentCallback", auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
    ).json()
    assert (state["state"], state["attempts"]) == ("sent", 1)


def test_reply_parameters_take_the_rest_apis_types() -> None:
    params = engine_params({
        "accept": "TRUE", "status_callback_events": "ringing, answered",
        "conference_status_callback_event": ["start"], "sip_auth_password": "hunter2",
        "from": "+1555",
    })  # fmt: skip
    assert params == {
        "accept": True, "status_callback_events": ["ringing", "answered"],
        "conference_status_callback_event": ["start"], "sip_auth_password": "[redacted]",
        "from": "+1555",
    }  # fmt: skip
    assert engine_params({"accept": "no"})["accept"] is False
    assert engine_params({"accept": 1})["accept"] is False  # only true, "true", "1", "yes"
