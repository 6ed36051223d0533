"""Events figures against a running server: event-callback latency at 500 events/s, and the
statistics endpoints of a workspace with 15,000 workers and 100,000 open tasks.

Run from the checkout: .venv/bin/python -m bench.events [--rate N] [--tasks N] …
(`python -m bench.events receive --port P` is the callback receiver it starts for itself.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs

from bench.routing import (
    READY_TIMEOUT_S,
    Connection,
    HttpError,
    Profiler,
    Server,
    auth_header,
    closed_loop,
    database_connection,
    encode_request,
    measuring,
    open_loop,
    percentile,
    query,
    run_async,
    spread,
    start_server,
)
from bench.seed import (
    Seeded,
    one_transaction,
    open_engine,
    seed_database,
    seed_tasks,
    seed_workspace,
)
from bench.workers import (
    HOST,
    LOAD_CPU,
    Processes,
    Report,
    bench_database,
    bench_main,
    bench_parser,
    bound,
    child_env,
    cpu_seconds,
    free_port,
    log,
)
from switchboard.models import ReservationStatus, TaskStatus
from switchboard.timers import ManualClock, SystemClock

# Targets from the acceptance criteria.
TARGET_CALLBACK_P99_MS = 100.0
TARGET_REALTIME_MEDIAN_MS = 50.0
TARGET_CUMULATIVE_MEDIAN_MS = 200.0

MINUTE_MS = 60_000
WINDOW_MS = 15 * MINUTE_MS


# -- the callback receiver (its own process) -----------------------------------------------------


class _Receiver(asyncio.Protocol):
    """Just enough HTTP/1.1 to take the server's event callbacks: each POST's arrival time is
    noted when its body is complete and the body kept unparsed (parsed when results are
    asked for), then a bare 200 goes back. GET /count and GET /results report."""

    def __init__(self, arrivals: list[tuple[float, bytes]], connections: list[int]) -> None:
        self.arrivals = arrivals
        self.connections = connections  # one element, shared: connections accepted so far
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        self.connections[0] += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        for _ in range(1000):  # bounded: one request per turn
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[: end + 2])  # each header line ends with CRLF
            at = head.lower().find(b"\r\ncontent-length:")
            length = int(head[at + 17 : head.index(b"\r\n", at + 2)]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self._answer(head, body, time.time_ns() / 1e6)

    def _answer(self, head: bytes, body: bytes, arrival_ms: float) -> None:
        assert self.transport is not None
        payload = b""
        if head.startswith(b"POST"):
            self.arrivals.append((arrival_ms, body))
        elif head.startswith(b"GET /count"):
            payload = json.dumps(
                {"count": len(self.arrivals), "connections": self.connections[0]}
            ).encode()
        elif head.startswith(b"GET /results"):
            payload = json.dumps([_parse(arrival, raw) for arrival, raw in self.arrivals]).encode()
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(payload)).encode()
            + b"\r\n\r\n"
            + payload
        )


def _parse(arrival_ms: float, body: bytes) -> list[Any]:
    form = parse_qs(body.decode())

    def one(name: str) -> str:
        return form.get(name, [""])[0]

    return [one("Sid"), one("EventType"), one("ResourceSid"), int(one("TimestampMs") or 0),
            arrival_ms]  # fmt: skip


async def _receive(port: int, seconds: float) -> None:
    arrivals: list[tuple[float, bytes]] = []
    connections = [0]
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Receiver(arrivals, connections), HOST, port, backlog=256
    )
    async with server:
        await asyncio.sleep(seconds)  # bounded: the bench stops it long before


def receive_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.events receive")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=1800.0, help="stop after this long")
    args = parser.parse_args(argv)
    run_async(_receive(args.port, min(args.seconds, 3600.0)))
    return 0


# -- figure 4: event callbacks -------------------------------------------------------------------


@dataclass
class Delivery:
    latencies_ms: list[float]
    received: int
    duplicates: int
    out_of_order: int
    span_s: float
    types: Counter[str]


def _activity_updates(seeded: Seeded, count: int, auth: str) -> list[bytes]:
    """One activity change per worker (Available ↔ Unavailable, Offline → Available), each
    worker once, so every request commits exactly one worker.activity.update."""
    available = seeded.activity_sids["Available"]
    unavailable = seeded.activity_sids["Unavailable"]
    path = f"/v1/Workspaces/{seeded.workspace_sid}/Workers"
    requests = []
    for i in range(min(count, len(seeded.worker_sids))):
        current = seeded.worker_activities[i]
        new = unavailable if current == available else available
        requests.append(encode_request("POST", f"{path}/{seeded.worker_sids[i]}", auth,
                                       {"ActivitySid": new}))  # fmt: skip
    return requests


async def _backlog_sampler(
    port: int, path: str, auth: str, stop: asyncio.Event, samples: list[int]
) -> None:
    """GET …/EventDelivery every 0.5 s while the load runs: the stream's backlog."""
    conn = Connection(port)
    raw = encode_request("GET", path, auth)
    try:
        for _ in range(1000):  # bounded
            if stop.is_set():
                return
            try:
                status, body = await conn.send(raw)
                if status == 200:
                    samples.append(int(json.loads(body).get("backlog") or 0))
            except HttpError:
                pass
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    finally:
        conn.close()


