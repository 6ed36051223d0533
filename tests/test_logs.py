"""Logs: a request id in a response header and on the request's log lines, JSON lines with
`--log-format json`, one line per callback attempt and per deadline batch."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import requests
from starlette.testclient import TestClient

from switchboard.app import create_app
from switchboard.logs import handler
from switchboard.storage.leader import SoleLeader
from switchboard.timers import TickLoop
from tests.support import ACCOUNT_SID, AUTH_TOKEN, RunningServer, eventually, make_services


def test_every_answer_carries_a_request_id(http: TestClient) -> None:
    first = http.get("/v1/Workspaces").headers["x-request-id"]
    second = http.get("/v1/Workspaces/WS" + "0" * 32).headers["x-request-id"]
    assert len(first) == 32 and first != second  # a 404 carries one too


def test_a_usable_incoming_request_id_is_kept(http: TestClient) -> None:
    kept = http.get("/v1/Workspaces", headers={"X-Request-Id": "lb-7f3a:42"})
    assert kept.headers["x-request-id"] == "lb-7f3a:42"
    for unusable in ("x" * 200, "two words", 'quote"d'):
        replaced = http.get("/v1/Workspaces", headers={"X-Request-Id": unusable})
        assert replaced.headers["x-request-id"] != unusable
        assert len(replaced.headers["x-request-id"]) == 32


@contextmanager
def access_lines() -> Iterator[io.StringIO]:
    """uvicorn's access lines, as `--log-format json` writes them (attached once the server
    has started: uvicorn's own logging setup replaces the handlers it finds)."""
    out = io.StringIO()
    logger = logging.getLogger("uvicorn.access")
    level, json_handler = logger.level, handler("json", out)
    logger.addHandler(json_handler)
    logger.setLevel(logging.INFO)  # the suite's servers log warnings only
    try:
        yield out
    finally:
        logger.removeHandler(json_handler)
        logger.setLevel(level)


def test_json_lines_carry_the_request_id(tmp_path: Path) -> None:
    services = make_services(tmp_path)
    app = create_app(services.settings, services=services)
    with RunningServer(app) as server, access_lines() as out:
        answer = requests.get(
            f"{server.url}/v1/Workspaces", auth=(ACCOUNT_SID, AUTH_TOKEN),
            headers={"X-Request-Id": "trace-123"}, timeout=10,
        )  # fmt: skip
        assert answer.headers["X-Request-Id"] == "trace-123"
    services.store.close()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    (line,) = [x for x in lines if "/v1/Workspaces" in x["message"]]
    assert line["request_id"] == "trace-123"
    assert line["level"] == "info" and line["logger"] == "uvicorn.access"
    assert line["time"].endswith("Z")


def test_the_json_formatter_keeps_extra_fields_and_errors() -> None:
    out = io.StringIO()
    logger = logging.getLogger("tests.logs.json")
    logger.addHandler(handler("json", out))
    logger.propagate = False
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed %s", "here", extra={"workspace_sid": "WS1"})
    (line,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert line["message"] == "failed here" and line["workspace_sid"] == "WS1"
    assert line["request_id"] is None and "ValueError: boom" in line["error"]


def test_one_line_per_callback_attempt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="switchboard")

    def receive(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500 if request.url.path == "/events" else 200, json={})

    services = make_services(tmp_path)
    app = create_app(
        services.settings, services=services, callback_transport=httpx.MockTransport(receive)
    )
    with TestClient(app, base_url="http://testserver") as http:
        http.auth = (ACCOUNT_SID, AUTH_TOKEN)
        ws = http.post("/v1/Workspaces", data={
            "FriendlyName": "Logged", "EventCallbackUrl": "http://receiver.test/events",
            "EventsFilter": "task.created"}).json()["sid"]  # fmt: skip
        base = f"/v1/Workspaces/{ws}"
        queue = http.post(f"{base}/TaskQueues", data={"FriendlyName": "Q", "TargetWorkers": "1==1"})
        routing = {
            "task_routing": {"filters": [], "default_filter": {"queue": queue.json()["sid"]}}
        }
        http.post(f"{base}/Workflows", data={
            "FriendlyName": "F", "Configuration": json.dumps(routing),
            "AssignmentCallbackUrl": "http://receiver.test/assign"})  # fmt: skip
        activities = http.get(f"{base}/Activities").json()["activities"]
        available = next(a["sid"] for a in activities if a["friendly_name"] == "Available")
        http.post(f"{base}/Workers", data={"FriendlyName": "W", "ActivitySid": available})
        http.post(f"{base}/Tasks", data={"Attributes": "{}"})

        def lines(prefix: str) -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.getMessage().startswith(prefix)]

        (assigned,) = eventually(lambda: lines("assignment callback for"))
        assert "http://receiver.test/assign: HTTP 200" in assigned.getMessage()
        assert assigned.__dict__["status"] == 200
        failed = eventually(lambda: lines("event callback EV"))[0]
        assert "task.created" in failed.getMessage() and failed.__dict__["status"] == 500
    services.store.close()


class DueEngine:
    """Three deadlines are due at the first look, none after."""

    def __init__(self) -> None:
        self.due = 3

    def tick(self, now: int | None = None, *, limit: int | None = None) -> int:
        done, self.due = self.due, 0
        return done

    def next_deadline(self) -> int | None:
        return 0 if self.due else None

    def now(self) -> int:
        return 0


def test_one_line_per_deadline_batch(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.timers")

    async def scenario() -> None:
        loop = TickLoop(DueEngine(), SoleLeader())
        running = asyncio.create_task(loop.run())
        await asyncio.sleep(0.05)
        loop.stop()
        await asyncio.wait_for(running, 5)

    asyncio.run(scenario())
    batches = [r for r in caplog.records if r.getMessage().startswith("deadline batch")]
    assert [r.__dict__["processed"] for r in batches] == [3]  # an empty look logs nothing
