"""Hostile and oversized input over a real socket: every refusal is a Twilio-style 4xx that
names the parameter, and the keep-alive connection that carried it serves the next request.

The SDK shows what a client sees (status, code, message); a raw keep-alive connection shows
what the SDK's pool hides: whether the server closed the socket after answering.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import create_app
from switchboard.expressions import ExpressionError, compile_expression
from switchboard.expressions.lexer import MAX_EXPRESSION_CHARS
from switchboard.expressions.parser import MAX_COMPARISONS
from tests.support import ACCOUNT_SID, AUTH_TOKEN, RunningServer, make_services, sdk_client
from tests.support.hostile import AUTHORIZATION, BAD_URL, DEEP_JSON, HUGE, KeepAlive

WS_PATH = "/v1/Workspaces/{ws}"
TASK_SID = "WT" + "0" * 32
RESERVATION_SID = "WR" + "0" * 32
# Each with TaskRouter's code for it, where it documents one.
RESERVATION_URL_PARAMS = {
    "DequeueStatusCallbackUrl": 40157, "CallUrl": 40112, "CallStatusCallbackUrl": 20001,
    "RedirectUrl": 40120, "StatusCallback": 20001, "WaitUrl": 20001,
    "ConferenceStatusCallback": 20001, "RecordingStatusCallback": 20001,
    "ConferenceRecordingStatusCallback": 20001,
}  # fmt: skip


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[RunningServer, Services]]:
    services = make_services(tmp_path)
    with RunningServer(create_app(services.settings, services=services)) as running:
        yield running, services
    services.store.close()


@pytest.fixture
def raw(server: tuple[RunningServer, Services]) -> Iterator[KeepAlive]:
    connection = KeepAlive(server[0].port)
    yield connection
    connection.close()


@pytest.fixture
def sdk(server: tuple[RunningServer, Services]) -> Client:
    return sdk_client(None, server[0].url)


@pytest.fixture
def ws(sdk: Client) -> str:
    sid: str = sdk.taskrouter.v1.workspaces.create(friendly_name="Hostile").sid
    return sid


def assert_refused(
    raw: KeepAlive, method: str, path: str, form: dict[str, str], name: str, code: int = 20001
) -> None:
    status, body = raw.request(method, path, form)
    assert status == 400, body
    assert body["code"] == code and body["status"] == 400, body
    assert name in body["message"], body
    # The same socket serves the next request.
    assert raw.request("GET", "/v1/Workspaces")[0] == 200


# -- JSON nested 2,000 levels --------------------------------------------------------------


def test_deep_attributes_are_a_400_through_the_sdk(sdk: Client, ws: str) -> None:
    workspace = sdk.taskrouter.v1.workspaces(ws)
    calls = [
        lambda: workspace.workers.create(friendly_name="w", attributes=DEEP_JSON),
        lambda: workspace.tasks.create(attributes=DEEP_JSON),
    ]
    for attempt in calls:
        with pytest.raises(TwilioRestException) as caught:
            attempt()
        assert (caught.value.status, caught.value.code) == (400, 20001)
        assert "Attributes nests arrays and objects 2001 levels deep" in caught.value.msg
    assert workspace.workers.list() == [] and workspace.tasks.list() == []
    # A list's error reaches the caller as the SDK's plain TwilioException, with the response.
    with pytest.raises(TwilioException) as failed:
        workspace.task_queues.list(evaluate_worker_attributes=DEEP_JSON)
    response = failed.value.args[1]
    assert response.status_code == 400
    assert "EvaluateWorkerAttributes nests" in json.loads(response.text)["message"]


def test_deep_json_keeps_the_connection(raw: KeepAlive, sdk: Client, ws: str) -> None:
    workspace = sdk.taskrouter.v1.workspaces(ws)
    worker = workspace.workers.create(friendly_name="w").sid
    base = WS_PATH.format(ws=ws)
    cases = [
        ("POST", f"{base}/Workers", {"FriendlyName": "x", "Attributes": DEEP_JSON}, "Attributes"),
        ("POST", f"{base}/Workers/{worker}", {"Attributes": DEEP_JSON}, "Attributes"),
        ("POST", f"{base}/Tasks", {"Attributes": DEEP_JSON}, "Attributes"),
        ("POST", f"{base}/Tasks/{TASK_SID}", {"Attributes": DEEP_JSON}, "Attributes"),
        ("POST", f"{base}/Workflows", {"FriendlyName": "f", "Configuration": DEEP_JSON},
         "Configuration"),
    ]  # fmt: skip
    for method, path, form, name in cases:
        assert_refused(raw, method, path, form, name)
    query = urlencode({"EvaluateWorkerAttributes": DEEP_JSON})
    assert_refused(raw, "GET", f"{base}/TaskQueues?{query}", {}, "EvaluateWorkerAttributes")
    status, body = raw.request(
        "POST", f"{base}/TaskQueues/RealTimeStatistics", body=DEEP_JSON.encode()
    )
    assert (status, body["code"]) == (400, 20001) and "levels deep" in body["message"]


def test_json_within_the_depth_limit_is_kept(sdk: Client, ws: str) -> None:
    nested = '{"a":' + "[" * 63 + "]" * 63 + "}"
    worker = sdk.taskrouter.v1.workspaces(ws).workers.create(friendly_name="w", attributes=nested)
    assert worker.attributes == nested


def test_brackets_inside_strings_do_not_nest(sdk: Client, ws: str) -> None:
    text = json.dumps({"a": "[" * 100 + '\\"' + "{" * 100, "b": [[["]]]"]]]})
    worker = sdk.taskrouter.v1.workspaces(ws).workers.create(friendly_name="w", attributes=text)
    assert worker.attributes == text


def test_a_bulk_statistics_body_far_over_fifty_sids_is_a_400(raw: KeepAlive, ws: str) -> None:
    body = json.dumps({"QueueSids": ["WQ" + "0" * 32] * 2000}).encode()
    path = f"{WS_PATH.format(ws=ws)}/TaskQueues/RealTimeStatistics"
    status, answer = raw.request("POST", path, body=body)
    assert (status, answer["code"]) == (400, 20001) and "bulk request" in answer["message"]


# -- malformed URLs --------------------------------------------------------------------------


def test_a_malformed_callback_url_is_a_400_through_the_sdk(sdk: Client, ws: str) -> None:
    workspaces = sdk.taskrouter.v1.workspaces
    with pytest.raises(TwilioRestException) as caught:
        workspaces.create(friendly_name="x", event_callback_url=BAD_URL)
    assert (caught.value.status, caught.value.code) == (400, 20001)
    assert "EventCallbackUrl" in caught.value.msg
    with pytest.raises(TwilioRestException) as caught:
        workspaces(ws).update(event_callback_url=BAD_URL)
    assert "EventCallbackUrl" in caught.value.msg


def test_malformed_urls_keep_the_connection(raw: KeepAlive, sdk: Client, ws: str) -> None:
    base = WS_PATH.format(ws=ws)
    queue = sdk.taskrouter.v1.workspaces(ws).task_queues.create(friendly_name="q").sid
    config = json.dumps({"task_routing": {"filters": [], "default_filter": {"queue": queue}}})
    workflow = {"FriendlyName": "f", "Configuration": config}
    form = {"FriendlyName": "x", "EventCallbackUrl": BAD_URL}
    assert_refused(raw, "POST", "/v1/Workspaces", form, "EventCallbackUrl")
    assert_refused(raw, "POST", base, {"EventCallbackUrl": BAD_URL}, "EventCallbackUrl")
    for name in ("AssignmentCallbackUrl", "FallbackAssignmentCallbackUrl"):
        assert_refused(raw, "POST", f"{base}/Workflows", {**workflow, name: BAD_URL}, name)
    status, created = raw.request("POST", f"{base}/Workflows", workflow)
    assert status == 201
    for name in ("AssignmentCallbackUrl", "FallbackAssignmentCallbackUrl"):
        assert_refused(raw, "POST", f"{base}/Workflows/{created['sid']}", {name: BAD_URL}, name)
    for view in (f"Tasks/{TASK_SID}", "Workers/WK" + "0" * 32):
        for name, code in RESERVATION_URL_PARAMS.items():
            path = f"{base}/{view}/Reservations/{RESERVATION_SID}"
            assert_refused(raw, "POST", path, {name: BAD_URL}, name, code)


@pytest.mark.parametrize("url", ["http://host:99999/x", "ftp://host/x", "http://", "/relative"])
def test_other_urls_that_are_not_callbacks(raw: KeepAlive, url: str) -> None:
    form = {"FriendlyName": "x", "EventCallbackUrl": url}
    assert_refused(raw, "POST", "/v1/Workspaces", form, "EventCallbackUrl")


# -- numbers out of range ---------------------------------------------------------------------


def test_a_huge_minutes_is_a_400(raw: KeepAlive, sdk: Client, ws: str) -> None:
    base = WS_PATH.format(ws=ws)
    for path in ("Events", "Statistics", "CumulativeStatistics"):
        assert_refused(raw, "GET", f"{base}/{path}?Minutes={HUGE}", {}, "Minutes")
    with pytest.raises(TwilioException) as failed:
        sdk.taskrouter.v1.workspaces(ws).events.list(minutes=int(HUGE))
    assert failed.value.args[1].status_code == 400


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("Tasks?Priority={n}", "Priority"),
        ("Workers?PageSize={n}", "PageSize"),
        ("Activities?PageSize=-{n}", "PageSize"),
        ("Events?Minutes=-{n}", "Minutes"),
    ],
)
def test_huge_and_negative_integers_in_lists(raw: KeepAlive, ws: str, path: str, name: str) -> None:
    url = f"{WS_PATH.format(ws=ws)}/{path.format(n=HUGE)}"
    assert_refused(raw, "GET", url, {}, name)


def test_integers_in_forms(raw: KeepAlive, sdk: Client, ws: str) -> None:
    base = WS_PATH.format(ws=ws)
    worker = sdk.taskrouter.v1.workspaces(ws).workers.create(friendly_name="w").sid
    cases = [
        (f"{base}/Tasks", {"Priority": HUGE}, "Priority"),
        (f"{base}/Tasks", {"Timeout": HUGE}, "Timeout"),
        (f"{base}/TaskQueues", {"FriendlyName": "q", "MaxReservedWorkers": HUGE},
         "MaxReservedWorkers"),
        (f"{base}/Workers/{worker}/Channels/default", {"Capacity": HUGE}, "Capacity"),
        (f"{base}/Tasks/{TASK_SID}/Reservations/{RESERVATION_SID}", {"DequeueTimeout": HUGE},
         "DequeueTimeout"),
        (f"{base}/Tasks/{TASK_SID}/Reservations/{RESERVATION_SID}", {"CallTimeout": HUGE},
         "CallTimeout"),
    ]  # fmt: skip
    for path, form, name in cases:
        assert_refused(raw, "POST", path, form, name)


# -- expressions -----------------------------------------------------------------------------

DEEP_EXPRESSION = "(" * 2000 + "a == 1" + ")" * 2000
LONG_EXPRESSION = " AND ".join(["a == 1"] * (MAX_COMPARISONS + 1))
HUGE_EXPRESSION = "a IN [" + ",".join(["1"] * 400_000) + "]"


def test_expressions_nested_or_long_are_400s(raw: KeepAlive, ws: str) -> None:
    base = WS_PATH.format(ws=ws)
    for text in (DEEP_EXPRESSION, LONG_EXPRESSION, HUGE_EXPRESSION):
        form = {"FriendlyName": "q", "TargetWorkers": text}
        assert_refused(raw, "POST", f"{base}/TaskQueues", form, "TargetWorkers")
        for path, name in (
            ("Tasks", "EvaluateTaskAttributes"),
            ("Workers", "TargetWorkersExpression"),
        ):
            query = urlencode({name: text})
            if len(query) < 60_000:  # a longer request line never reaches the app
                assert_refused(raw, "GET", f"{base}/{path}?{query}", {}, name)
        config = {"task_routing": {"filters": [{"expression": text, "targets": []}]}}
        form = {"FriendlyName": "f", "Configuration": json.dumps(config)}
        assert_refused(raw, "POST", f"{base}/Workflows", form, "expression")


def test_the_comparison_and_length_limits_are_exact() -> None:
    compile_expression(" OR ".join(["a == 1"] * MAX_COMPARISONS))
    with pytest.raises(ExpressionError) as caught:
        compile_expression(LONG_EXPRESSION)
    assert "too many comparisons" in caught.value.message
    longest = "a IN [" + "1," * ((MAX_EXPRESSION_CHARS - 7) // 2) + "1]"
    assert len(longest) <= MAX_EXPRESSION_CHARS
    compile_expression(longest.ljust(MAX_EXPRESSION_CHARS))
    with pytest.raises(ExpressionError) as caught:
        compile_expression(longest.ljust(MAX_EXPRESSION_CHARS + 1))
    assert "characters long" in caught.value.message


# -- unexpected errors -----------------------------------------------------------------------


def test_an_unexpected_error_is_a_500_that_keeps_the_connection(
    raw: KeepAlive, server: tuple[RunningServer, Services], ws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(server[1].engine.workspaces, "fetch_workspace", broken)
    status, body = raw.request("GET", WS_PATH.format(ws=ws))
    assert status == 500
    assert body == {
        "code": 20500,
        "message": "An internal error occurred; it has been logged",
        "more_info": "https://www.twilio.com/docs/errors/20500",
        "status": 500,
    }
    assert raw.request("GET", "/v1/Workspaces")[0] == 200


# -- oversized bodies ------------------------------------------------------------------------

BIG = 36 * 1024 * 1024


def test_a_36_mb_body_is_refused_and_the_session_goes_on(
    server: tuple[RunningServer, Services],
) -> None:
    with requests.Session() as session:
        session.auth = (ACCOUNT_SID, AUTH_TOKEN)
        response = session.post(f"{server[0].url}/v1/Workspaces", data=b"a" * BIG)
        assert response.status_code == 413
        assert response.json() == {
            "code": 20413,
            "message": "The request body is larger than this server's limit of 4194304 bytes",
            "more_info": "https://www.twilio.com/docs/errors/20413",
            "status": 413,
        }
        assert session.get(f"{server[0].url}/v1/Workspaces").status_code == 200


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _read_response(reply: Any) -> tuple[bytes, dict[bytes, bytes], bytes]:
    status = reply.readline()
    headers: dict[bytes, bytes] = {}
    while (line := reply.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, reply.read(int(headers.get(b"content-length", b"0")))


def test_other_requests_are_served_while_a_big_body_arrives(
    server: tuple[RunningServer, Services], raw: KeepAlive
) -> None:
    """A chunked upload (no Content-Length to refuse it by) is sent in two parts; between
    them, another connection's request is answered in full. The upload is then refused, and its
    connection serves the next request."""
    big = socket.create_connection(("127.0.0.1", server[0].port), timeout=30)
    head = (
        "POST /v1/Workspaces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {AUTHORIZATION}\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    )
    piece = b"a" * (1024 * 1024)
    big.sendall(head.encode() + _chunk(piece) * 2)
    assert raw.request("GET", "/switchboard/health")[0] == 200

    def send_the_rest() -> None:
        for _ in range(34):
            big.sendall(_chunk(piece))
        big.sendall(b"0\r\n\r\n")

    sender = threading.Thread(target=send_the_rest)
    sender.start()
    reply = big.makefile("rb")
    status, headers, body = _read_response(reply)
    sender.join()
    assert status.startswith(b"HTTP/1.1 413") and json.loads(body)["code"] == 20413
    assert headers.get(b"connection", b"").lower() != b"close"
    big.sendall(b"GET /switchboard/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert _read_response(reply)[0].startswith(b"HTTP/1.1 200")
    big.close()


def test_the_body_limit_is_a_setting(tmp_path: Path) -> None:
    services = make_services(tmp_path, max_body_bytes=1000)
    with RunningServer(create_app(services.settings, services=services)) as running:
        connection = KeepAlive(running.port)
        padding = "x" * 1000
        status, body = connection.request("POST", "/v1/Workspaces", body=padding.encode() + b"!")
        assert (status, body["code"]) == (413, 20413)
        form = {"FriendlyName": "fits", "Padding": "x" * 900}
        assert connection.request("POST", "/v1/Workspaces", form)[0] == 201
        connection.close()
    services.store.close()
