"""Routing-engine figures against a running server: task creation to reservation at 200 tasks/s,
full task lifecycles per second, and 10,000 reservations timing out at the same moment.

Run from the checkout: .venv/bin/python -m bench.routing [--database-url URL] [--rate N] …
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import random
import resource
import secrets
import shutil
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.db_proxy import Counts, DbProxy, measure_round_trip, upstream_of
from bench.seed import (
    HALF_AVAILABLE,
    Seeded,
    seed_database,
    task_attributes,
    task_channel,
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
    server_command,
    touch_queues,
    vacuum_analyze,
    wait_ready,
)

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 180.0  # start-up warms the routing index; 100,000 open tasks take a while

# Targets from the acceptance criteria.
TARGET_RESERVE_MEDIAN_MS = 5.0
TARGET_RESERVE_P99_MS = 50.0
TARGET_LIFECYCLES_SQLITE = 300.0
TARGET_TIMEOUT_BURST_S = 2.0


# -- a small HTTP/1.1 client ----------------------------------------------------------------
# httpx spends about a millisecond of client CPU per request; this speaks just enough HTTP/1.1
# (keep-alive, Content-Length bodies, as uvicorn answers) to keep the generator out of the way.


class HttpError(Exception):
    """The connection failed or answered something this client does not speak."""


def encode_request(
    method: str, path: str, auth_header: str, form: dict[str, str] | None = None
) -> bytes:
    """One request's bytes, built before timing starts."""
    body = urlencode(form).encode() if form is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: {auth_header}\r\n"
    if method != "GET":
        head += (
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        )
    return head.encode() + b"\r\n" + body


# uvicorn closes a keep-alive connection idle for 5 s (its default, which the server keeps):
# the load's pools reuse one only if it answered less than this long ago.
IDLE_REUSE_S = 4.0


class StaleConnection(HttpError):
    """A kept-alive connection the server had closed (idle too long): nothing was answered,
    so the request can go again on a new connection."""


class Connection:
    """One kept-alive connection to the server; opened on first use, reopened after a
    failure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._answered = 0  # responses read on the current connection
        self.last_answer = 0.0  # monotonic time of the last response read on it

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request; (status, body)."""
        try:
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(HOST, self.port)
                self._answered = 0
            assert self._reader is not None
            self._writer.write(raw)
            head = await self._reader.readuntil(b"\r\n\r\n")
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            if at < 0:
                raise HttpError(f"a response without Content-Length: {head[:200]!r}")
            length = int(head[at + 17 : head.index(b"\r\n", at + 2)])
            body = await self._reader.readexactly(length)
            self._answered += 1
            self.last_answer = time.monotonic()
            if b"\r\nconnection: close" in lower:
                self.close()
            return int(head[9:12]), body
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            reused = self._answered > 0
            self.close()
            if reused and isinstance(e, asyncio.IncompleteReadError) and not e.partial:
                raise StaleConnection("the server closed an idle connection") from e
            raise HttpError(f"{type(e).__name__}: {e}") from e

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class Pool:
    """Connections for an open-loop generator: a request takes an idle one or opens another
    (at most `limit`), so a slow answer never delays the next send."""

    def __init__(self, port: int, limit: int = 256) -> None:
        self.port = port
        self.idle: list[Connection] = []
        self.opened = 0
        self._room = asyncio.Semaphore(limit)

    def _fresh_idle(self) -> Connection | None:
        """The most recently used idle connection the server still keeps. One idle for
        nearly the server's keep-alive timeout is closed instead: sent on as the server
        closes it, a request meets a reset, and cannot tell whether it was read."""
        while self.idle:
            conn = self.idle.pop()
            if time.monotonic() - conn.last_answer < IDLE_REUSE_S:
                return conn
            conn.close()
        return None

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        async with self._room:
            # A stale idle connection gets one retry, always on a new connection: after a
            # burst the pool can hold many connections the server has since timed out, so a
            # second idle one would likely be stale too.
            for attempt in range(2):
                reused = self._fresh_idle() if attempt == 0 else None
                if reused is not None:
                    conn = reused
                else:
                    conn = Connection(self.port)
                    self.opened += 1
                try:
                    result = await conn.send(raw)
                except StaleConnection:
                    continue  # dropped, not reused
                self.idle.append(conn)
                return result
            raise HttpError("an idle connection and then a new one were closed before answering")

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


