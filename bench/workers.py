"""Worker-resource performance figures against a running server: fetch throughput against a bare
Starlette endpoint, TargetWorkersExpression list latency, start-up time and resident memory.

Run from the checkout: .venv/bin/python -m bench.workers [--workers N] [--queues N] [--duration S]
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import quote

import httpx

from bench.seed import LIST_EXPRESSIONS, Seeded, seed_database

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SERVER_CPU, LOAD_CPU = 0, 1
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Targets from the acceptance criteria.
TARGET_FETCH_RATIO = 0.40
TARGET_LIST_MEDIAN_MS = 25.0
TARGET_START_S = 5.0
TARGET_RSS_MB = 500.0

WRK_SCRIPT = r"""
-- Rotates through many Worker URLs (one per line in the file given after --).
local paths = {}
local counter = 0
local next_id = 0

setup = function(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  counter = (id or 0) * 7919
end

request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d status=%d connect=%d read=%d write=%d timeout=%d"
    .. " p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


# -- results ------------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    value: str
    target: str = "-"
    passed: bool | None = None

    @property
    def result(self) -> str:
        return "" if self.passed is None else ("PASS" if self.passed else "FAIL")


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: str, value: str, target: str = "-", passed: bool | None = None) -> None:
        self.rows.append(Row(figure, value, target, passed))

    def print(self) -> None:
        print()
        print(f"{'figure':<44} {'value':<14} {'target':<12} result")
        for row in self.rows:
            print(f"{row.figure:<44} {row.value:<14} {row.target:<12} {row.result}".rstrip())
        if self.raw:
            print("\nraw numbers")
            for line in self.raw:
                print(f"  {line}")
        if self.notes:
            print("\nnotes")
            for line in self.notes:
                print(f"  ! {line}")


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# -- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def pin(cpu: int) -> Callable[[], None] | None:
    """A preexec function pinning the child to one CPU (None when there is only one)."""
    if (os.cpu_count() or 1) < 2:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


