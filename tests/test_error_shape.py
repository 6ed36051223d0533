"""One error envelope: every error path answers Twilio's {code, message, more_info, status}
with the matching HTTP status, and the SDK raises TwilioRestException for it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.rest import Client

from tests.support import ACCOUNT_SID, AUTH_TOKEN, InProcessHttpClient, sdk_client

KEYS = {"code", "message", "more_info", "status"}
MISSING_WS = "WS" + "0" * 32


def assert_twilio_error(response: Any, status: int, code: int, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert KEYS <= set(body) <= KEYS | {"details"}, body
    assert body["status"] == status and body["code"] == code
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert isinstance(body["message"], str) and fragment in body["message"]


@pytest.fixture
def anon(app: Any) -> Iterator[TestClient]:
    """Raw HTTP with no credentials unless a test sends its own header."""
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def basic(username: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


# -- routing and authentication ---------------------------------------------------------------


def test_unknown_route_is_20404(http: TestClient, workspace: Any) -> None:
    assert_twilio_error(http.get("/v1/Nothing"), 404, 20404, "/Nothing")
    assert_twilio_error(http.get(f"/v1/Workspaces/{workspace.sid}/Nothing"), 404, 20404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/v1/Workspaces"), ("DELETE", "/v1/Workspaces"), ("PATCH", "/v1/Workspaces/{ws}")],
)
def test_wrong_method_is_405(http: TestClient, workspace: Any, method: str, path: str) -> None:
    response = http.request(method, path.format(ws=workspace.sid))
    assert_twilio_error(response, 405, 20004, method)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(ACCOUNT_SID, "wrong-token"),
        basic("AC" + "9" * 32, AUTH_TOKEN),
        basic("SK" + "9" * 32, AUTH_TOKEN),
        {"Authorization": "Basic !!!not-base64!!!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon-at-all").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xfd").decode()},
        {"Authorization": "Basic"},
        {"Authorization": f"Bearer {AUTH_TOKEN}"},
    ],
    ids=[
        "missing", "wrong-token", "unknown-account", "unknown-key", "not-base64", "no-colon",
        "not-utf8", "empty", "bearer",
    ],
)  # fmt: skip
def test_bad_credentials_are_401(anon: TestClient, headers: dict[str, str]) -> None:
    assert_twilio_error(anon.get("/v1/Workspaces", headers=headers), 401, 20003)
    response = anon.post("/v1/Workspaces", data={"FriendlyName": "x"}, headers=headers)
    assert_twilio_error(response, 401, 20003)


def test_credentials_are_checked_before_the_workspace(anon: TestClient, workspace: Any) -> None:
    # A stranger learns nothing about which workspaces exist.
    for sid in (workspace.sid, MISSING_WS):
        assert_twilio_error(anon.get(f"/v1/Workspaces/{sid}/Activities"), 401, 20003)


# -- paths --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "missing"),
    [
        (f"/v1/Workspaces/{MISSING_WS}", MISSING_WS),
        (f"/v1/Workspaces/{MISSING_WS}/Activities", MISSING_WS),
        ("/v1/Workspaces/WA" + "0" * 32, "WA" + "0" * 32),
        ("/v1/Workspaces/not-a-sid/Activities", "not-a-sid"),
        ("/v1/Workspaces/{ws}/Activities/WK" + "0" * 32, "WK" + "0" * 32),
        ("/v1/Workspaces/{ws}/Activities/WA" + "0" * 32, "WA" + "0" * 32),
    ],
    ids=["workspace", "nested", "wrong-prefix", "malformed", "wrong-prefix-child", "child"],
)
def test_unknown_or_misprefixed_sids_are_404(
    http: TestClient, workspace: Any, path: str, missing: str
) -> None:
    path = path.replace("{ws}", workspace.sid)
    for response in (http.get(path), http.post(path, data={"FriendlyName": "x"})):
        assert_twilio_error(response, 404, 20404, missing)


# -- parameters ---------------------------------------------------------------------------


def test_missing_required_parameter_is_400_naming_it(http: TestClient, workspace: Any) -> None:
    assert_twilio_error(http.post("/v1/Workspaces", data={}), 400, 20001, "FriendlyName")
    response = http.post(f"/v1/Workspaces/{workspace.sid}/Activities", data={"Available": "true"})
    assert_twilio_error(response, 400, 20001, "FriendlyName")


def test_a_repeated_single_valued_parameter_is_400(http: TestClient) -> None:
    response = http.post("/v1/Workspaces", data={"FriendlyName": ["a", "b"]})
    assert_twilio_error(response, 400, 20001, "FriendlyName was given 2 times")
    assert http.get("/v1/Workspaces").json()["workspaces"] == []


def test_a_python_dict_for_attributes_is_400_with_a_hint(client: Client, workspace: Any) -> None:
    """requests encodes a dict's keys as repeated values; the error says what to do instead."""
    workers = client.taskrouter.v1.workspaces(workspace.sid).workers
    with pytest.raises(TwilioRestException) as caught:
        workers.create(friendly_name="alice", attributes={"skills": ["en"], "level": 3})
    assert caught.value.status == 400
    assert "Attributes" in caught.value.msg and "json.dumps" in caught.value.msg
    assert workers.list() == []


@pytest.mark.parametrize(("name", "value"), [
    ("PageSize", "0"), ("PageSize", "-1"), ("PageSize", "abc"), ("PageSize", ""),
    ("Page", "-1"), ("Page", "abc"),
])  # fmt: skip
def test_invalid_paging_parameters_are_400(http: TestClient, name: str, value: str) -> None:
    response = http.get("/v1/Workspaces", params={name: value})
    assert_twilio_error(response, 400, 20001, name)


