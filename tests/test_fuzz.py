"""Fuzz every operation: whatever the path and parameters, the answer is never a 5xx, an error
is in Twilio's shape, and the keep-alive connection survives to carry the next request.

The parameters are every name the API reads (collected from switchboard/api's source, so a new
parameter is fuzzed without editing this file), given hostile values: deep JSON, malformed
URLs, numbers past any column, odd dates and expressions, control characters, arbitrary text.
Paths mix real SIDs of a populated workspace with malformed ones. Hypothesis draws a fixed
sequence (derandomize) so a run is repeatable, and is bounded to a few hundred requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

import switchboard.api
from switchboard.api import ROUTES
from tests.support import RunningServer, make_services, sdk_client
from tests.support.hostile import BAD_URL, DEEP_JSON, HUGE, KeepAlive

API_SOURCE = Path(switchboard.api.__file__).parent
# The first argument of a Params read (p.str("Name"), params.int("Name", …)) or of an
# instruction field (_f("Name", …)).
_PARAM_READ = re.compile(r'(?:\b(?:p|params)\.\w+|\b_f)\(\s*"([A-Z][A-Za-z]+)"')


def parameter_names(module: str) -> list[str]:
    """The names read in one module of switchboard/api (`workers`, `pagination`, …)."""
    return sorted(set(_PARAM_READ.findall((API_SOURCE / f"{module}.py").read_text())))


def every_parameter_name() -> list[str]:
    return sorted({n for path in API_SOURCE.glob("*.py") for n in parameter_names(path.stem)})


NAMES = every_parameter_name()
# Lists read these too; forms and lists may both carry stray names.
PAGING = parameter_names("pagination")

HOSTILE = [
    DEEP_JSON, BAD_URL, HUGE, "-" + HUGE, "1e308", "NaN", "-1", "0", "1", "2147483648",
    "", " ", "null", "true", "[]", "{}", '{"a":', '"x"', "[1,2]", '{"a":1}',
    "(" * 200 + "a==1" + ")" * 200, " AND ".join(["a==1"] * 1200), "a IN [", "1==1",
    "http://", "https://example.com/x", "http://host:99999/", "javascript:alert(1)",
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z", "2026-13-45T99:99:99Z",
    "2026-01-01T00:00:00Z", "\x00", "\ud7ff\ue000", "é" * 70, "x" * 5000, "%FF", "a,b,,c",
    "FIFO", "LIFO", "reserved", "accepted", "canceled", "completed", "dequeue", "conference",
    "call", "redirect", "supervise", "DateCreated:desc", "Priority:sideways",
]  # fmt: skip


def _sids(setup: dict[str, str]) -> dict[str, list[str]]:
    """For each path placeholder, the real SIDs to try beside malformed ones."""
    return {
        "workspace_sid": [setup["ws"]],
        "worker_sid": [setup["worker"]],
        "task_sid": [setup["task"]],
        "task_queue_sid": [setup["queue"]],
        "workflow_sid": [setup["workflow"]],
        "sid": [v for k, v in setup.items() if k != "ws"],
    }


BROKEN_SIDS = ["WS" + "0" * 32, "WK" + "f" * 31, "..", "%2e%2e", "x" * 300, "voice", "WT"]


def _route_calls(setup: dict[str, str]) -> st.SearchStrategy[tuple[str, str, list[str]]]:
    real = _sids(setup)
    routes = [(route, method) for route in ROUTES for method in sorted(route.methods or ())]
    routes = [(r, m) for r, m in routes if m != "HEAD"]

    @st.composite
    def call(draw: st.DrawFn) -> tuple[str, str, list[str]]:
        route, method = draw(st.sampled_from(routes))
        assert isinstance(route, Route)
        path = route.path
        for name in route.param_convertors:
            # Mostly a real SID, so that requests get past the lookups to the parameters; but
            # the workspace itself is never deleted: every later example needs it.
            choices = real.get(name, [])
            if name == "sid" and path == "/v1/Workspaces/{sid}" and method == "DELETE":
                choices = []
            broken = not choices or draw(st.integers(0, 4)) == 0
            value = draw(st.sampled_from(BROKEN_SIDS if broken else choices))
            path = path.replace("{" + name + "}", quote(value, safe=""))
        # Mostly the names this operation's module reads, so that hostile values reach the
        # parameter they are aimed at alongside valid ones; sometimes any name at all.
        own = parameter_names(route.endpoint.__module__.rsplit(".", 1)[-1]) + PAGING
        return method, path, draw(st.sampled_from([own, NAMES]))

    return call()


MAX_QUERY = 60_000
VALID = ["x", "Fuzz name", "1", "5", "true", "false", '{"skills":["en"]}', "skills HAS 'en'"]
VALUES = st.one_of(st.sampled_from(VALID), st.sampled_from(HOSTILE), st.text(max_size=40))


def _params(names: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Any subset of `names`, each once with a value, and sometimes a name given twice."""
    chosen = st.fixed_dictionaries({}, optional=dict.fromkeys(names, VALUES))
    repeated = st.lists(st.tuples(st.sampled_from(names), VALUES), max_size=2)
    return st.tuples(chosen, repeated).map(lambda both: [*both[0].items(), *both[1]])


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KeepAlive, dict[str, str]]]:
    services = make_services(tmp_path_factory.mktemp("fuzz"))
    from switchboard.app import create_app

    with RunningServer(create_app(services.settings, services=services)) as server:
        client = sdk_client(None, server.url)
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Fuzz", template="FIFO")
        workspace = client.taskrouter.v1.workspaces(ws.sid)
        available = next(a for a in workspace.activities.list() if a.available)
        worker = workspace.workers.create(
            friendly_name="w", attributes='{"skills":["en"]}', activity_sid=available.sid
        )
        queue = workspace.task_queues.create(friendly_name="q", target_workers="1==1")
        workflow = workspace.workflows.create(
            friendly_name="f",
            configuration=json.dumps(
                {"task_routing": {"filters": [], "default_filter": {"queue": queue.sid}}}
            ),
        )
        task = workspace.tasks.create(attributes="{}", workflow_sid=workflow.sid)
        setup = {"ws": ws.sid, "worker": worker.sid, "queue": queue.sid,
                 "workflow": workflow.sid, "task": task.sid, "activity": available.sid}  # fmt: skip
        reservations = workspace.tasks(task.sid).reservations.list()
        if reservations:
            setup["reservation"] = reservations[0].sid
        connection = KeepAlive(server.port)
        yield connection, setup
        connection.close()
    services.store.close()