async def _drive_updates(
    port: int, requests: list[bytes], rate: float, seconds: float, delivery_path: str, auth: str
) -> tuple[list[Any], list[int]]:
    stop = asyncio.Event()
    samples: list[int] = []
    sampler = asyncio.create_task(_backlog_sampler(port, delivery_path, auth, stop, samples))
    try:
        sent = await open_loop(port, requests, rate, seconds + 60)
    finally:
        stop.set()
        await sampler
    return sent, samples


def _get_json(port: int, path: str, auth: str = "") -> tuple[int, Any]:
    raw = encode_request("GET", path, auth)
    status, body = run_async(closed_loop(port, [raw], 1, 60.0))[0]
    try:
        return status, json.loads(body) if body else None
    except ValueError:
        return status, body.decode(errors="replace")


def _analyse(results: list[list[Any]], workers: set[str], since_ms: int) -> Delivery:
    """Latency of the measured worker.activity.update callbacks (arrival - TimestampMs)."""
    seen: set[str] = set()
    duplicates = out_of_order = 0
    latencies: list[float] = []
    last_stamp = 0
    arrivals: list[float] = []
    types: Counter[str] = Counter()
    for sid, event_type, resource, stamp, arrival in results:
        types[event_type] += 1
        if sid in seen:
            duplicates += 1
            continue
        seen.add(sid)
        out_of_order += stamp < last_stamp  # commit order: stamps never go back
        last_stamp = max(last_stamp, stamp)
        if event_type == "worker.activity.update" and resource in workers and stamp >= since_ms:
            latencies.append(arrival - stamp)
            arrivals.append(arrival)
    span = (max(arrivals) - min(arrivals)) / 1000 if arrivals else 0.0
    return Delivery(latencies, len(results), duplicates, out_of_order, span, types)


# -- figure 5: statistics ------------------------------------------------------------------------


@dataclass
class Timed:
    name: str
    samples_ms: list[float] = field(default_factory=list)
    first_ms: float = float("nan")
    statuses: Counter[int] = field(default_factory=Counter)
    last_body: Any = None


