"""The console's pages without a browser: sign-in, sessions, CSRF, what each account sees,
and the board's figures against a workload run through the twilio SDK."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.api.context import Services
from tests.support import ACCOUNT_SID, AUTH_TOKEN, OTHER_ACCOUNT_SID, Env, eventually

CONSOLE = "/switchboard/console"


def sign_in(http: TestClient, username: str = ACCOUNT_SID, password: str = AUTH_TOKEN,
            next_page: str = "") -> Any:  # fmt: skip
    """Through the form, as a browser does: the form's CSRF field matches its cookie."""
    http.auth = None
    form = http.get(f"{CONSOLE}/sign-in")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    return http.post(
        f"{CONSOLE}/sign-in",
        data={"csrf": token.group(1), "username": username, "password": password,
              "next": next_page},
        follow_redirects=False,
    )  # fmt: skip


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


@pytest.fixture
def env(client: Client, services: Services, workspace: Any) -> Env:
    return Env(client, services, workspace)


def test_the_root_leads_to_the_console_and_it_to_the_sign_in(http: TestClient) -> None:
    http.auth = None
    root = http.get("/", follow_redirects=False)
    assert (root.status_code, root.headers["location"]) == (307, f"{CONSOLE}/")
    page = http.get(f"{CONSOLE}/", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith(f"{CONSOLE}/sign-in?next=")


def test_signing_in_sets_a_protected_session_cookie(http: TestClient, workspace: Any) -> None:
    answer = sign_in(http)
    assert (answer.status_code, answer.headers["location"]) == (303, f"{CONSOLE}/")
    cookie = next(
        h for h in answer.headers.get_list("set-cookie") if h.startswith("switchboard_console=")
    )
    assert (
        "HttpOnly" in cookie
        and "SameSite=strict" in cookie
        and "Path=/switchboard/console" in cookie
    )
    page = http.get(f"{CONSOLE}/")
    assert page.status_code == 200 and workspace.sid in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-request-id"]


def test_wrong_credentials_and_a_missing_form_token_are_refused(http: TestClient) -> None:
    wrong = sign_in(http, password="not-the-token")
    assert wrong.status_code == 401 and "not valid" in wrong.text
    http.cookies.clear()
    forged = http.post(f"{CONSOLE}/sign-in", data={"csrf": "x", "username": ACCOUNT_SID,
                                                   "password": AUTH_TOKEN})  # fmt: skip
    assert forged.status_code == 403
    assert "switchboard_console=" not in forged.headers.get("set-cookie", "")


def test_an_api_key_signs_in(http: TestClient, services: Services) -> None:
    key, secret = services.engine.accounts.create_api_key(ACCOUNT_SID, "console")
    assert sign_in(http, key.sid, secret).status_code == 303
    assert http.get(f"{CONSOLE}/", follow_redirects=False).status_code == 200


def test_a_forged_or_altered_cookie_is_no_session(http: TestClient) -> None:
    sign_in(http)
    real = http.cookies["switchboard_console"]
    _, expires, nonce, mac = real.split(".")
    http.cookies.clear()
    http.cookies.set("switchboard_console", f"{OTHER_ACCOUNT_SID}.{expires}.{nonce}.{mac}")
    assert http.get(f"{CONSOLE}/", follow_redirects=False).status_code == 303


def test_an_account_sees_only_its_own_workspaces(http: TestClient, client: Client,
                                                 other_client: Client) -> None:  # fmt: skip
    mine = client.taskrouter.v1.workspaces.create(friendly_name="Mine")
    theirs = other_client.taskrouter.v1.workspaces.create(friendly_name="Theirs")
    sign_in(http)
    listing = http.get(f"{CONSOLE}/").text
    assert mine.sid in listing and theirs.sid not in listing
    for path in (
        f"/workspaces/{theirs.sid}",
        "/workspaces/WSnot-a-sid",
        f"/workspaces/{mine.sid}/tasks/WT{'0' * 32}",
        f"/workspaces/{mine.sid}/tasks/x",
    ):
        assert http.get(CONSOLE + path).status_code == 404, path
    assert http.get(f"{CONSOLE}/workspaces/{theirs.sid}/board.json").status_code == 404
    assert http.get(f"{CONSOLE}/workspaces/{theirs.sid}/live").status_code == 404


def test_the_data_endpoints_answer_errors_in_twilio_shape(
    http: TestClient, client: Client, other_client: Client
) -> None:
    """The board's data and its live stream are read by a script: their errors are Twilio's
    JSON, like the API's. A workspace that is not the account's is a 404; no session is a
    401, which the board's script reads as "sign in again"."""
    mine = client.taskrouter.v1.workspaces.create(friendly_name="Mine")
    theirs = other_client.taskrouter.v1.workspaces.create(friendly_name="Theirs")
    sign_in(http)
    for ws in (theirs.sid, f"WS{'0' * 32}", "WSnot-a-sid"):
        for endpoint in ("live", "board.json"):
            path = f"{CONSOLE}/workspaces/{ws}/{endpoint}"
            answer = http.get(path)
            assert answer.status_code == 404, path
            assert answer.headers["content-type"].startswith("application/json")
            assert answer.json() == {
                "code": 20404,
                "message": f"The requested resource {path} was not found",
                "more_info": "https://www.twilio.com/docs/errors/20404",
                "status": 404,
            }
    http.cookies.clear()
    for endpoint in ("live", "board.json"):
        answer = http.get(f"{CONSOLE}/workspaces/{mine.sid}/{endpoint}")
        assert answer.status_code == 401
        body = answer.json()
        assert (body["code"], body["status"]) == (20003, 401)
        assert "Sign in" in body["message"] and body["more_info"].endswith("/20003")


def test_after_sign_in_only_console_pages_are_followed(http: TestClient) -> None:
    for target in ("https://elsewhere.example/", "//elsewhere.example/x", "/v1/Workspaces"):
        assert sign_in(http, next_page=target).headers["location"] == f"{CONSOLE}/"
    board = f"{CONSOLE}/workspaces/WS{'1' * 32}"
    assert sign_in(http, next_page=board).headers["location"] == board


def test_signing_out_needs_the_form_token(http: TestClient) -> None:
    sign_in(http)
    page = http.get(f"{CONSOLE}/").text
    refused = http.post(f"{CONSOLE}/sign-out", data={"csrf": "guess"}, follow_redirects=False)
    assert refused.status_code == 403
    assert http.get(f"{CONSOLE}/", follow_redirects=False).status_code == 200
    out = http.post(f"{CONSOLE}/sign-out", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert out.status_code == 303
    assert http.get(f"{CONSOLE}/", follow_redirects=False).status_code == 303


def test_the_manual_clock_buttons_move_time_and_process_deadlines(
    env: Env, http: TestClient
) -> None:
    env.to_queue(env.queue("Support"))
    env.worker("Alice")
    task = env.task()
    sign_in(http)
    page = http.get(f"{CONSOLE}/workspaces/{env.sid}").text
    assert http.post(f"{CONSOLE}/clock", data={"seconds": "600"}).status_code == 403
    moved = http.post(f"{CONSOLE}/clock", data={"seconds": "600", "csrf": csrf_of(page)},
                      follow_redirects=False)  # fmt: skip
    assert moved.status_code == 303
    # The reservation's 120 s timeout passed: the offer timed out.
    (offer,) = env.reservations(task.sid)
    assert offer.reservation_status == "timeout"


def test_the_board_counts_tasks_and_workers(env: Env, http: TestClient) -> None:
    support = env.queue("Support", target_workers="skills HAS 'support'")
    env.to_queue(support)
    alice = env.worker("Alice", skills=["support"])
    env.worker("Bob", available=False, skills=["support"])
    env.worker("Carol", skills=["sales"])
    first = env.task()
    env.ws.tasks.create(attributes=json.dumps({}), priority=5)
    env.task()
    env.advance(30)
    env.accept(first.sid)
    sign_in(http)
    board = http.get(f"{CONSOLE}/workspaces/{env.sid}/board.json").json()
    (queue,) = board["queues"]
    assert (queue["sid"], queue["name"]) == (support, "Support")
    assert (queue["waiting"], queue["reserved"], queue["assigned"]) == (2, 0, 1)
    assert queue["waiting_by_priority"] == [[5, 1], [0, 1]]
    assert queue["longest_wait_s"] == 30
    # Alice and Bob are in the queue; Alice is available (busy, in an available activity),
    # Bob is offline; Carol is available but not in the queue.
    assert (queue["eligible"], queue["available"]) == (2, 1)
    assert {(a["friendly_name"], a["workers"]) for a in board["activities"]} >= {
        ("Available", 2), ("Offline", 1)}  # fmt: skip
    assert [t["priority"] for t in board["waiting_tasks"]] == [5, 0] or len(
        board["waiting_tasks"]
    ) == 2
    page = http.get(f"{CONSOLE}/workspaces/{env.sid}")
    assert page.status_code == 200 and "Support" in page.text and alice not in page.text


def test_the_task_page_explains_why_a_task_waits(env: Env, http: TestClient) -> None:
    klingon = env.queue("Klingon", target_workers="languages HAS 'tlh'")
    english = env.queue("English", target_workers="languages HAS 'en'")
    env.workflow({"filters": [
        {"filter_friendly_name": "Klingon speakers", "expression": "lang == 'tlh'",
         "targets": [{"queue": english, "expression": "worker.level > task.level", "timeout": 60},
                     {"queue": klingon}]}]})  # fmt: skip
    alice = env.worker("Alice", languages=["en"], level=2)
    task = env.task(lang="tlh", level=5)
    sign_in(http)
    page = http.get(f"{CONSOLE}/workspaces/{env.sid}/tasks/{task.sid}?worker={alice}").text
    assert "Klingon speakers" in page
    assert '<dd id="task-step">Klingon speakers, target 1 of 2</dd>' in page
    assert "1 worker in English, but the target's conditions admit none of them" in page
    assert "worker.level &gt; task.level" in page
    assert "is not greater than" in page  # the explain engine's reason for Alice
    assert "task.created" in page and "task-queue.entered" in page
    env.advance(60)  # the first target times out: the task moves to Klingon
    page = http.get(f"{CONSOLE}/workspaces/{env.sid}/tasks/{task.sid}?worker={alice}").text
    assert "No worker is in queue Klingon" in page
    assert "not in queue Klingon" in page and "languages HAS" in page
    assert "task-queue.moved" in page
    assert '<dd id="task-step">Klingon speakers, target 2 of 2</dd>' in page


def test_a_queue_is_counted_in_the_background_not_inline(env: Env, http: TestClient) -> None:
    """Counting a queue's members reads every worker: a board shows such a queue as unknown
    at first and counts it a queue per turn of the event loop, so requests go on."""
    env.worker("Alice", skills=["support"])
    env.worker("Bob", skills=["sales"])
    quiet = env.queue("Quiet", target_workers="skills HAS 'support'")  # no task ever routed
    sign_in(http)
    url = f"{CONSOLE}/workspaces/{env.sid}/board.json"
    first = http.get(url).json()["queues"][0]
    assert first["sid"] == quiet and first["waiting"] == 0

    def counted() -> Any:
        queue = http.get(url).json()["queues"][0]
        return queue if queue["eligible"] is not None else None

    # Built before the count could start (nothing awaits in between): not counted yet.
    assert (first["eligible"], first["available"]) == (None, None)
    queue = eventually(counted)
    assert (queue["eligible"], queue["available"]) == (1, 1)


def test_the_expression_playground(env: Env, http: TestClient) -> None:
    alice = env.worker("Alice", skills=["support"], level=2)
    env.to_queue(env.queue("Support"))
    task = env.task(needs="support", level=3)
    sign_in(http)
    url = f"{CONSOLE}/workspaces/{env.sid}/expression"

    def result(**query: str) -> str:
        page = http.get(url, params=query)
        assert page.status_code == 200
        found = re.search(r'id="result"[^>]*>(.*?)</(?:p|div)>', page.text, re.S)
        assert found is not None, page.text
        return found.group(1)

    assert result(expression="skills HAS 'support'", subject="worker", worker=alice) == "match"
    assert "2 is not greater than or equal to 3" in result(
        expression="worker.level >= task.level", subject="target", worker=alice, task=task.sid
    )
    assert result(expression="needs == 'support'", subject="task", task=task.sid) == "match"
    broken = http.get(url, params={"expression": "level >>= 2", "worker": alice}).text
    assert "expected a value after" in broken
    assert "<pre>level &gt;&gt;= 2\n" + " " * 7 + "^</pre>" in broken  # under the second >
    assert "Give the SID of a task" in result(expression="1 == 1", subject="task", task="WTnope")


def test_the_workers_page_filters_and_shows_load(env: Env, http: TestClient) -> None:
    support = env.queue("Support", target_workers="skills HAS 'support'")
    env.to_queue(support)
    alice = env.worker("Alice", skills=["support"], level=3)
    bob = env.worker("Bob", available=False, skills=["support"], level=1)
    carol = env.worker("Carol", skills=["sales"], level=5)
    env.advance(90)
    task = env.task()  # offered to Alice
    sign_in(http)
    url = f"{CONSOLE}/workspaces/{env.sid}/workers"

    def listed(**query: str) -> list[str]:
        page = http.get(url, params=query)
        assert page.status_code == 200
        return re.findall(r'<tr data-worker="(WK\w+)"', page.text)

    assert listed() == [alice, bob, carol]  # by name
    assert listed(queue=support) == [alice, bob]
    assert listed(activity=env.activities["Offline"]) == [bob]
    assert listed(expression="level >= 3") == [alice, carol]
    assert listed(queue=support, expression="level >= 3") == [alice]
    refused = http.get(url, params={"expression": "level >="})
    assert refused.status_code == 200 and "does not parse" in refused.text
    row = re.search(rf'<tr data-worker="{alice}">(.*?)</tr>', http.get(url).text, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(1))
    assert cells == ["1m 30s", "1", "1"]  # in Available since its creation; one pending offer
    assert "default 1/1" in row.group(1)
    env.accept(task.sid)
    row = re.search(rf'<tr data-worker="{alice}">(.*?)</tr>', http.get(url).text, re.S)
    assert row is not None
    assert re.findall(r'<td class="num">([^<]*)</td>', row.group(1))[1:] == ["1", "0"]


def test_the_workflows_page_draws_filters_and_targets(env: Env, http: TestClient) -> None:
    vip, english = env.queue("VIP"), env.queue("English")
    env.workflow({"filters": [
        {"filter_friendly_name": "Gold customers", "expression": "tier == 'gold'",
         "targets": [{"queue": vip, "timeout": 45, "expression": "worker.level > 2"},
                     {"queue": english, "priority": 9}]}],
        "default_filter": {"queue": english}}, name="Main")  # fmt: skip
    sign_in(http)
    page = http.get(f"{CONSOLE}/workspaces/{env.sid}/workflows").text
    flows = re.findall(r'<li class="flow">(.*?)</ol>\s*</li>', page, re.S)
    assert len(flows) == 2
    gold, default = flows
    assert "Gold customers" in gold and "tier == &#39;gold&#39;" in gold
    targets = re.findall(r'<li class="target">(.*?)</li>', gold, re.S)
    assert "VIP" in targets[0] and "timeout 45 s" in targets[0]
    assert "worker.level &gt; 2" in targets[0]
    assert "English" in targets[1] and "no timeout" in targets[1] and "priority 9" in targets[1]
    assert "default_filter" in default and "English" in default


def test_the_tasks_page_filters_like_the_api(env: Env, http: TestClient) -> None:
    sales, support = env.queue("Sales"), env.queue("Support", target_workers="1==0")
    env.workflow({"filters": [{"expression": "type == 'sales'", "targets": [{"queue": sales}]}],
                  "default_filter": {"queue": support}})  # fmt: skip
    env.worker("Alice")
    first = env.task(type="sales")  # reserved for Alice
    env.advance(1)
    second = env.task(type="billing")  # waits in Support: nobody is in it
    env.advance(1)
    third = env.task(type="sales", vip=True)  # Alice is busy: waits in Sales
    sign_in(http)
    url = f"{CONSOLE}/workspaces/{env.sid}/tasks"

    def listed(**query: str) -> list[str]:
        page = http.get(url, params=query)
        assert page.status_code == 200
        return re.findall(r'<tr data-task="(WT\w+)"', page.text)

    assert listed() == [third.sid, second.sid, first.sid]  # newest first
    assert listed(status="reserved") == [first.sid]
    assert listed(queue=support) == [second.sid]
    assert listed(expression="type == 'sales'") == [third.sid, first.sid]
    assert listed(expression="vip == true", status="pending") == [third.sid]
    assert "does not parse" in http.get(url, params={"expression": "type =="}).text