def run_async(coro: Awaitable[Any]) -> Any:
    """Run a coroutine on uvloop (as the server does), else the default loop."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)  # type: ignore[arg-type]


@dataclass
class Sent:
    intended: float  # perf_counter seconds at which the schedule wanted it sent
    sent: float
    done: float
    status: int
    body: bytes

    @property
    def from_schedule_ms(self) -> float:
        return (self.done - self.intended) * 1000

    @property
    def from_send_ms(self) -> float:
        return (self.done - self.sent) * 1000


async def open_loop(
    port: int, requests: Sequence[bytes], rate: float, budget_s: float
) -> list[Sent]:
    """Send request i at start + i / rate whatever happened to the earlier ones; latency is
    measured both from the scheduled moment and from the actual send."""
    pool = Pool(port)
    results: list[Sent | None] = [None] * len(requests)
    running: set[asyncio.Task[None]] = set()

    async def one(i: int, intended: float) -> None:
        sent = time.perf_counter()
        intended = min(intended, sent)  # the timer may wake a fraction of a millisecond early
        try:
            status, body = await pool.send(requests[i])
        except HttpError as error:
            status, body = 0, str(error).encode()
        results[i] = Sent(intended, sent, time.perf_counter(), status, body)

    start = time.perf_counter() + 0.05
    deadline = start + budget_s
    for i in range(len(requests)):
        intended = start + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.perf_counter() > deadline:
            break
        task = asyncio.create_task(one(i, intended))
        running.add(task)
        task.add_done_callback(running.discard)
    if running:
        await asyncio.wait(running, timeout=max(deadline - time.perf_counter(), 5.0))
    for task in list(running):
        task.cancel()
    pool.close()
    return [r for r in results if r is not None]


async def closed_loop(
    port: int, requests: Sequence[bytes], concurrency: int, budget_s: float
) -> list[tuple[int, bytes]]:
    """Send every request, `concurrency` at a time, one connection each; stops at the budget
    (unsent requests get status -1)."""
    results: list[tuple[int, bytes]] = [(-1, b"not sent: time budget used up")] * len(requests)
    deadline = time.monotonic() + budget_s
    counter = iter(range(len(requests)))

    async def lane() -> None:
        conn = Connection(port)
        try:
            for i in counter:
                if time.monotonic() > deadline:
                    return
                try:
                    results[i] = await conn.send(requests[i])
                except HttpError as error:
                    results[i] = (0, str(error).encode())
        finally:
            conn.close()

    await asyncio.gather(*(lane() for _ in range(max(1, concurrency))))
    return results


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def spread(values: Sequence[float], unit: str = "ms") -> str:
    if not values:
        return "no samples"
    return (
        f"n={len(values):,} min {min(values):.2f} p50 {percentile(values, 0.5):.2f}"
        f" p90 {percentile(values, 0.9):.2f} p99 {percentile(values, 0.99):.2f}"
        f" max {max(values):.2f} {unit}"
    )


# -- machine and server readings --------------------------------------------------------------


def cpu_check_ms() -> float:
    """CPU milliseconds of a fixed pure-Python loop (best of three): the machine's speed of
    the moment. On a shared VM it drifts by a third over minutes; a figure measured while this
    is high was measured on a slow machine."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        total = 0
        for i in range(1_000_000):
            total += i * 3 % 7
        best = min(best, time.process_time() - started)
    return best * 1000


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


@dataclass
class Usage:
    """CPU used over a window: the server's share of one core, the whole machine's share of
    all its cores, and this process's share of one core."""

    seconds: float
    server: float
    machine: float
    own: float

    def text(self) -> str:
        return (
            f"server CPU {self.server:.0%} of a core; this process {self.own:.0%};"
            f" machine {self.machine:.0%} of {os.cpu_count()} cores"
        )


@contextmanager
def measuring(server_pid: int) -> Iterator[list[Usage]]:
    """Yields a list that holds one Usage once the block ends."""
    box: list[Usage] = []
    started, server0 = time.perf_counter(), cpu_seconds(server_pid)
    busy0, total0 = machine_busy()
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    yield box
    elapsed = time.perf_counter() - started
    busy1, total1 = machine_busy()
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    own = own1.ru_utime - own0.ru_utime + own1.ru_stime - own0.ru_stime
    box.append(Usage(
        elapsed, (cpu_seconds(server_pid) - server0) / elapsed,
        (busy1 - busy0) / max(total1 - total0, 1), own / elapsed,
    ))  # fmt: skip


# -- profiling --------------------------------------------------------------------------------


# A reference reading of cpu_check_ms() on a quiet 2-core VM, printed beside each reading so a
# slow moment of the machine shows.
SPEED_REFERENCE_MS = 61
# Figure 0: how many times each operation runs while its round trips are counted.
ROUND_TRIP_SAMPLES = 40
# Figure 3: pause between creating the tasks and moving the clock.
SETTLE_S = 2.0


class Profiler:
    """`py-spy record` against the server for a window, summarised as the functions holding
    the most samples (own time, and time including callees)."""

    def __init__(self, workdir: Path, enabled: bool) -> None:
        self.workdir = workdir
        self.enabled = enabled and self.binary() is not None
        self.summaries: list[str] = []

    @staticmethod
    def binary() -> str | None:
        local = ROOT / ".venv" / "bin" / "py-spy"
        return str(local) if local.exists() else shutil.which("py-spy")

    @contextmanager
    def record(self, name: str, pid: int) -> Iterator[None]:
        """Sample the server while the block runs (py-spy writes its file on SIGINT)."""
        if not self.enabled:
            yield
            return
        out = self.workdir / f"profile-{name}.txt"
        binary = self.binary()
        assert binary is not None
        # --idle: samples blocked in a syscall (a commit waiting on the disk) count too.
        command = [binary, "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
                   "--idle", "--output", str(out)]  # fmt: skip
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # attached before the load starts
        try:
            yield
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if out.exists():
            self.summaries.append(summarise_profile(name, out.read_text()))

    def add_to(self, report: Report) -> None:
        for text in self.summaries:
            report.raw.extend(text.splitlines())


def _frame_name(frame: str) -> str:
    """`update (/work/main/switchboard/engine/x.py:12)` → `update (switchboard/engine/x.py)`;
    library frames keep the path from the package on (`execute (psycopg/cursor.py)`)."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if "/switchboard/" in path:
        return f"{name} (switchboard/{path.rsplit('/switchboard/', 1)[1]})"
    for marker in ("site-packages/", "python3.11/"):
        if marker in path:
            return f"{name} ({path.split(marker, 1)[1]})"
    return f"{name} ({path})"


def summarise_profile(name: str, text: str, top: int = 18) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return f"profile {name}: no samples"
    lines = [f"profile {name}: {total:,} wall-clock samples of the server (py-spy --idle, 250 Hz)",
             "  own time:"]  # fmt: skip
    lines += [f"    {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    lines.append("  including callees (switchboard frames):")
    ours = [(f, n) for f, n in inclusive.most_common() if "(switchboard/" in f]
    lines += [f"    {n / total:6.1%}  {f}" for f, n in ours[: top + 6]]
    return "\n".join(lines)


# -- servers and data ------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    clock: str
    ready_s: float


def start_server(
    procs: Processes, name: str, url: str, seeded: Seeded, *, clock: str = "system",
    log_level: str = "warning", options: Sequence[str] = (),
) -> Server:  # fmt: skip
    """A server on `url` serving the seeded account; `options` are more command-line options."""
    port, auth = free_port(), (seeded.account_sid, seeded.auth_token)
    command = [*server_command(), "--database-url", url, "--port", str(port),
               "--account-sid", auth[0], "--auth-token", auth[1], "--clock", clock,
               *options]  # fmt: skip
    started = time.perf_counter()
    proc = procs.start(name, command, child_env({"SWITCHBOARD_LOG_LEVEL": log_level}))
    try:
        wait_ready(proc, port, auth, READY_TIMEOUT_S)
    except RuntimeError:
        log(f"{name} log:\n" + procs.tail(name))
        raise
    ready = time.perf_counter() - started
    log(f"{name} ({clock} clock) ready in {ready:.1f} s on port {port}")
    return Server(proc, port, clock, ready)


def auth_header(seeded: Seeded) -> str:
    pair = f"{seeded.account_sid}:{seeded.auth_token}".encode()
    return "Basic " + base64.b64encode(pair).decode()


@contextmanager
def database_connection(url: str) -> Iterator[Any]:
    """A plain DB-API connection to the bench database, for reading the events table."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
        try:
            yield conn
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        yield pg