async def _timed(port: int, name: str, requests: Sequence[bytes]) -> Timed:
    """Sequential requests on one kept-alive connection; the first is reported apart (cold)."""
    timed = Timed(name)
    conn = Connection(port)
    try:
        for i, raw in enumerate(requests):
            started = time.perf_counter()
            try:
                status, body = await conn.send(raw)
            except HttpError as error:
                status, body = 0, str(error).encode()
            elapsed = (time.perf_counter() - started) * 1000
            timed.statuses[status] += 1
            if i == 0:
                timed.first_ms = elapsed
            else:
                timed.samples_ms.append(elapsed)
            timed.last_body = body
    finally:
        conn.close()
    return timed


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    procs: Processes
    report: Report = field(default_factory=Report)
    profiler: Profiler = field(init=False)

    def __post_init__(self) -> None:
        self.profiler = Profiler(self.workdir, self.args.profile)

    def run(self) -> None:
        if "4" in self.args.figures:
            with bench_database(self.args.database_url, self.workdir / "callbacks") as url:
                self.callbacks(url)
        if "5" in self.args.figures:
            with bench_database(self.args.database_url, self.workdir / "statistics") as url:
                self.statistics(url)
        self.profiler.add_to(self.report)

    # -- figure 4 -----------------------------------------------------------------------------

    def start_receiver(self) -> tuple[int, int]:
        port = free_port()
        command = [sys.executable, "-m", "bench.events", "receive", "--port", str(port)]
        proc = self.procs.start("receiver", command, child_env({}))
        if (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(proc.pid, {LOAD_CPU})  # beside the load, not the server
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("the callback receiver exited: " + self.procs.tail("receiver"))
            with suppress(HttpError, OSError):
                if _get_json(port, "/count")[0] == 200:
                    return port, proc.pid
            time.sleep(0.05)
        raise RuntimeError("the callback receiver did not start")

    def callbacks(self, url: str) -> None:
        a = self.args
        log(f"figure 4: seeding {a.workers:,} workers into {url.split('?')[0]}")
        seeded = seed_database(
            url, account_sid="AC" + secrets.token_hex(16), auth_token=secrets.token_hex(16),
            workers=a.workers, queues=a.queues, seed=a.seed,
        )  # fmt: skip
        auth = auth_header(seeded)
        receiver_port, receiver_pid = self.start_receiver()
        server = start_server(self.procs, "server", url, seeded, log_level=a.log_level)
        callback = f"http://{HOST}:{receiver_port}/events"
        ws_path = f"/v1/Workspaces/{seeded.workspace_sid}"
        raw = encode_request("POST", ws_path, auth, {"EventCallbackUrl": callback})
        status, body = run_async(closed_loop(server.port, [raw], 1, 30.0))[0]
        if status != 200:
            raise RuntimeError(f"setting EventCallbackUrl: HTTP {status} {body[:300]!r}")
        delivery_path = f"/switchboard{ws_path}/EventDelivery"
        warm_count, count = round(a.rate), round(a.rate * a.duration)
        requests = _activity_updates(seeded, warm_count + count, auth)
        log(f"figure 4: 1 s warm-up, then {count:,} worker activity updates at {a.rate:.0f}/s")
        run_async(open_loop(server.port, requests[:warm_count], a.rate, 30.0))
        since_ms = time.time_ns() // 1_000_000
        receiver_cpu0 = cpu_seconds(receiver_pid)
        with (
            self.profiler.record("callbacks", server.proc.pid),
            measuring(server.proc.pid) as usage,
        ):
            sent, backlog = run_async(_drive_updates(
                server.port, requests[warm_count:], a.rate, a.duration, delivery_path, auth
            ))  # fmt: skip
            drained_s = self.wait_drained(server.port, delivery_path, auth)
        receiver_cpu = (cpu_seconds(receiver_pid) - receiver_cpu0) / usage[0].seconds
        _, results = _get_json(receiver_port, "/results")
        _, counts = _get_json(receiver_port, "/count")
        measured_workers = set(seeded.worker_sids[warm_count : warm_count + count])
        delivery = _analyse(results or [], measured_workers, since_ms)
        ok = sum(1 for s in sent if s.status == 200)
        for s in [s for s in sent if s.status != 200][:3]:
            self.report.notes.append(f"figure 4: an update answered {s.status}: {s.body[:200]!r}")
        self.report_callbacks(delivery, sent, ok, backlog, drained_s, usage[0].text(),
                              receiver_cpu)  # fmt: skip
        _, state = _get_json(server.port, delivery_path, auth)
        self.report.raw.append(f"  EventDelivery afterwards: {json.dumps(state)[:400]}")
        connections = counts.get("connections", 0) if isinstance(counts, dict) else 0
        self.report.raw.append(
            f"  the server opened {connections:,} connections to the receiver for"
            f" {delivery.received:,} callbacks (the receiver keeps every connection open)"
        )
        self.procs.stop(server.proc)

    def wait_drained(self, port: int, path: str, auth: str) -> float:
        """Seconds from the end of the load until the stream's backlog is 0 (bounded)."""
        started = time.perf_counter()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status, body = _get_json(port, path, auth)
            if status == 200 and isinstance(body, dict) and not body.get("backlog"):
                return time.perf_counter() - started
            time.sleep(0.05)
        self.report.notes.append("figure 4: the callback backlog did not drain within 120 s")
        return time.perf_counter() - started

    def report_callbacks(
        self, d: Delivery, sent: list[Any], ok: int, backlog: list[int], drained_s: float,
        usage: str, receiver_cpu: float,
    ) -> None:  # fmt: skip
        a = self.args
        p99 = percentile(d.latencies_ms, 0.99)
        target = f"<= {TARGET_CALLBACK_P99_MS:.0f} ms"
        self.report.add("event callback p99 (ms)", f"{p99:.1f}", target,
                        bool(d.latencies_ms) and p99 <= TARGET_CALLBACK_P99_MS)  # fmt: skip
        self.report.add("event callback median (ms)", f"{percentile(d.latencies_ms, 0.5):.1f}")
        rate = len(d.latencies_ms) / d.span_s if d.span_s else 0.0
        self.report.add("callbacks delivered (events/s)", f"{rate:,.0f}", f"~{a.rate:.0f}")
        self.report.raw += [
            f"figure 4: {len(sent):,} worker activity updates sent at {a.rate:.0f}/s"
            f" (open loop), {ok:,} answered 200; {len(d.latencies_ms):,} of their"
            f" worker.activity.update callbacks arrived over {d.span_s:.1f} s",
            f"  callback latency (arrival - TimestampMs): {spread(d.latencies_ms)}",
            f"  update request latency: {spread([s.from_schedule_ms for s in sent])}",
            f"  backlog sampled every 0.5 s: max {max(backlog, default=0)}, mean"
            f" {sum(backlog) / max(len(backlog), 1):.1f}; drained {drained_s:.2f} s after the"
            " last update",
            f"  receiver: {d.received:,} callbacks in all, {d.duplicates} duplicates,"
            f" {d.out_of_order} arriving with an earlier TimestampMs than one before;"
            f" types {dict(d.types)}",
            f"  {usage}; receiver {receiver_cpu:.0%} of a core",
        ]
        if len(d.latencies_ms) < ok:
            self.report.notes.append(
                f"figure 4: {ok - len(d.latencies_ms)} committed updates had no callback"
            )

    # -- figure 5 -----------------------------------------------------------------------------

    def statistics(self, url: str) -> None:
        a = self.args
        seeded = self.seed_statistics(url)
        server = start_server(self.procs, "stats-server", url, seeded, clock="manual",
                              log_level=a.log_level)  # fmt: skip
        self.report.raw.append(
            f"figure 5: manual-clock server ready in {server.ready_s:.1f} s (it loads every"
            " open task into the routing index)"
        )
        self.check_window(url, server, seeded)
        self.measure_statistics(server, seeded)
        self.procs.stop(server.proc)

    def seed_statistics(self, url: str) -> Seeded:
        """The day, seeded through the engine: 15,000 workers (55% available) created hours
        ago; then, on the system clock (inside the window), the shift works task lifecycles
        (create, reserve, accept, complete) until `--window-events` events exist, and signs
        out; then `--tasks` tasks that arrived 3 h to 1.5 h ago (engine clock) wait with no
        one available. Their events are written last but dated outside the window. (A backlog
        seeded while workers are available would be offered to them, and looking for a task
        a worker can take walks every waiting task of its queues when none fits.)"""
        a = self.args
        now = time.time_ns() // 1_000_000
        clock = ManualClock(now - 4 * 60 * MINUTE_MS)
        log(f"figure 5: seeding {a.workers:,} workers, a shift's events and {a.tasks:,} waiting"
            f" tasks into {url.split('?')[0]} …")  # fmt: skip
        with open_engine(url, clock, a.workers) as engine:
            began = time.perf_counter()
            seeded = seed_workspace(
                engine, account_sid="AC" + secrets.token_hex(16),
                auth_token=secrets.token_hex(16), workers=a.workers, queues=a.queues,
                seed=a.seed, chat_capacity=True, workflows=a.workflows,
            )  # fmt: skip
            workspace_s = time.perf_counter() - began
            rng = random.Random(a.seed + 5)
            engine.core.clock = SystemClock()
            began = time.perf_counter()
            shift = self.shift(engine, url, seeded, rng, time.time_ns() // 1_000_000)
            shift_s = time.perf_counter() - began
            engine.core.clock = clock
            clock.set_ms(now - 3 * 60 * MINUTE_MS)
            began = time.perf_counter()
            batch = 1000
            for first in range(0, a.tasks, batch):
                seed_tasks(engine, seeded.workspace_sid, min(batch, a.tasks - first), rng,
                           seeded.workflow_sids, first_index=1_000_000 + first)  # fmt: skip
                clock.advance_ms(90 * MINUTE_MS * batch // max(a.tasks, 1))
            backlog_s = time.perf_counter() - began
        self.report.raw.append(
            f"figure 5 seeding: workspace {workspace_s:.0f} s; the shift (system clock)"
            f" {shift_s:.0f} s: {shift}; {a.tasks:,} waiting tasks (engine clock 3 h to 1.5 h"
            f" ago) {backlog_s:.0f} s"
        )
        return seeded

    def shift(self, engine: Any, url: str, seeded: Seeded, rng: random.Random,
              since_ms: int) -> str:  # fmt: skip
        """Task lifecycles (create: reserved at once; accept; complete), 250 per transaction,
        until enough events are in the window or the time budget is used; then every
        available worker signs out."""
        a = self.args
        ws = seeded.workspace_sid
        counts: Counter[str] = Counter()
        deadline = time.monotonic() + a.shift_budget
        in_window = 0
        for round_ in range(10_000):  # bounded; the event count or the time budget ends it
            in_window = self.events_since(url, ws, since_ms)
            if in_window >= a.window_events or time.monotonic() > deadline:
                break
            tasks = seed_tasks(engine, ws, 250, rng, seeded.workflow_sids,
                               first_index=round_ * 250)  # fmt: skip
            with one_transaction(engine, ws):
                for sid in tasks:
                    found = engine.store.reservations.find(
                        ws, task_sid=sid, statuses=("pending",), limit=1
                    )
                    if not found:
                        engine.tasks.update_task(ws, sid, assignment_status=TaskStatus.CANCELED)
                        counts["canceled (not reserved)"] += 1
                        continue
                    engine.reservations.update_reservation(
                        ws, found[0].sid, status=ReservationStatus.ACCEPTED
                    )
                    engine.tasks.update_task(ws, sid, assignment_status=TaskStatus.COMPLETED)
                    counts["lifecycles"] += 1
        available = seeded.activity_sids["Available"]
        offline = seeded.activity_sids["Offline"]
        with one_transaction(engine, ws):
            for sid, activity in zip(seeded.worker_sids, seeded.worker_activities, strict=True):
                if activity == available:
                    engine.workers.update_worker(ws, sid, activity_sid=offline)
                    counts["signed out"] += 1
        counts["events in window"] = self.events_since(url, ws, since_ms)
        return ", ".join(f"{k} {v:,}" for k, v in counts.items())

    @staticmethod
    def events_since(url: str, workspace_sid: str, since_ms: int) -> int:
        with database_connection(url) as conn:
            rows = query(conn, "SELECT count(*) FROM events WHERE workspace_sid = ?"
                         " AND event_date >= ?", [workspace_sid, since_ms])  # fmt: skip
        return int(rows[0][0])

    def check_window(self, url: str, server: Server, seeded: Seeded) -> None:
        _, clock = _get_json(server.port, "/switchboard/clock", auth_header(seeded))
        now = int(clock["now_ms"]) if isinstance(clock, dict) else time.time_ns() // 1_000_000
        in_window = self.events_since(url, seeded.workspace_sid, now - WINDOW_MS)
        with database_connection(url) as conn:
            total = int(query(conn, "SELECT count(*) FROM events WHERE workspace_sid = ?",
                              [seeded.workspace_sid])[0][0])  # fmt: skip
            open_tasks = int(query(conn, "SELECT count(*) FROM tasks WHERE workspace_sid = ?"
                                   " AND assignment_status IN ('pending', 'reserved',"
                                   " 'assigned', 'wrapping')",
                                   [seeded.workspace_sid])[0][0])  # fmt: skip
        self.report.add("events in the 15-minute window", f"{in_window:,}",
                        f"~{self.args.window_events:,}")  # fmt: skip
        self.report.add("open tasks", f"{open_tasks:,}", f"~{self.args.tasks:,}")
        self.report.raw.append(f"  events in the workspace: {total:,} (the backlog's are older)")

    def measure_statistics(self, server: Server, seeded: Seeded) -> None:
        a = self.args
        auth = auth_header(seeded)
        ws = f"/v1/Workspaces/{seeded.workspace_sid}"
        # Fifty ordinary queues in turn, and apart the overflow queue (every worker is in it;
        # it holds the most tasks and events).
        queues = [sid for sid in seeded.queue_sids if sid != seeded.overflow_queue_sid][:50]
        overflow = seeded.overflow_queue_sid or queues[0]
        n = a.requests + 1

        def per_queue(kind: str) -> list[str]:
            return [f"{ws}/TaskQueues/{queues[i % len(queues)]}/{kind}" for i in range(n)]

        plans: list[tuple[str, list[str], float | None]] = [
            ("workspace real-time", [f"{ws}/RealTimeStatistics"] * n, TARGET_REALTIME_MEDIAN_MS),
            ("task queue real-time", per_queue("RealTimeStatistics"), None),
            ("overflow queue real-time",
             [f"{ws}/TaskQueues/{overflow}/RealTimeStatistics"] * n, None),
            ("workers real-time", [f"{ws}/Workers/RealTimeStatistics"] * n, None),
            ("workspace cumulative", [f"{ws}/CumulativeStatistics"] * n,
             TARGET_CUMULATIVE_MEDIAN_MS),
            ("task queue cumulative", per_queue("CumulativeStatistics"), None),
            ("overflow queue cumulative",
             [f"{ws}/TaskQueues/{overflow}/CumulativeStatistics"] * n, None),
            ("workers cumulative", [f"{ws}/Workers/CumulativeStatistics"] * n, None),
        ]  # fmt: skip
        log(f"figure 5: {len(plans)} statistics endpoints x {n} requests …")
        with (
            self.profiler.record("statistics", server.proc.pid),
            measuring(server.proc.pid) as usage,
        ):
            for name, paths, target in plans:
                requests = [encode_request("GET", path, auth) for path in paths]
                self.report_timed(run_async(_timed(server.port, name, requests)), target)
        self.report.raw.append(f"  statistics requests: {usage[0].text()}")
        self.worker_updates(server, seeded)

    def worker_updates(self, server: Server, seeded: Seeded) -> None:
        """Extra: a worker's activity change (between two unavailable activities) while
        100,000 tasks wait: the engine looks for work to offer it on every change."""
        auth = auth_header(seeded)
        path = f"/v1/Workspaces/{seeded.workspace_sid}/Workers"
        unavailable, offline = seeded.activity_sids["Unavailable"], seeded.activity_sids["Offline"]
        requests = []
        for sid, activity in zip(seeded.worker_sids[:11], seeded.worker_activities, strict=False):
            there, back = (
                (offline, unavailable) if activity == unavailable else (unavailable, offline)
            )
            for target in (there, back):
                requests.append(encode_request("POST", f"{path}/{sid}", auth,
                                               {"ActivitySid": target}))  # fmt: skip
        self.report_timed(run_async(_timed(server.port, "worker activity update", requests)), None)

    def report_timed(self, timed: Timed, target: float | None) -> None:
        ok = timed.statuses.get(200, 0) == sum(timed.statuses.values())
        median = percentile(timed.samples_ms, 0.5)
        figure = f"{timed.name} median (ms)"
        if not ok:
            body = timed.last_body[:300] if isinstance(timed.last_body, bytes) else b""
            self.report.add(figure, "n/a", f"<= {target:.0f} ms" if target else "-",
                            False if target else None)  # fmt: skip
            self.report.notes.append(
                f"figure 5: {timed.name} answered {dict(timed.statuses)}: {body!r}"
            )
            return
        if target is None:
            self.report.add(figure, f"{median:.1f}")
        else:
            self.report.add(figure, f"{median:.1f}", f"<= {target:.0f} ms", median <= target)
        self.report.raw.append(
            f"  {timed.name}: first (cold) {timed.first_ms:.1f} ms; then {spread(timed.samples_ms)}"
        )
        if isinstance(timed.last_body, bytes) and not timed.name.endswith("update"):
            self.report.raw.append(f"    body: {_summary(timed.last_body)}")


def _summary(body: bytes, limit: int = 360) -> str:
    """The figures of a statistics body, without its URLs and SIDs."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body[:limit].decode(errors="replace")
    if isinstance(doc, dict):
        doc = {k: v for k, v in doc.items() if k not in ("url", "account_sid", "workspace_sid",
                                                         "task_queue_sid", "links")}  # fmt: skip
    return json.dumps(doc, separators=(",", ":"))[:limit]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--workers", type=int, default=15_000)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--rate", type=float, default=500.0, help="figure 4: events per second")
    parser.add_argument("--duration", type=float, default=10.0, help="figure 4: seconds")
    parser.add_argument("--tasks", type=int, default=100_000, help="figure 5: open tasks")
    parser.add_argument("--window-events", type=int, default=100_000,
                        help="figure 5: events to make in the 15-minute window")  # fmt: skip
    parser.add_argument("--shift-budget", type=float, default=240.0,
                        help="figure 5: most seconds spent making the window events")  # fmt: skip
    parser.add_argument("--requests", type=int, default=30, help="figure 5: per endpoint")
    parser.add_argument("--figures", default="45", help="which figures to run, e.g. 5")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the server during figures 4 and 5 (slows it)")  # fmt: skip
    args = parser.parse_args(argv)
    bound(args, {
        "workers": (100, 15_000), "queues": (10, 5_000), "workflows": (1, 1_000),
        "rate": (1.0, 5_000.0), "duration": (1.0, 60.0), "tasks": (1, 500_000),
        "window_events": (1, 1_000_000), "shift_budget": (10.0, 900.0), "requests": (5, 1_000),
    })  # fmt: skip
    # One worker per update in figure 4: more updates than workers would repeat none.
    args.duration = min(args.duration, (args.workers - args.rate) / args.rate)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["receive"]:
        return receive_main(argv[1:])
    args = parse_args(argv)
    describe = (
        f"workers {args.workers:,}, queues {args.queues}, workflows {args.workflows}, seed"
        f" {args.seed}; {os.cpu_count()} CPUs; database"
        f" {(args.database_url or 'sqlite (new file)').split('?')[0]}; ready timeout"
        f" {READY_TIMEOUT_S:.0f} s"
    )
    return bench_main(
        "switchboard-events-", lambda w, p: Bench(args, w, p), describe,
        keep=args.keep or args.profile,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