class Processes:
    """Every process the bench starts; `stop_all` terminates, then kills, each of them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def start(
        self, name: str, command: Sequence[str], env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        # Output goes to a file: an unread pipe would block the server once it fills.
        out = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop_all
        self._logs.append(out)
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=pin(SERVER_CPU),
        )  # fmt: skip
        self.started.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT_S)

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            with suppress(Exception):
                self.stop(proc)
        for out in self._logs:
            out.close()

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.workdir / f"{name}.log"
        text = path.read_text("utf-8", "replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Runnable(Protocol):
    """What `run_bench` drives: a bench with its report and the processes it starts."""

    report: Report
    procs: Processes

    def run(self) -> None: ...


def run_bench(bench: Runnable, workdir: Path, *, keep: bool) -> int:
    """Run a bench, always stopping its processes and (unless `keep`) removing its work
    directory; print what was measured, even after a failure. Exit code 1 when the run
    stopped early or a figure failed."""
    failed = False
    # A SIGTERM (timeout, kill) unwinds like Ctrl-C, so the cleanup below still runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench.run()
    except Exception as error:  # Print what was measured before the failure.
        bench.report.notes.append(f"bench stopped early: {type(error).__name__}: {error}")
        failed = True
    finally:
        bench.procs.stop_all()
        if keep:
            bench.report.notes.append(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    bench.report.print()
    return 1 if failed or any(row.passed is False for row in bench.report.rows) else 0


# -- what every benchmark script shares ------------------------------------------------------


def bench_parser(description: str | None) -> argparse.ArgumentParser:
    """A parser with the options every benchmark takes: --database-url, --seed, --log-level
    and --keep."""
    parser = argparse.ArgumentParser(description=(description or "").splitlines()[0])
    parser.add_argument(
        "--database-url", help="default: a new SQLite file; postgresql://… uses a fresh schema"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--log-level", default="warning",
        help="uvicorn log level of the servers (info turns on per-request access logs)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser


def bound(args: argparse.Namespace, limits: dict[str, tuple[float, float]]) -> None:
    """Every loop and wait is bounded; so are the knobs that size them: each named option is
    brought within its (lowest, highest), keeping its type."""
    for name, (lowest, highest) in limits.items():
        value = getattr(args, name)
        setattr(args, name, type(value)(max(lowest, min(value, highest))))


def bench_main(
    prefix: str, make: Callable[[Path, Processes], Runnable], describe: str, *, keep: bool
) -> int:
    """Pin this script beside the load (the servers get CPU 0), make the bench in a new work
    directory, note what it measures and run it."""
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {LOAD_CPU})
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    bench = make(workdir, Processes(workdir))
    bench.report.raw.append(describe)
    return run_bench(bench, workdir, keep=keep)


def server_command() -> list[str]:
    script = ROOT / ".venv" / "bin" / "switchboard"
    return [str(script)] if script.exists() else [sys.executable, "-m", "switchboard"]


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children_cpu(before: resource.struct_rusage) -> float:
    """CPU seconds used by the children waited for since the `before` reading."""
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


# -- readiness ----------------------------------------------------------------------------------


def wait_ready(
    proc: subprocess.Popen[bytes], port: int, auth: tuple[str, str] | None, timeout: float
) -> str:
    """Poll until the server answers: /switchboard/health 200, or else (health not served yet)
    an authenticated GET /v1/Workspaces 200. Returns which probe succeeded."""
    deadline = time.monotonic() + timeout
    base = f"http://{HOST}:{port}"
    with httpx.Client(base_url=base, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with status {proc.returncode} before ready")
            try:
                if auth is None:  # The bare app serves only its one route.
                    client.get(f"/v1/Workspaces/WS{'0' * 32}/Workers/WK{'0' * 32}")
                    return "any response"
                if client.get("/switchboard/health").status_code == 200:
                    return "/switchboard/health"
                if auth and client.get("/v1/Workspaces", auth=auth).status_code == 200:
                    return "/v1/Workspaces"
            except httpx.TransportError:
                pass
            time.sleep(0.01)
    raise RuntimeError(f"server on port {port} not ready after {timeout:.0f} s")


# -- throughput ---------------------------------------------------------------------------------


@dataclass
class Load:
    requests: int
    seconds: float
    errors: int
    non_2xx: int
    p50_ms: float
    p99_ms: float
    generator_cpu: float  # share of one core the load generator used
    server_cpu: float  # share of one core the server used

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_us(self) -> float:
        """Server CPU time per request: steadier than req/s when other work shares the CPU."""
        return self.server_cpu * self.seconds / self.requests * 1e6 if self.requests else 0.0


def ensure_wrk() -> str | None:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        log("wrk is not installed and cannot be installed here (not root or no apt-get)")
        return None
    log("installing wrk with apt-get …")
    result = subprocess.run(
        ["apt-get", "install", "-y", "wrk"], capture_output=True, timeout=300, check=False
    )
    if result.returncode != 0:
        log("apt-get install wrk failed: " + result.stderr.decode(errors="replace")[-300:])
    return shutil.which("wrk")


def run_wrk(
    wrk: str, port: int, server_pid: int, paths_file: Path, auth_header: str,
    args: argparse.Namespace, seconds: float,
) -> Load:  # fmt: skip
    script = paths_file.with_suffix(".lua")
    script.write_text(WRK_SCRIPT)
    command = [
        wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:.0f}s", "--latency",
        "-H", f"Authorization: {auth_header}", "-s", str(script),
        f"http://{HOST}:{port}", "--", str(paths_file),
    ]  # fmt: skip
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_server = cpu_seconds(server_pid)
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=False,
        preexec_fn=pin(LOAD_CPU),
    )  # fmt: skip
    wrk_cpu = children_cpu(before_children)
    server_used = cpu_seconds(server_pid) - before_server
    match = re.search(r"RESULT (.*)", result.stdout)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout}{result.stderr}")
    got = {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    elapsed = got["duration_us"] / 1e6
    errors = got["connect"] + got["read"] + got["write"] + got["timeout"]
    return Load(
        got["requests"], elapsed, errors, got["status"], got["p50_us"] / 1000,
        got["p99_us"] / 1000, wrk_cpu / elapsed, server_used / elapsed,
    )  # fmt: skip


def _python_client(
    port: int, paths: list[str], auth_header: str, seconds: float
) -> tuple[int, int]:
    """One keep-alive connection sending requests back to back until the time is up."""
    import http.client

    ok = bad = 0
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    deadline = time.monotonic() + seconds
    index = hash(os.getpid()) % len(paths)
    while time.monotonic() < deadline:
        index = (index + 1) % len(paths)
        try:
            conn.request("GET", paths[index], headers={"Authorization": auth_header})
            response = conn.getresponse()
            response.read()
            ok, bad = (ok + 1, bad) if response.status == 200 else (ok, bad + 1)
        except (OSError, http.client.HTTPException):
            bad += 1
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=10)
    conn.close()
    return ok, bad


def run_python_load(
    port: int, server_pid: int, paths: list[str], auth_header: str, clients: int, seconds: float
) -> Load:
    """Fallback when wrk is missing: several processes, one connection each."""
    from concurrent.futures import ProcessPoolExecutor

    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_server = cpu_seconds(server_pid)
    started = time.monotonic()
    with ProcessPoolExecutor(clients) as pool:  # Its processes are waited for on leaving.
        futures = [
            pool.submit(_python_client, port, paths, auth_header, seconds) for _ in range(clients)
        ]
        results = [f.result(timeout=seconds + 30) for f in futures]
    elapsed = time.monotonic() - started
    server_used = cpu_seconds(server_pid) - before_server
    ok = sum(r[0] for r in results)
    bad = sum(r[1] for r in results)
    return Load(ok + bad, elapsed, 0, bad, float("nan"), float("nan"),
                children_cpu(before_children) / elapsed, server_used / elapsed)  # fmt: skip


def latency(load: Load) -> str:
    if load.p50_ms != load.p50_ms:  # NaN: the Python generator does not time requests.
        return ""
    return f" p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms;"


# -- list latency -------------------------------------------------------------------------------


@dataclass
class ListLatency:
    samples_ms: list[float]
    first_pass_ms: list[float]
    page_sizes: dict[str, int]


def measure_list(
    port: int, seeded: Seeded, expressions: Sequence[str], requests: int, budget_s: float
) -> ListLatency:
    """Sequential GET /Workers?TargetWorkersExpression=… on one kept-alive connection; the first
    pass over the expressions is reported apart (it may compile and warm caches)."""
    path = f"/v1/Workspaces/{seeded.workspace_sid}/Workers"
    auth = (seeded.account_sid, seeded.auth_token)
    samples: list[float] = []
    first: list[float] = []
    sizes: dict[str, int] = {}
    deadline = time.monotonic() + budget_s
    with httpx.Client(base_url=f"http://{HOST}:{port}", auth=auth, timeout=30.0) as client:
        for index in range(len(expressions) + requests):
            if time.monotonic() > deadline:
                log(f"list latency: time budget of {budget_s:.0f} s used up after {index} requests")
                break
            expression = expressions[index % len(expressions)]
            started = time.perf_counter()
            response = client.get(path, params={"TargetWorkersExpression": expression})
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                detail = f"HTTP {response.status_code} {response.text[:300]}"
                raise RuntimeError(f"{expression!r}: {detail}")
            if index < len(expressions):
                first.append(elapsed)
                sizes[expression] = len(response.json()["workers"])
            else:
                samples.append(elapsed)
    return ListLatency(samples, first, sizes)


def touch_queues(port: int, seeded: Seeded, budget_s: float) -> tuple[int, float]:
    """List one page of workers for every queue, so the server computes every queue's
    membership (what routing will do); returns (queues listed, seconds)."""
    path = f"/v1/Workspaces/{seeded.workspace_sid}/Workers"
    auth = (seeded.account_sid, seeded.auth_token)
    started = time.monotonic()
    done = 0
    with httpx.Client(base_url=f"http://{HOST}:{port}", auth=auth, timeout=60.0) as client:
        for sid in seeded.queue_sids:
            if time.monotonic() - started > budget_s:
                break
            response = client.get(path, params={"TaskQueueSid": sid, "PageSize": 1})
            if response.status_code != 200:
                raise RuntimeError(f"TaskQueueSid={sid}: HTTP {response.status_code}")
            done += 1
    return done, time.monotonic() - started


# -- databases ----------------------------------------------------------------------------------


@contextmanager
def bench_database(url: str | None, workdir: Path) -> Iterator[str]:
    """The database URL to seed and serve: a fresh SQLite file, or a dedicated PostgreSQL
    schema (selected through the URL's libpq `options`, so the server needs no flag for it)
    that is dropped afterwards."""
    if url is None or url.startswith("sqlite"):
        yield url or f"sqlite:///{workdir / 'bench.db'}"
        return
    import psycopg

    schema = f"switchboard_bench_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def vacuum_analyze(url: str) -> tuple[int, float]:
    """VACUUM (ANALYZE) every table of the bench's PostgreSQL schema, as autovacuum would after
    a bulk load or a few thousand changes: the machines of this project run PostgreSQL with
    autovacuum off, and without it the planner has no statistics of the seeded tables and
    dead rows pile up, which a production database would not suffer. The tables and the
    seconds it took."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )]  # fmt: skip
        for table in tables:
            conn.execute(f'VACUUM (ANALYZE) "{table}"')
    return len(tables), time.perf_counter() - started


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int


@dataclass
class Bench:
    """One run: its options, work directory, processes, seeded data and report."""

    args: argparse.Namespace
    workdir: Path
    procs: Processes
    report: Report = field(default_factory=Report)
    seeded: Seeded | None = None
    wrk: str | None = None

    @property
    def data(self) -> Seeded:
        assert self.seeded is not None, "seed first"
        return self.seeded

    @property
    def auth_header(self) -> str:
        pair = f"{self.data.account_sid}:{self.data.auth_token}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def run(self) -> None:
        # Found (or installed) first, so a missing generator is reported before the long part.
        self.wrk = ensure_wrk() if self.args.generator == "wrk" else None
        with bench_database(self.args.database_url, self.workdir) as url:
            self.seed(url)
            bare = self.start_bare()
            server, start_s, probe = self.start_server(url)
            self.check_fetch(server)
            self.throughput(server, bare)
            self.list_latency(server)
            self.report.add("server start until ready (s)", f"{start_s:.2f}",
                            f"<= {TARGET_START_S:.0f} s", start_s <= TARGET_START_S)  # fmt: skip
            self.report.raw.append(f"readiness probe: {probe}")
            self.memory(server, "server RSS after measurements (MB)")
            if not self.args.no_touch_queues:
                self.memberships(server)

    def seed(self, url: str) -> None:
        args = self.args
        log(f"seeding {args.workers:,} workers and {args.queues} queues into {url.split('?')[0]}")
        started = time.perf_counter()
        self.seeded = seed_database(
            url, account_sid="AC" + secrets.token_hex(16), auth_token=secrets.token_hex(16),
            workers=args.workers, queues=args.queues, seed=args.seed,
        )  # fmt: skip
        self.report.raw.append(
            f"seeding through the engine: {time.perf_counter() - started:.1f} s in all;"
            f" workers {self.data.worker_seconds:.1f} s, queues {self.data.queue_seconds:.1f} s"
        )

    def start_bare(self) -> Server:
        port = free_port()
        command = [sys.executable, "-m", "bench.baseline_app", "--port", str(port),
                   "--log-level", self.args.log_level]  # fmt: skip
        proc = self.procs.start("bare", command, child_env({}))
        wait_ready(proc, port, None, READY_TIMEOUT_S)
        return Server("bare", proc, port)

    def start_server(self, url: str) -> tuple[Server, float, str]:
        """Start `switchboard` on the seeded database; returns it, the seconds until it was
        ready and the probe that saw it ready."""
        log("starting the server …")
        port, auth = free_port(), (self.data.account_sid, self.data.auth_token)
        command = [*server_command(), "--database-url", url, "--port", str(port),
                   "--account-sid", auth[0], "--auth-token", auth[1]]  # fmt: skip
        started = time.perf_counter()
        proc = self.procs.start(
            "server", command, child_env({"SWITCHBOARD_LOG_LEVEL": self.args.log_level})
        )
        try:
            probe = wait_ready(proc, port, auth, READY_TIMEOUT_S)
        except RuntimeError:
            log("server log:\n" + self.procs.tail("server"))
            raise
        start_s = time.perf_counter() - started
        log(f"server ready in {start_s:.2f} s (probe {probe})")
        return Server("server", proc, port), start_s, probe

    def worker_paths(self) -> list[str]:
        ws = self.data.workspace_sid
        return [f"/v1/Workspaces/{ws}/Workers/{sid}" for sid in self.data.worker_sids]

    def check_fetch(self, server: Server) -> None:
        url = f"http://{HOST}:{server.port}{self.worker_paths()[0]}"
        response = httpx.get(url, headers={"Authorization": self.auth_header})
        if response.status_code != 200:
            detail = f"{response.status_code}: {response.text[:300]}"
            raise RuntimeError(f"worker fetch answered {detail}")
        self.report.raw.append(f"worker fetch body: {len(response.content)} bytes")

    def load(self, target: Server, seconds: float, wrk: str | None, paths_file: Path) -> Load:
        if wrk:
            return run_wrk(wrk, target.port, target.proc.pid, paths_file, self.auth_header,
                           self.args, seconds)  # fmt: skip
        paths = paths_file.read_text().split()
        return run_python_load(target.port, target.proc.pid, paths, self.auth_header,
                               self.args.py_clients, seconds)  # fmt: skip

    def throughput(self, server: Server, bare: Server) -> None:
        """Figure 1: the same rotating load against the Worker fetch and the bare endpoint,
        alternating, after a warm-up of each; the best round of each counts."""
        wrk = self.wrk
        paths_file = self.workdir / "paths.txt"
        paths_file.write_text("\n".join(self.worker_paths()) + "\n")
        results: dict[str, list[Load]] = {"fetch": [], "bare": []}
        for target in (server, bare):
            self.load(target, self.args.warmup, wrk, paths_file)
        for round_ in range(self.args.rounds):
            for name, target in (("fetch", server), ("bare", bare)):
                load = self.load(target, self.args.duration, wrk, paths_file)
                results[name].append(load)
                log(f"{name} round {round_ + 1}: {load.rate:,.0f} req/s")
        self.report_throughput(results, "wrk" if wrk else "python")

    def report_throughput(self, results: dict[str, list[Load]], generator: str) -> None:
        report = self.report
        fetch = max(load.rate for load in results["fetch"])
        bare = max(load.rate for load in results["bare"])
        ratio = fetch / bare if bare else 0.0
        report.add("worker fetch (req/s)", f"{fetch:,.0f}")
        report.add("bare starlette (req/s)", f"{bare:,.0f}")
        # A Python generator may saturate before the bare server does: no verdict then.
        verdict = ratio >= TARGET_FETCH_RATIO if generator == "wrk" else None
        report.add("fetch / bare", f"{ratio:.1%}", f">= {TARGET_FETCH_RATIO:.0%}", verdict)
        for name, loads in results.items():
            for i, load in enumerate(loads, 1):
                report.raw.append(
                    f"{name} round {i}: {load.requests:,} requests in {load.seconds:.2f} s"
                    f" = {load.rate:,.0f} req/s;{latency(load)} non-2xx {load.non_2xx},"
                    f" socket errors {load.errors}; server CPU {load.server_cpu:.0%}"
                    f" ({load.server_us:.0f} us/request), {generator} CPU {load.generator_cpu:.0%}"
                )
            if any(load.non_2xx or load.errors for load in loads):
                report.notes.append(f"{name}: some requests failed; see the raw numbers")
        fetch_us = min(load.server_us for load in results["fetch"])
        bare_us = min(load.server_us for load in results["bare"])
        if fetch_us:
            report.raw.append(
                f"fetch / bare by server CPU per request: {bare_us / fetch_us:.1%}"
                f" ({fetch_us:.0f} vs {bare_us:.0f} us; unaffected by other load on the machine)"
            )
        if generator != "wrk":
            report.notes.append(
                "load came from the Python generator, not wrk: it may be the bottleneck, so the"
                " req/s figures understate the servers and fetch / bare gets no verdict; the"
                " CPU-per-request ratio in the raw numbers is the better guide"
            )

    def list_latency(self, server: Server) -> None:
        """Figure 2: TargetWorkersExpression list latency."""
        log("measuring TargetWorkersExpression lists …")
        target = f"<= {TARGET_LIST_MEDIAN_MS:.0f} ms"
        result = measure_list(
            server.port, self.data, LIST_EXPRESSIONS, self.args.list_requests, budget_s=120.0
        )
        if not result.samples_ms:
            self.report.add("list by expression median (ms)", "n/a", target, False)
            return
        samples = sorted(result.samples_ms)
        median = statistics.median(samples)
        p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
        self.report.add("list by expression median (ms)", f"{median:.1f}", target,
                        median <= TARGET_LIST_MEDIAN_MS)  # fmt: skip
        self.report.add("list by expression p99 (ms)", f"{p99:.1f}")
        self.report.raw.append(
            f"list: {len(samples)} timed requests cycling {len(LIST_EXPRESSIONS)} expressions;"
            f" min {samples[0]:.1f} ms, max {samples[-1]:.1f} ms; first (untimed) pass max"
            f" {max(result.first_pass_ms):.1f} ms"
        )
        per_expression: dict[str, list[float]] = {}
        for index, value in enumerate(result.samples_ms):
            expression = LIST_EXPRESSIONS[index % len(LIST_EXPRESSIONS)]
            per_expression.setdefault(expression, []).append(value)
        for expression, values in per_expression.items():
            self.report.raw.append(
                f"  {statistics.median(values):6.1f} ms median,"
                f" {result.page_sizes[expression]:>2} on page 1: {expression}"
            )

    def memory(self, server: Server, figure: str) -> None:
        rss, hwm = memory_mb(server.proc.pid)
        self.report.add(figure, f"{rss:,.0f}", f"<= {TARGET_RSS_MB:.0f} MB", rss <= TARGET_RSS_MB)
        self.report.raw.append(f"{figure}: VmRSS {rss:,.1f} MB, VmHWM (peak) {hwm:,.1f} MB")

    def memberships(self, server: Server) -> None:
        """Extra: memory once every queue's membership is computed, as routing would."""
        log(f"computing the membership of all {len(self.data.queue_sids)} queues …")
        try:
            done, seconds = touch_queues(server.port, self.data, budget_s=300.0)
        except RuntimeError as error:
            self.report.notes.append(f"queue memberships not measured: {error}")
            return
        self.report.raw.append(f"{done} queues listed by TaskQueueSid in {seconds:.1f} s")
        self.memory(server, "RSS with all queue memberships (MB)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--workers", type=int, default=15_000)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per timed load run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before timing")
    parser.add_argument("--rounds", type=int, default=2, help="timed load runs per target")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=48, help="wrk connections")
    parser.add_argument(
        "--generator", choices=["wrk", "python"], default="wrk",
        help="load generator; python (processes with http.client) is the fallback without wrk",
    )  # fmt: skip
    parser.add_argument("--py-clients", type=int, default=8, help="python generator processes")
    parser.add_argument("--list-requests", type=int, default=100)
    parser.add_argument(
        "--no-touch-queues", action="store_true",
        help="skip computing every queue's membership before the last memory reading",
    )  # fmt: skip
    args = parser.parse_args(argv)
    bound(args, {
        "workers": (1, 100_000), "queues": (1, 5_000), "duration": (1.0, 120.0),
        "warmup": (1.0, 30.0), "rounds": (1, 10), "list_requests": (50, 5_000),
        "py_clients": (1, 64),
    })  # fmt: skip
    return args


def load_shape(args: argparse.Namespace) -> str:
    if args.generator == "wrk":
        return f"wrk {args.threads} threads x {args.connections} connections"
    return f"python {args.py_clients} processes x 1 connection"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    describe = (
        f"workers {args.workers:,}, queues {args.queues}, seed {args.seed};"
        f" load {load_shape(args)}, {args.duration:.0f} s"
        f" x {args.rounds} rounds after {args.warmup:.0f} s warm-up; uvicorn log level"
        f" {args.log_level} for both servers; {os.cpu_count()} CPUs"
    )
    return bench_main(
        "switchboard-bench-", lambda w, p: Bench(args, w, p), describe, keep=args.keep
    )


if __name__ == "__main__":
    raise SystemExit(main())