def query(conn: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run `sql` written with `?` placeholders on SQLite or PostgreSQL."""
    if not isinstance(conn, sqlite3.Connection):
        sql = sql.replace("?", "%s")
    rows: list[tuple[Any, ...]] = conn.execute(sql, params).fetchall()
    return rows


def postgres_wal(url: str) -> tuple[int, int]:
    """(bytes of WAL PostgreSQL has written so far, checkpoints so far). The WAL a burst writes
    grows when a checkpoint began shortly before it or during it: the first change to each page
    after a checkpoint copies the whole page into the WAL."""
    with database_connection(url) as conn:
        row = conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0'),"
            " (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter)"
        ).fetchone()
    return int(row[0]), int(row[1])


def event_gaps(url: str, workspace_sid: str, task_sids: Sequence[str]) -> dict[str, float]:
    """reservation.created - task.created event_date per task (first reservation), in ms."""
    created: dict[str, int] = {}
    reserved: dict[str, int] = {}
    with database_connection(url) as conn:
        for start in range(0, len(task_sids), 500):
            chunk = list(task_sids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = query(
                conn,
                "SELECT task_sid, event_type, event_date FROM events WHERE workspace_sid = ?"
                " AND event_type IN ('task.created', 'reservation.created')"
                f" AND task_sid IN ({marks})",
                [workspace_sid, *chunk],
            )
            for task_sid, kind, date in rows:
                into = created if kind == "task.created" else reserved
                into[task_sid] = min(into.get(task_sid, date), date)
    return {sid: float(reserved[sid] - created[sid]) for sid in reserved if sid in created}


# -- the run ----------------------------------------------------------------------------------


@dataclass
class LifecycleSpec:
    """What one load process of figure 2 needs (pickled to a spawned process)."""

    port: int
    auth: str
    workspace_sid: str
    workflow_sids: list[str]
    lanes: int
    start_at: float  # wall-clock time.time() to begin at, the same for every process
    seconds: float
    seed: int


@dataclass
class LifecycleResult:
    completed: int = 0  # whole lifecycles finished inside the window
    requests: int = 0  # requests answered inside the window
    latencies_ms: list[float] = field(default_factory=list)
    step_ms: dict[str, list[float]] = field(default_factory=dict)
    not_reserved: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    cpu_s: float = 0.0
    leftovers: list[str] = field(default_factory=list)  # tasks a failure left open


def lifecycle_process(spec: LifecycleSpec) -> LifecycleResult:
    """Entry point of one load process: `spec.lanes` concurrent lifecycles until the window
    ends; each lane has its own kept-alive connection."""
    return run_async(_lifecycles(spec))  # type: ignore[no-any-return]


async def _lifecycles(spec: LifecycleSpec) -> LifecycleResult:
    result = LifecycleResult()
    rng = random.Random(spec.seed)
    base = f"/v1/Workspaces/{spec.workspace_sid}/Tasks"
    end_at = spec.start_at + spec.seconds
    await asyncio.sleep(max(0.0, spec.start_at - time.time()))
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    lanes = [
        _lane(spec, rng, base, end_at, result, Connection(spec.port)) for _ in range(spec.lanes)
    ]
    await asyncio.wait_for(asyncio.gather(*lanes), timeout=spec.seconds + 60)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_s = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
    return result


async def _lane(
    spec: LifecycleSpec, rng: random.Random, base: str, end_at: float, result: LifecycleResult,
    conn: Connection,
) -> None:  # fmt: skip
    index = rng.randrange(10**9)
    try:
        for _ in range(100_000):  # bounded; the window ends long before
            if time.time() >= end_at:
                return
            index += 1
            await _one_lifecycle(spec, rng, base, end_at, result, conn, index)
    finally:
        conn.close()


async def _one_lifecycle(
    spec: LifecycleSpec, rng: random.Random, base: str, end_at: float, result: LifecycleResult,
    conn: Connection, index: int,
) -> None:  # fmt: skip
    channel = task_channel(rng)
    form = {
        "WorkflowSid": rng.choice(spec.workflow_sids),
        "Attributes": json.dumps(task_attributes(rng, index, channel), separators=(",", ":")),
        "TaskChannel": channel,
    }
    started = time.perf_counter()

    async def step(name: str, raw: bytes, wanted: int) -> bytes | None:
        at = time.perf_counter()
        try:
            status, body = await conn.send(raw)
        except HttpError as error:
            result.errors[f"{name}: {error}"[:120]] += 1
            return None
        if time.time() <= end_at:
            result.requests += 1
            result.step_ms.setdefault(name, []).append((time.perf_counter() - at) * 1000)
        if status != wanted:
            result.errors[f"{name}: HTTP {status} {body[:100]!r}"] += 1
            return None
        return body

    body = await step("create", encode_request("POST", base, spec.auth, form), 201)
    if body is None:
        return
    task = json.loads(body)
    sid = task["sid"]
    cancel = encode_request("POST", f"{base}/{sid}", spec.auth, {"AssignmentStatus": "canceled"})
    if task["assignment_status"] != "reserved":
        result.not_reserved += 1
        await step("cancel", cancel, 200)
        return
    listing = encode_request(
        "GET", f"{base}/{sid}/Reservations?ReservationStatus=pending", spec.auth
    )
    body = await step("list reservations", listing, 200)
    found = json.loads(body)["reservations"] if body is not None else []
    if not found:
        result.errors["list reservations: no pending reservation"] += 1
        if await step("cancel", cancel, 200) is None:
            result.leftovers.append(sid)
        return
    accept = encode_request(
        "POST", f"{base}/{sid}/Reservations/{found[0]['sid']}", spec.auth,
        {"ReservationStatus": "accepted"},
    )  # fmt: skip
    complete = encode_request("POST", f"{base}/{sid}", spec.auth, {"AssignmentStatus": "completed"})
    if await step("accept", accept, 200) is None or await step("complete", complete, 200) is None:
        result.leftovers.append(sid)
        return
    if time.time() <= end_at:
        result.completed += 1
        result.latencies_ms.append((time.perf_counter() - started) * 1000)


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    procs: Processes
    report: Report = field(default_factory=Report)
    seeded: Seeded | None = None
    url: str = ""
    profiler: Profiler | None = None
    # PostgreSQL only: the proxy that counts statements and round trips, and adds
    # --db-latency-ms; the servers connect through it when that option is given.
    proxy: DbProxy | None = None

    @property
    def data(self) -> Seeded:
        assert self.seeded is not None, "seed first"
        return self.seeded

    @property
    def auth(self) -> str:
        return auth_header(self.data)

    @property
    def tasks_path(self) -> str:
        return f"/v1/Workspaces/{self.data.workspace_sid}/Tasks"

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def run(self) -> None:
        self.profiler = Profiler(self.workdir, self.args.profile)
        with bench_database(self.args.database_url, self.workdir) as url, self.proxied(url):
            self.url = url
            self.seed()
            self.settle("after seeding")
            if self.proxy is not None:
                self.report_round_trip(self.proxy)
                if "0" in self.args.figures:
                    self.round_trips(self.proxy)
            server = start_server(self.procs, "server", self.server_url, self.data,
                                  log_level=self.args.log_level)  # fmt: skip
            self.report.raw.append(f"server (system clock) ready in {server.ready_s:.1f} s")
            self.warm_queues(server)
            if "1" in self.args.figures:
                self.speed_check("figure 1")
                self.reservation_latency(server)
                self.settle("after figure 1")
            if "2" in self.args.figures:
                self.speed_check("figure 2")
                self.lifecycles([server])
                if self.args.servers > 1 and not self.is_sqlite:
                    self.speed_check(f"figure 2 with {self.args.servers} servers")
                    self.lifecycles([server, *self.more_servers()])
            self.procs.stop(server.proc)
            if "3" in self.args.figures:
                self.settle("before figure 3")
                manual = start_server(self.procs, "manual", self.server_url, self.data,
                                      clock="manual", log_level=self.args.log_level)  # fmt: skip
                self.speed_check("figure 3")
                self.timeout_burst(manual)
        self.profiler.add_to(self.report)

    @contextmanager
    def proxied(self, url: str) -> Iterator[None]:
        """On PostgreSQL, a proxy in front of the database for the block (see db_proxy)."""
        if url.startswith("sqlite"):
            yield
            return
        with DbProxy(*upstream_of(url), self.args.db_latency_ms or 0.0) as proxy:
            self.proxy = proxy
            try:
                yield
            finally:
                self.proxy = None

    @property
    def server_url(self) -> str:
        """Where the servers find the database: through the proxy when a latency is asked."""
        if self.proxy is None or self.args.db_latency_ms is None:
            return self.url
        return self.proxy.url(self.url)

    def report_round_trip(self, proxy: DbProxy) -> None:
        """The round trip a statement pays, direct and through the proxy (`SELECT 1`)."""
        direct = measure_round_trip(self.url)
        through = measure_round_trip(proxy.url(self.url))
        used = "the servers' connections" if self.args.db_latency_ms is not None else "counting"
        self.report.add("database round trip, effective (ms)",
                        f"{percentile(through, 0.5):.2f}", "(report)")  # fmt: skip
        self.report.raw += [
            f"database round trip (SELECT 1, driver included): direct {spread(direct)}",
            f"  through the proxy, adding {proxy.delay_ms:g} ms (used for {used}):"
            f" {spread(through)}",
        ]

    # -- figure 0 -----------------------------------------------------------------------------

    def round_trips(self, proxy: DbProxy) -> None:
        """Statements and round trips per operation on PostgreSQL, counted by the proxy for a
        server of its own, one request at a time."""
        log(f"figure 0: statements and round trips per operation ({ROUND_TRIP_SAMPLES} each) …")
        server = start_server(self.procs, "counting", proxy.url(self.url), self.data,
                              log_level=self.args.log_level)  # fmt: skip
        try:
            self.warm_queues(server)
            per_op = self.count_operations(server, proxy)
            before = proxy.counts()
            time.sleep(1.0)
            idle = proxy.counts() - before
        finally:
            self.procs.stop(server.proc)
        raw = self.report.raw
        raw.append(
            f"figure 0: per operation, one request at a time through the proxy; the background"
            f" loops' polls, {idle.statements} statements and {idle.round_trips} round trips in"
            " an idle second, are included"
        )
        for name, (counts, done) in per_op.items():
            if not done:
                raw.append(f"  {name}: no request succeeded")
                continue
            trips, statements = counts.round_trips / done, counts.statements / done
            self.report.add(f"{name}: round trips / statements",
                            f"{trips:.1f} / {statements:.1f}", "(report)")  # fmt: skip
            raw.append(f"  {name}: {trips:.2f} round trips, {statements:.2f} statements ({done})")

    def count_operations(self, server: Server, proxy: DbProxy) -> dict[str, tuple[Counts, int]]:
        """Run each operation ROUND_TRIP_SAMPLES times in turn; (counts, successes) each."""
        found: dict[str, tuple[Counts, int]] = {}

        def phase(name: str, requests: list[bytes], wanted: int) -> list[bytes | None]:
            """Each request's body, None where it failed."""
            before = proxy.counts()
            results = run_async(closed_loop(server.port, requests, 1, 120.0))
            bodies = [body if status == wanted else None for status, body in results]
            found[name] = (proxy.counts() - before, sum(b is not None for b in bodies))
            return bodies

        n = ROUND_TRIP_SAMPLES
        workers = f"/v1/Workspaces/{self.data.workspace_sid}/Workers"
        phase("worker fetch",
              [encode_request("GET", f"{workers}/{sid}", self.auth)
               for sid in self.data.worker_sids[:n]], 200)  # fmt: skip
        created = phase("create task", self.task_requests(n, random.Random(5), 900_000), 201)
        tasks = [json.loads(body) for body in created if body is not None]
        sids = [t["sid"] for t in tasks if t["assignment_status"] == "reserved"]
        listed = phase("list reservations", [
            encode_request("GET", f"{self.tasks_path}/{sid}/Reservations"
                           "?ReservationStatus=pending", self.auth)
            for sid in sids
        ], 200)  # fmt: skip
        pairs = [
            (sid, found_[0]["sid"])
            for sid, body in zip(sids, listed, strict=True)
            if body is not None and (found_ := json.loads(body)["reservations"])
        ]
        phase("accept reservation", [
            encode_request("POST", f"{self.tasks_path}/{sid}/Reservations/{rid}", self.auth,
                           {"ReservationStatus": "accepted"})
            for sid, rid in pairs
        ], 200)  # fmt: skip
        phase("complete task", [
            encode_request("POST", f"{self.tasks_path}/{sid}", self.auth,
                           {"AssignmentStatus": "completed"})
            for sid, _ in pairs
        ], 200)  # fmt: skip
        others = [t["sid"] for t in tasks if t["assignment_status"] != "reserved"]
        if others:
            self.cancel(server, others)
        return found

    def speed_check(self, before: str) -> None:
        self.report.raw.append(
            f"machine speed before {before}: a fixed Python loop took {cpu_check_ms():.0f} ms of"
            f" CPU (lower is faster; {SPEED_REFERENCE_MS} ms on a quiet day of this VM)"
        )

    def seed(self) -> None:
        a = self.args
        log(f"seeding {a.workers:,} workers (half available), {a.queues} queues and"
            f" {a.workflows} workflows into {self.url.split('?')[0]}")  # fmt: skip
        started = time.perf_counter()
        self.seeded = seed_database(
            self.url, account_sid="AC" + secrets.token_hex(16), auth_token=secrets.token_hex(16),
            workers=a.workers, queues=a.queues, seed=a.seed, mix=HALF_AVAILABLE,
            chat_capacity=True, workflows=a.workflows, reservation_timeout=120,
        )  # fmt: skip
        d = self.data
        self.report.raw.append(
            f"seeding through the engine: {time.perf_counter() - started:.1f} s in all; workers"
            f" (with chat capacities) {d.worker_seconds:.1f} s, queues {d.queue_seconds:.1f} s,"
            f" workflows {d.workflow_seconds:.1f} s"
        )

    def settle(self, moment: str) -> None:
        """On PostgreSQL, what autovacuum would have done by now (`vacuum_analyze`)."""
        if self.is_sqlite or self.args.no_vacuum:
            return
        tables, seconds = vacuum_analyze(self.url)
        self.report.raw.append(f"VACUUM ANALYZE {moment}: {tables} tables in {seconds:.1f} s")

    def warm_queues(self, server: Server) -> None:
        """List one worker of every queue, so queue memberships are computed before timing
        (a long-running server has them; a cold one computes each on its first task)."""
        done, seconds = touch_queues(server.port, self.data, budget_s=120.0)
        self.report.raw.append(f"queue memberships warmed: {done} queues listed in {seconds:.1f} s")

    def task_requests(self, count: int, rng: random.Random, first: int) -> list[bytes]:
        requests = []
        for i in range(count):
            channel = task_channel(rng)
            form = {
                "WorkflowSid": rng.choice(self.data.workflow_sids),
                "Attributes": json.dumps(
                    task_attributes(rng, first + i, channel), separators=(",", ":")
                ),
                "TaskChannel": channel,
            }
            requests.append(encode_request("POST", self.tasks_path, self.auth, form))
        return requests

    # -- figure 1 -----------------------------------------------------------------------------

    def reservation_latency(self, server: Server) -> None:
        a = self.args
        rng = random.Random(a.seed + 1)
        count = round(a.rate * a.duration)
        log(f"figure 1: warm-up of 1 s, then {count:,} tasks at {a.rate:.0f}/s (open loop) …")
        warm = run_async(open_loop(server.port, self.task_requests(round(a.rate), rng, 0),
                                   a.rate, 30.0))  # fmt: skip
        requests = self.task_requests(count, rng, 10_000)
        with measuring(server.proc.pid) as usage:
            sent = run_async(open_loop(server.port, requests, a.rate, a.duration + 60))
        self.report_latency(sent, usage[0], count)
        measured = [json.loads(s.body)["sid"] for s in sent if s.status == 201]
        self.cross_check(measured)
        warmed = [json.loads(s.body)["sid"] for s in warm if s.status == 201]
        self.cancel(server, warmed + measured)

    def report_latency(self, sent: list[Sent], usage: Usage, wanted: int) -> None:
        ok = [s for s in sent if s.status == 201]
        reserved = [s for s in ok if json.loads(s.body)["assignment_status"] == "reserved"]
        from_schedule = [s.from_schedule_ms for s in reserved]
        from_send = [s.from_send_ms for s in reserved]
        pending = [s.from_schedule_ms for s in ok if s not in reserved]
        median, p99 = percentile(from_schedule, 0.5), percentile(from_schedule, 0.99)
        r = self.report
        median_target, p99_target = TARGET_RESERVE_MEDIAN_MS, TARGET_RESERVE_P99_MS
        r.add("create to reserved, median (ms)", f"{median:.2f}", f"<= {median_target:.0f} ms",
              median <= median_target)  # fmt: skip
        r.add("create to reserved, p99 (ms)", f"{p99:.2f}", f"<= {p99_target:.0f} ms",
              p99 <= p99_target)  # fmt: skip
        share = len(reserved) / len(ok) if ok else 0.0
        r.add("reserved in the 201 response", f"{share:.1%}", "~100%", share >= 0.99)
        elapsed = max(s.done for s in sent) - min(s.intended for s in sent) if sent else 0.0
        lag = [(s.sent - s.intended) * 1000 for s in sent]
        r.raw += [
            f"figure 1: {len(sent):,} of {wanted:,} tasks sent at {self.args.rate:.0f}/s over"
            f" {elapsed:.1f} s; 201 {len(ok):,}, reserved at once {len(reserved):,},"
            f" other statuses {dict(Counter(s.status for s in sent if s.status != 201))}",
            f"  latency from the scheduled send (counts client lag): {spread(from_schedule)}",
            f"  latency from the actual send: {spread(from_send)}",
            f"  client send lag behind schedule: {spread(lag)}",
            f"  not reserved at once: {spread(pending)}",
            f"  {usage.text()}",
        ]  # fmt: skip
        bad = [s for s in sent if s.status != 201][:3]
        for s in bad:
            r.notes.append(f"figure 1: HTTP {s.status}: {s.body[:200]!r}")

    def cross_check(self, task_sids: list[str]) -> None:
        """reservation.created - task.created, from the events table (engine-clock stamps)."""
        gaps = event_gaps(self.url, self.data.workspace_sid, task_sids)
        self.report.raw.append(
            f"  events table, reservation.created - task.created event_date ({len(gaps):,}"
            f" tasks): {spread(list(gaps.values()))} (both are stamped with the transaction's"
            " start, so a reservation made while creating the task shows 0)"
        )

    def cancel(self, server: Server, task_sids: list[str]) -> None:
        """Free the workers figure 1 reserved before the next figure."""
        requests = [
            encode_request("POST", f"{self.tasks_path}/{sid}", self.auth,
                           {"AssignmentStatus": "canceled"})
            for sid in task_sids
        ]  # fmt: skip
        started = time.perf_counter()
        results = run_async(closed_loop(server.port, requests, 8, 120.0))
        failed = Counter(status for status, _ in results if status != 200)
        self.report.raw.append(
            f"  canceled figure 1's {len(task_sids):,} tasks in"
            f" {time.perf_counter() - started:.1f} s; failures {dict(failed) or 'none'}"
        )

    # -- figure 2 -----------------------------------------------------------------------------

    def more_servers(self) -> list[Server]:
        """Servers beside the first on the same database (figure 2 with --servers)."""
        found = []
        for i in range(1, self.args.servers):
            more = start_server(self.procs, f"server{i + 1}", self.server_url, self.data,
                                log_level=self.args.log_level)  # fmt: skip
            self.warm_queues(more)
            found.append(more)
        return found

    def lifecycles(self, servers: list[Server]) -> None:
        """Figure 2 against `servers` (one, or several on one PostgreSQL database): the load
        processes are dealt to them in turn; worker fetches go to the first."""
        a = self.args
        server = servers[0]
        log(f"figure 2: {a.processes} processes x {a.lanes} lanes of create → accept → complete"
            f" for {a.lifecycle_seconds:.0f} s against {len(servers)} server(s) …")  # fmt: skip
        start_at = time.time() + 3.0  # room for the processes to spawn
        specs = [
            LifecycleSpec(servers[i % len(servers)].port, self.auth, self.data.workspace_sid,
                          self.data.workflow_sids, a.lanes, start_at, a.lifecycle_seconds,
                          a.seed * 1000 + i)
            for i in range(a.processes)
        ]  # fmt: skip
        context = multiprocessing.get_context("spawn")
        with context.Pool(a.processes) as pool:
            pending = pool.map_async(lifecycle_process, specs)
            assert self.profiler is not None
            with self.profiler.record("lifecycles", server.proc.pid):
                time.sleep(max(0.0, start_at - time.time()))
                with measuring(server.proc.pid) as usage:
                    fetches = self.fetch_during(server, start_at + a.lifecycle_seconds)
            results: list[LifecycleResult] = pending.get(timeout=a.lifecycle_seconds + 120)
        self.report_lifecycles(results, usage[0], len(servers))
        self.report_fetches(fetches, len(servers))
        leftovers = [sid for r in results for sid in r.leftovers]
        if leftovers:
            self.cancel(server, leftovers)

    def fetch_during(self, server: Server, end_at: float) -> list[Sent]:
        """Worker fetches at `--fetch-rate`, open loop, from now until `end_at` (wall clock):
        what a reader waits for while the lifecycles keep the server busy."""
        seconds = max(0.0, end_at - time.time())
        count = max(1, round(self.args.fetch_rate * seconds))
        workers = f"/v1/Workspaces/{self.data.workspace_sid}/Workers"
        sids = self.data.worker_sids
        requests = [
            encode_request("GET", f"{workers}/{sids[i % len(sids)]}", self.auth)
            for i in range(count)
        ]
        sent: list[Sent] = run_async(open_loop(server.port, requests, self.args.fetch_rate,
                                               seconds))  # fmt: skip
        time.sleep(max(0.0, end_at - time.time()))
        return sent

    def report_fetches(self, sent: list[Sent], servers: int = 1) -> None:
        ok = [s.from_schedule_ms for s in sent if s.status == 200]
        p99 = percentile(ok, 0.99)
        of = "" if servers == 1 else f" ({servers} servers)"
        self.report.add(f"worker fetch during lifecycles{of}, p99 (ms)", f"{p99:.2f}", "(report)")
        from_send = [s.from_send_ms for s in sent if s.status == 200]
        self.report.raw += [
            f"  worker fetches beside the lifecycles at {self.args.fetch_rate:g}/s (open loop,"
            f" from the scheduled send): {spread(ok)}; other statuses"
            f" {dict(Counter(s.status for s in sent if s.status != 200)) or 'none'}",
            f"    from the actual send: {spread(from_send)}",
        ]

    def report_lifecycles(
        self, results: list[LifecycleResult], usage: Usage, servers: int = 1
    ) -> None:
        a = self.args
        completed = sum(r.completed for r in results)
        rate = completed / a.lifecycle_seconds
        requests = sum(r.requests for r in results)
        database = "SQLite" if self.is_sqlite else "PostgreSQL"
        if servers > 1:
            database += f", {servers} servers"
        target = f">= {TARGET_LIFECYCLES_SQLITE:.0f}/s" if self.is_sqlite else "(report)"
        verdict = rate >= TARGET_LIFECYCLES_SQLITE if self.is_sqlite else None
        self.report.add(f"lifecycles per second ({database})", f"{rate:,.0f}", target, verdict)
        client_cpu = sum(r.cpu_s for r in results) / a.lifecycle_seconds
        latencies = [v for r in results for v in r.latencies_ms]
        raw = self.report.raw
        raw += [
            f"figure 2: {completed:,} lifecycles (create, list the task's pending reservation,"
            f" accept it, complete the task: 4 requests) in {a.lifecycle_seconds:.0f} s with"
            f" {a.processes} x {a.lanes} concurrent lanes against {servers} server(s);"
            f" {requests / a.lifecycle_seconds:,.0f} requests/s",
            f"  lifecycle latency: {spread(latencies)}",
        ]
        for name in ("create", "list reservations", "accept", "complete", "cancel"):
            values = [v for r in results for v in r.step_ms.get(name, [])]
            if values:
                raw.append(f"  {name}: {spread(values)}")
        server_cpu = "" if servers == 1 else " (server: the first of them)"
        raw.append(
            f"  {usage.text().replace('this process', 'bench script')}{server_cpu};"
            f" load processes {client_cpu:.0%} of a core ({a.processes} processes on CPU"
            f" {LOAD_CPU})"
        )
        not_reserved = sum(r.not_reserved for r in results)
        if not_reserved:
            raw.append(f"  created but not reserved at once (canceled): {not_reserved:,}")
        errors: Counter[str] = Counter()
        for r in results:
            errors.update(r.errors)
        for text, n in errors.most_common(5):
            self.report.notes.append(f"figure 2: {n} x {text}")
        if usage.server >= 0.9:
            self.report.notes.append(
                f"figure 2: the server used {usage.server:.0%} of its core: it, not the load"
                " generator, is the bottleneck"
            )
        if client_cpu >= 0.9:
            self.report.notes.append(
                f"figure 2: the load processes used {client_cpu:.0%} of their core: they may be"
                " the bottleneck"
            )

    # -- figure 3 -----------------------------------------------------------------------------

    def timeout_burst(self, server: Server) -> None:
        a = self.args
        count = a.timeouts
        workflow = self.burst_workflow(server)
        log(f"figure 3: creating {count:,} tasks at one manual moment …")
        rng = random.Random(a.seed + 3)
        requests = []
        for i in range(count):
            channel = task_channel(rng)
            form = {
                "WorkflowSid": workflow,
                "Attributes": json.dumps(task_attributes(rng, 100_000 + i, channel)),
                "TaskChannel": channel,
            }
            requests.append(encode_request("POST", self.tasks_path, self.auth, form))
        started = time.perf_counter()
        created = run_async(closed_loop(server.port, requests, 16, 300.0))
        seconds = time.perf_counter() - started
        tasks = [json.loads(body) for status, body in created if status == 201]
        reserved = sum(1 for t in tasks if t["assignment_status"] == "reserved")
        self.report.raw.append(
            f"figure 3: {len(tasks):,} of {count:,} tasks created over HTTP in {seconds:.1f} s"
            f" ({len(tasks) / seconds:,.0f}/s, 16 connections); reserved at once {reserved:,}"
        )
        clock = self.clock(server, "GET", None)
        self.report.raw.append(
            f"  manual clock {clock.get('now_ms')}, next deadline {clock.get('next_deadline_ms')}"
            f" (+{(clock.get('next_deadline_ms') or 0) - (clock.get('now_ms') or 0):,} ms)"
        )
        # Setting up wrote 10,000 tasks; let the server finish the background work that left
        # (the checkpoint of that WAL) so the burst is timed alone.
        time.sleep(SETTLE_S)
        self.advance(server, reserved)
        self.verify_timeouts(server, [t["sid"] for t in tasks], reserved)

    def burst_workflow(self, server: Server) -> str:
        """A workflow sending every task to the overflow queue (every worker), with a
        120 s reservation timeout, created over the API."""
        config = {"task_routing": {"default_filter": {"queue": self.data.overflow_queue_sid}}}
        form = {"FriendlyName": "Timeout burst", "Configuration": json.dumps(config),
                "TaskReservationTimeout": "120"}  # fmt: skip
        raw = encode_request("POST", f"/v1/Workspaces/{self.data.workspace_sid}/Workflows",
                             self.auth, form)  # fmt: skip
        status, body = run_async(closed_loop(server.port, [raw], 1, 30.0))[0]
        if status != 201:
            raise RuntimeError(f"creating the burst workflow: HTTP {status} {body[:300]!r}")
        sid: str = json.loads(body)["sid"]
        return sid

    def clock(self, server: Server, method: str, form: dict[str, str] | None) -> dict[str, Any]:
        raw = encode_request(method, "/switchboard/clock", self.auth, form)
        status, body = run_async(closed_loop(server.port, [raw], 1, 600.0))[0]
        if status != 200:
            raise RuntimeError(f"{method} /switchboard/clock: HTTP {status} {body[:300]!r}")
        found: dict[str, Any] = json.loads(body)
        return found

    def advance(self, server: Server, reserved: int) -> None:
        log("figure 3: POST /switchboard/clock AdvanceSeconds=121 …")
        assert self.profiler is not None
        wal = None if self.is_sqlite else postgres_wal(self.url)
        with (
            self.profiler.record("timeouts", server.proc.pid),
            measuring(server.proc.pid) as usage,
        ):
            started = time.perf_counter()
            body = self.clock(server, "POST", {"AdvanceSeconds": "121"})
            seconds = time.perf_counter() - started
        after = None if wal is None else postgres_wal(self.url)
        self.report.add(f"{reserved:,} reservation timeouts (s)", f"{seconds:.2f}",
                        f"<= {TARGET_TIMEOUT_BURST_S:.0f} s",
                        seconds <= TARGET_TIMEOUT_BURST_S)  # fmt: skip
        self.report.raw.append(
            f"  clock advance answered in {seconds:.2f} s: processed {body.get('processed')}"
            f" deadlines; {usage[0].text()}"
        )
        if wal is not None and after is not None:
            self.report.raw.append(
                f"    PostgreSQL wrote {(after[0] - wal[0]) / 1e6:.0f} MB of WAL during the burst;"
                f" checkpoints begun during it: {after[1] - wal[1]}"
            )

    def verify_timeouts(self, server: Server, task_sids: list[str], reserved: int) -> None:
        """Every task's first reservation (made at the frozen moment) must now be `timeout`."""
        requests = [
            encode_request("GET", f"{self.tasks_path}/{sid}/Reservations?PageSize=50", self.auth)
            for sid in task_sids
        ]
        started = time.perf_counter()
        results = run_async(closed_loop(server.port, requests, 16, 300.0))
        first: Counter[str] = Counter()
        reoffered = 0
        for status, body in results:
            if status != 200:
                first[f"HTTP {status}"] += 1
                continue
            found = json.loads(body)["reservations"]
            found.sort(key=lambda r: (r["date_created"], r["sid"]))
            first[found[0]["reservation_status"] if found else "none"] += 1
            reoffered += len(found) > 1
        timed_out = first.get("timeout", 0)
        self.report.add("reservations found timed out (API)", f"{timed_out:,}",
                        f"= {reserved:,}", timed_out == reserved)  # fmt: skip
        self.report.raw.append(
            f"  checked {len(results):,} tasks' reservations over the API in"
            f" {time.perf_counter() - started:.1f} s: first reservation {dict(first)};"
            f" {reoffered:,} tasks were offered again after the timeout (to other workers)"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--workers", type=int, default=15_000)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="figure 1: tasks per second")
    parser.add_argument("--duration", type=float, default=10.0, help="figure 1: seconds")
    parser.add_argument("--lifecycle-seconds", type=float, default=10.0, help="figure 2")
    parser.add_argument("--processes", type=int, default=2, help="figure 2: load processes")
    parser.add_argument("--lanes", type=int, default=12, help="figure 2: lifecycles per process")
    parser.add_argument("--timeouts", type=int, default=10_000, help="figure 3: reservations")
    parser.add_argument(
        "--servers", type=int, default=1,
        help="PostgreSQL: after figure 2 against one server, run it again against this many"
        " servers on the one database, the load processes dealt to them in turn",
    )  # fmt: skip
    parser.add_argument(
        "--figures",
        default="0123",
        help="which figures to run, e.g. 13 (0: round trips, PostgreSQL only)",
    )
    parser.add_argument(
        "--fetch-rate",
        type=float,
        default=20.0,
        help="figure 2: worker fetches per second beside the lifecycles",
    )
    parser.add_argument(
        "--db-latency-ms",
        type=float,
        default=None,
        help="PostgreSQL: connect the servers through a proxy adding this round"
        " trip (ms); the effective round trip is measured and printed",
    )
    parser.add_argument(
        "--no-vacuum", action="store_true",
        help="PostgreSQL: skip the VACUUM ANALYZE after seeding and between figures",
    )  # fmt: skip
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the server during figures 2 and 3 (slows it)")  # fmt: skip
    args = parser.parse_args(argv)
    bound(args, {
        "workers": (100, 15_000), "queues": (10, 5_000), "workflows": (1, 1_000),
        "rate": (1.0, 2_000.0), "duration": (1.0, 60.0), "lifecycle_seconds": (2.0, 60.0),
        "processes": (1, 16), "lanes": (1, 128), "timeouts": (1, 20_000),
        "fetch_rate": (1.0, 500.0), "servers": (1, 4),
    })  # fmt: skip
    if args.db_latency_ms is not None:
        bound(args, {"db_latency_ms": (0.0, 100.0)})
    return args


def describe(args: argparse.Namespace) -> str:
    """The seeded workspace, the machine and the database, for the report."""
    return (
        f"workers {args.workers:,} (half available), queues {args.queues}, workflows"
        f" {args.workflows}, seed {args.seed}; {os.cpu_count()} CPUs; database"
        f" {(args.database_url or 'sqlite (new file)').split('?')[0]}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(
        "switchboard-routing-", lambda w, p: Bench(args, w, p), describe(args),
        keep=args.keep or args.profile,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