def test_page_size_above_the_maximum_is_clamped(http: TestClient, workspace: Any) -> None:
    for path in ("/v1/Workspaces", f"/v1/Workspaces/{workspace.sid}/Activities"):
        body = http.get(path, params={"PageSize": "5000"}).json()
        assert body["meta"]["page_size"] == 1000


def _next_token(http: TestClient, path: str) -> str:
    url = http.get(path, params={"PageSize": "1"}).json()["meta"]["next_page_url"]
    token: str = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))["PageToken"]
    return token


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def test_tampered_page_tokens_are_400(http: TestClient, workspace: Any) -> None:
    path = f"/v1/Workspaces/{workspace.sid}/Activities"
    token = _next_token(http, path)
    assert http.get(path, params={"PageSize": "1", "PageToken": token}).status_code == 200
    for bad in (_flip(token, 3), _flip(token, len(token) - 1), token + "x", "PTgarbage", "abc"):
        response = http.get(path, params={"PageSize": "1", "PageToken": bad})
        assert_twilio_error(response, 400, 20001, "PageToken")


def test_a_page_token_of_another_list_is_400(
    http: TestClient, client: Client, workspace: Any
) -> None:
    client.taskrouter.v1.workspaces.create(friendly_name="second")
    other = client.taskrouter.v1.workspaces.create(friendly_name="third")
    from_workspaces = _next_token(http, "/v1/Workspaces")
    from_activities = _next_token(http, f"/v1/Workspaces/{workspace.sid}/Activities")
    for path, token in (
        (f"/v1/Workspaces/{workspace.sid}/Activities", from_workspaces),
        ("/v1/Workspaces", from_activities),
        (f"/v1/Workspaces/{other.sid}/Activities", from_activities),
    ):
        response = http.get(path, params={"PageSize": "1", "PageToken": token})
        assert_twilio_error(response, 400, 20001, "PageToken")


def test_a_page_token_of_another_account_is_400(
    http: TestClient, client: Client, other_client: Client
) -> None:
    for name in ("a", "b"):
        client.taskrouter.v1.workspaces.create(friendly_name=name)
        other_client.taskrouter.v1.workspaces.create(friendly_name=name)
    token = _next_token(http, "/v1/Workspaces")
    response = http.get(
        "/v1/Workspaces",
        params={"PageSize": "1", "PageToken": token},
        auth=("AC" + "2" * 32, "other-auth-token"),
    )
    assert_twilio_error(response, 400, 20001, "PageToken")


@pytest.mark.parametrize(
    "body",
    [b"FriendlyName=caf\xe9", b"FriendlyName=%FF%FE", b"\xff\xfe=x"],
    ids=["raw-latin1", "percent-encoded", "raw-key"],
)
def test_a_body_that_is_not_utf8_is_400(http: TestClient, body: bytes) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = http.post("/v1/Workspaces", content=body, headers=headers)
    assert_twilio_error(response, 400, 20001, "UTF-8")
    assert http.get("/v1/Workspaces").json()["workspaces"] == []


def test_a_query_string_that_is_not_utf8_is_400(http: TestClient) -> None:
    assert_twilio_error(http.get("/v1/Workspaces?FriendlyName=%FF"), 400, 20001, "UTF-8")


# -- what the SDK raises ------------------------------------------------------------------


def _sdk_failures(client: Client, workspace: Any) -> list[tuple[Callable[[], Any], int, int]]:
    ws = client.taskrouter.v1.workspaces(workspace.sid)
    return [
        (lambda: client.taskrouter.v1.workspaces(MISSING_WS).fetch(), 404, 20404),
        (lambda: client.taskrouter.v1.workspaces(MISSING_WS).delete(), 404, 20404),
        (lambda: client.taskrouter.v1.workspaces.create(friendly_name=" "), 400, 20001),
        (lambda: ws.update(prioritize_queue_order="RANDOM"), 400, 20001),
        (lambda: ws.activities.create(friendly_name="x" * 65), 400, 20001),
        (lambda: ws.activities("WA" + "0" * 32).update(friendly_name="x"), 404, 20404),
    ]


def test_the_sdk_raises_twilio_rest_exception(client: Client, workspace: Any) -> None:
    for call, status, code in _sdk_failures(client, workspace):
        with pytest.raises(TwilioRestException) as caught:
            call()
        assert not isinstance(caught.value, TwilioServiceException)
        assert (caught.value.status, caught.value.code) == (status, code)


def test_the_sdk_raises_twilio_rest_exception_for_bad_credentials(app: Any) -> None:
    stranger = sdk_client(InProcessHttpClient(app), "http://testserver", ACCOUNT_SID, "wrong")
    with pytest.raises(TwilioRestException) as caught:
        stranger.taskrouter.v1.workspaces.create(friendly_name="x")
    assert (caught.value.status, caught.value.code) == (401, 20003)


def test_sdk_lists_see_the_same_body(other_client: Client, workspace: Any) -> None:
    """The SDK's lists raise the base TwilioException (clients.md §3.4); the body is the same."""
    with pytest.raises(TwilioException) as caught:
        other_client.taskrouter.v1.workspaces(workspace.sid).activities.list()
    assert not isinstance(caught.value, TwilioServiceException)
    response = caught.value.args[1]
    assert response.status_code == 404
    body = json.loads(response.text)
    assert set(body) == KEYS and body["code"] == 20404
