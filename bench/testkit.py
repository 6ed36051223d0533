"""The test kit's figures: SDK calls per second in process beside the same calls over a real
loopback port, in the same run; fixture setup time; and a suite of tests that each build a
workspace (10 workers, 3 queues, a workflow).

Run from the checkout: .venv/bin/python -m bench.testkit [--calls N] [--tests N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from switchboard.testing import TaskRouter

# Targets from the issue (11).
TARGET_CALLS_PER_S = 1000.0
TARGET_SETUP_MS = 20.0
TARGET_SUITE_S = 10.0

SUITE_SPEC = {
    "queues": {
        "english": "languages HAS 'en'",
        "spanish": "languages HAS 'es'",
        "vip": "level >= 3",
    },
    "workers": {
        f"agent{i}": {"languages": ["en", "es"][: 1 + i % 2], "level": i % 5} for i in range(10)
    },
    "workflow": {"vip": "vip == true", "spanish": "language == 'es'"},
}


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: str = "-"
    passed: bool | None = None


def rate(count: int, call: Callable[[int], object]) -> float:
    """Calls per second of `call(i)` for i in range(count)."""
    started = time.perf_counter()
    for i in range(count):
        call(i)
    return count / (time.perf_counter() - started)


def sdk_rates(kit: TaskRouter, calls: int) -> tuple[float, float]:
    """(worker fetch/s, task create with routing/s): every task created is routed and
    reserves a worker of its own, so each create runs the workflow and a match."""
    ws = kit.workspace(
        {"queues": {"all": "1 == 1"}, "workers": {f"w{i}": {"n": i} for i in range(calls)}}
    )
    worker = ws.api.workers(ws.workers["w0"])
    fetch = rate(calls, lambda _: worker.fetch())
    tasks = ws.api.tasks
    attributes = json.dumps({"type": "support"})
    create = rate(calls, lambda _: tasks.create(workflow_sid=ws.workflow, attributes=attributes))
    routed = sum(1 for t in tasks.list(assignment_status="reserved", limit=calls))
    if routed != calls:
        raise SystemExit(f"only {routed} of {calls} tasks were reserved: the figure is not routing")
    return fetch, create


def suite(tests: int) -> tuple[float, list[float]]:
    """(total seconds, setup milliseconds of each kit) for `tests` tests that each build a
    workspace and create one task through it."""
    setups = []
    started = time.perf_counter()
    for _ in range(tests):
        before = time.perf_counter()
        kit = TaskRouter()
        setups.append((time.perf_counter() - before) * 1000)
        try:
            ws = kit.workspace(SUITE_SPEC)
            ws.create_task({"language": "es"})
        finally:
            kit.close()
    return time.perf_counter() - started, setups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per SDK figure")
    parser.add_argument("--tests", type=int, default=200, help="tests in the suite figure")
    args = parser.parse_args()

    TaskRouter().close()  # the migrated template every kit copies is made once per process
    with TaskRouter() as kit:
        fetch_in, create_in = sdk_rates(kit, args.calls)
    with TaskRouter(server=True) as kit:
        fetch_port, create_port = sdk_rates(kit, args.calls)
    total, setups = suite(args.tests)
    setup_median = statistics.median(setups)
    per_1000 = f"{args.calls} calls"
    figures = [
        Figure(f"worker fetch in process ({per_1000})", fetch_in, "calls/s",
               f">= {TARGET_CALLS_PER_S:,.0f}", fetch_in >= TARGET_CALLS_PER_S),
        Figure("worker fetch over a loopback port", fetch_port, "calls/s"),
        Figure(f"task create with routing in process ({per_1000})", create_in, "calls/s",
               f">= {TARGET_CALLS_PER_S:,.0f}", create_in >= TARGET_CALLS_PER_S),
        Figure("task create with routing over a loopback port", create_port, "calls/s"),
        Figure("fixture setup, median", setup_median, "ms",
               f"<= {TARGET_SETUP_MS:g}", setup_median <= TARGET_SETUP_MS),
        Figure("fixture setup, slowest", max(setups), "ms"),
        Figure(f"{args.tests} tests, each a workspace of 10 workers, 3 queues, a workflow",
               total, "s", f"<= {TARGET_SUITE_S:g} for 200",
               total * 200 / args.tests <= TARGET_SUITE_S),
    ]  # fmt: skip
    print(f"{'figure':<66} {'value':>12}  {'target':<14} result")
    for f in figures:
        result = "" if f.passed is None else ("PASS" if f.passed else "FAIL")
        print(f"{f.name:<66} {f.value:>9,.1f} {f.unit:<4} {f.target:<14} {result}")
    print(
        f"\nin process / over the port: fetch {fetch_in / fetch_port:.1f}x,"
        f" create {create_in / create_port:.1f}x"
    )
    return 0 if all(f.passed is not False for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