def test_the_parameter_list_is_complete() -> None:
    """The collector finds the parameters of every kind of read (spot checks)."""
    expected = {"Attributes", "EventCallbackUrl", "Minutes", "EvaluateWorkerAttributes",
                "TargetWorkers", "Configuration", "DequeueStatusCallbackUrl", "PageSize",
                "AssignmentStatus", "QueueSids", "SetMs"}  # fmt: skip
    assert expected <= set(NAMES)


def test_no_operation_answers_5xx_or_drops_the_connection(
    target: tuple[KeepAlive, dict[str, str]],
) -> None:
    connection, setup = target

    @settings(
        max_examples=500, derandomize=True, database=None, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )  # fmt: skip
    @given(call=_route_calls(setup), data=st.data())
    def one(call: tuple[str, str, list[str]], data: st.DataObject) -> None:
        method, path, names = call
        params = data.draw(_params(names))
        encoded = urlencode(params)
        # uvicorn's HTTP parser refuses a request line past 64 KiB before the app sees it,
        # closing the connection: a stream it cannot parse cannot be resumed.
        assume(method != "GET" or len(encoded) < MAX_QUERY)
        if method == "GET":
            status, body = connection.request(method, f"{path}?{encoded}" if params else path)
        else:
            status, body = connection.request(method, path, body=encoded.encode())
        assert status < 500, (method, path, params, body)
        if status >= 400:
            assert_twilio_error(body, status)

    one()


def assert_twilio_error(body: dict[str, Any], status: int) -> None:
    assert set(body) >= {"code", "message", "more_info", "status"}, body
    assert body["status"] == status and isinstance(body["code"], int), body
