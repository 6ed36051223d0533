"""The console's figures on a workspace at Twilio's limits (15,000 workers, 500 queues, 50
workflows, seeded as bench/routing.py seeds it), against a server process of its own:

1. The queue board renders in <= 300 ms: the page (HTML) and its data (board.json), each
   fetched right after a worker changed through the API, so every fetch builds the board
   again. Wall time from sending the request to its last byte, one kept-alive connection on
   127.0.0.1: the server's time plus a loopback hop. Also Debian's chromium, headless through
   Playwright: first contentful paint and the moment the board says "Live" (its stream
   connected and its first update drawn), from the navigation's start.
2. A live update arrives <= 1 s after the change: with the board's event stream open, a
   worker's activity changes through the REST API; from sending that request to the arrival
   of the first board event that counts it.
3. /switchboard/metrics answers in <= 50 ms on that workspace (the metrics token's scrape:
   every workspace).
4. Serving the console raises create -> reservation p99 by <= 10%: tasks arrive at 200/s
   (open loop, as bench/routing.py figure 1), in rounds with and without a console open (its
   live stream connected, and the page with its assets loaded every 2 s), interleaved
   (ABBA...), each round's tasks canceled before the next. Judged on the p99 of the quiet
   rounds of each kind (the server waited for a CPU at most 5% of the round: other processes
   share its CPU on this machine); the p99 of all rounds, each round's figures and the
   server's CPU time per task are reported beside it.

Figures 1 and 3 are measured again while the tasks of a burst are open.

Run from the checkout: .venv/bin/python -m bench.console [--database-url URL] [--rounds N] ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import re
import secrets
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.routing import Bench as RoutingBench
from bench.routing import (
    Sent,
    Server,
    closed_loop,
    describe,
    measuring,
    open_loop,
    percentile,
    run_async,
    spread,
    start_server,
)
from bench.seed import Seeded
from bench.workers import (
    HOST,
    Processes,
    Report,
    bench_database,
    bench_main,
    bench_parser,
    bound,
    log,
)

# Targets from the issue (12).
TARGET_BOARD_MS = 300.0
TARGET_LIVE_MS = 1000.0
TARGET_METRICS_MS = 50.0
TARGET_P99_RATIO = 1.10

CONSOLE = "/switchboard/console"
COOKIE = "switchboard_console"
# Every wait is bounded.
EVENT_TIMEOUT_S = 10.0
COMPLETE_TIMEOUT_S = 120.0


def sign_in(base: str, seeded: Seeded) -> str:
    """Sign in through the console's form, as a browser does; the session cookie's value."""
    with httpx.Client(base_url=base, timeout=30.0) as http:
        form = http.get(f"{CONSOLE}/sign-in")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        if token is None:
            raise RuntimeError("the sign-in form has no CSRF field")
        answer = http.post(f"{CONSOLE}/sign-in", data={
            "csrf": token.group(1), "username": seeded.account_sid,
            "password": seeded.auth_token, "next": "",
        })  # fmt: skip
        cookie = http.cookies.get(COOKIE)
        if answer.status_code not in (200, 303) or not cookie:
            raise RuntimeError(f"signing in failed: HTTP {answer.status_code}")
        return cookie


def timed_get(http: httpx.Client, path: str, **kwargs: Any) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = http.get(path, **kwargs)
    return (time.perf_counter() - started) * 1000, response


@dataclass
class BoardEvents:
    """Reads a board's event stream; `boards` receives each board with its arrival time."""

    boards: asyncio.Queue[tuple[float, dict[str, Any]]] = field(default_factory=asyncio.Queue)
    received: int = 0

    async def read(self, http: httpx.AsyncClient, path: str) -> None:
        async with http.stream("GET", path, timeout=None) as stream:
            if stream.status_code != 200:
                raise RuntimeError(f"the live stream answered HTTP {stream.status_code}")
            kind = ""
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "board":
                    self.received += 1
                    self.boards.put_nowait((time.perf_counter(), json.loads(line[6:])))


def available_workers(board: dict[str, Any]) -> int:
    return sum(a["workers"] for a in board["activities"] if a["friendly_name"] == "Available")


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    procs: Processes
    report: Report = field(default_factory=Report)
    routing: RoutingBench | None = None
    server: Server | None = None
    cookie: str = ""
    # Workers toggled Available <-> Unavailable to make changes through the API.
    toggles: list[str] = field(default_factory=list)

    @property
    def r(self) -> RoutingBench:
        assert self.routing is not None, "seed first"
        return self.routing

    @property
    def base(self) -> str:
        assert self.server is not None, "start the server first"
        return f"http://{HOST}:{self.server.port}"

    @property
    def board_path(self) -> str:
        return f"{CONSOLE}/workspaces/{self.r.data.workspace_sid}"

    def run(self) -> None:
        a = self.args
        with bench_database(a.database_url, self.workdir) as url:
            self.routing = RoutingBench(a, self.workdir, self.procs, report=self.report)
            self.r.url = url
            self.r.seed()
            token = secrets.token_hex(16)
            self.server = start_server(self.procs, "server", url, self.r.data,
                                       log_level=a.log_level,
                                       options=["--metrics-token", token])  # fmt: skip
            self.cookie = sign_in(self.base, self.r.data)
            self.pick_toggles()
            self.cold_board()
            self.r.warm_queues(self.server)
            figures = a.figures
            if figures & {"1", "2", "3"}:
                self.r.speed_check("figures 1-3")
            if "1" in figures:
                self.board_render("idle")
                self.first_paint()
            if "2" in figures:
                self.live_updates()
            if "3" in figures:
                self.metrics(token, "idle")
            if "4" in figures:
                self.r.speed_check("figure 4")
                self.console_cost()
            if figures & {"1", "3"}:
                self.with_open_tasks(token)

    # -- helpers ------------------------------------------------------------------------------

    def console_client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, cookies={COOKIE: self.cookie}, timeout=60.0)

    def api_client(self) -> httpx.Client:
        d = self.r.data
        return httpx.Client(base_url=self.base, auth=(d.account_sid, d.auth_token), timeout=60.0)

    def pick_toggles(self) -> None:
        d = self.r.data
        available = d.activity_sids["Available"]
        rng = random.Random(self.args.seed + 2)
        chosen = [w for w, act in zip(d.worker_sids, d.worker_activities, strict=True)
                  if act == available]  # fmt: skip
        self.toggles = rng.sample(chosen, min(len(chosen), 400))

    def toggle(self, api: httpx.Client, i: int) -> bytes:
        """The request that moves toggle worker i//2 to Unavailable (even i) or back."""
        d = self.r.data
        worker = self.toggles[(i // 2) % len(self.toggles)]
        activity = d.activity_sids["Unavailable" if i % 2 == 0 else "Available"]
        path = f"/v1/Workspaces/{d.workspace_sid}/Workers/{worker}"
        answer = api.post(path, data={"ActivitySid": activity})
        if answer.status_code != 200:
            raise RuntimeError(f"a worker update answered HTTP {answer.status_code}")
        return answer.content

    # -- the cold board -----------------------------------------------------------------------

    def cold_board(self) -> None:
        """The first view after start-up: queues not counted yet show as unknown and are
        counted in the background; how long until every queue is."""
        with self.console_client() as http:
            ms, page = timed_get(http, self.board_path)
            started = time.perf_counter()
            complete = False
            while time.perf_counter() - started < COMPLETE_TIMEOUT_S:
                board = http.get(f"{self.board_path}/board.json").json()
                if all(q["eligible"] is not None for q in board["queues"]):
                    complete = True
                    break
                time.sleep(0.1)
        counted = time.perf_counter() - started
        self.report.raw.append(
            f"cold board (first view after start-up): page {ms:.1f} ms, HTTP {page.status_code},"
            f" {len(page.content):,} bytes; every queue counted in the background"
            f" {'after' if complete else 'NOT within'} {counted:.1f} s"
        )

    # -- figure 1 -----------------------------------------------------------------------------

    def board_render(self, when: str) -> None:
        n = self.args.requests
        log(f"figure 1 ({when}): the board page and its data, {n} each after a change …")
        pages: list[float] = []
        data: list[float] = []
        with self.console_client() as http, self.api_client() as api:
            timed_get(http, self.board_path)  # untimed: the connection opens
            for i in range(2 * n):
                self.toggle(api, i)  # so the next board is built again
                ms, answer = timed_get(http, f"{self.board_path}/board.json" if i % 2 else
                                       self.board_path)  # fmt: skip
                if answer.status_code != 200:
                    raise RuntimeError(f"the board answered HTTP {answer.status_code}")
                (data if i % 2 else pages).append(ms)
                size = len(answer.content)
                if i < 2:
                    self.report.raw.append(f"  {'board.json' if i else 'board page'}: {size:,} B")
        for name, values in (("board page", pages), ("board data (board.json)", data)):
            p99 = percentile(values, 0.99)
            self.report.add(f"{name} ({when}), p99 (ms)", f"{p99:.1f}",
                            f"<= {TARGET_BOARD_MS:.0f} ms", p99 <= TARGET_BOARD_MS)  # fmt: skip
            self.report.raw.append(f"figure 1 ({when}), {name}: {spread(values)}")

    def first_paint(self) -> None:
        """Debian's chromium, headless, driven by Playwright (never a downloaded browser)."""
        executable = shutil.which("chromium")
        if executable is None:
            self.report.notes.append("figure 1: no chromium on PATH, first paint not measured")
            return
        from playwright.sync_api import sync_playwright

        n = self.args.paints
        log(f"figure 1: first paint in headless chromium, {n} loads …")
        paints: list[float] = []
        lives: list[float] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable,
                                                 args=["--no-sandbox"])  # fmt: skip
            try:
                for _ in range(n + 1):  # the first load warms the browser's caches
                    context = browser.new_context()
                    context.add_cookies([{"name": COOKIE, "value": self.cookie,
                                          "url": self.base + CONSOLE + "/"}])  # fmt: skip
                    page = context.new_page()
                    page.goto(self.base + self.board_path, wait_until="load")
                    page.wait_for_function(
                        "document.getElementById('live-status').textContent === 'Live'"
                        " && document.getElementById('main').dataset.updates",
                        timeout=EVENT_TIMEOUT_S * 1000,
                    )
                    live = page.evaluate("performance.now()")
                    paint = page.evaluate(
                        "(performance.getEntriesByName('first-contentful-paint')[0] || {})"
                        ".startTime || null"
                    )
                    context.close()
                    if paint is not None:
                        paints.append(float(paint))
                    lives.append(float(live))
            finally:
                browser.close()
        paints, lives = paints[1:], lives[1:]
        if paints:
            median = statistics.median(paints)
            self.report.add("board first contentful paint, chromium (ms)", f"{median:.0f}",
                            f"<= {TARGET_BOARD_MS:.0f} ms", median <= TARGET_BOARD_MS)  # fmt: skip
        self.report.raw += [
            f"figure 1, chromium headless (Debian's), from navigation start: first contentful"
            f" paint {spread(paints)}",
            f"  until the board says Live with its first update drawn: {spread(lives)}",
        ]

    # -- figure 2 -----------------------------------------------------------------------------

    def live_updates(self) -> None:
        n = self.args.changes
        log(f"figure 2: {n} worker changes through the API, each seen on the live stream …")
        latencies = run_async(self._live_updates(n))
        p99, worst = percentile(latencies, 0.99), max(latencies)
        self.report.add("live update after an API change, max (ms)", f"{worst:.0f}",
                        f"<= {TARGET_LIVE_MS:.0f} ms", worst <= TARGET_LIVE_MS)  # fmt: skip
        self.report.raw.append(
            f"figure 2: from sending the change to the board event counting it: "
            f"{spread(latencies)} (p99 {p99:.0f} ms); changes 0.3-1.3 s apart"
        )

    async def _live_updates(self, n: int) -> list[float]:
        events = BoardEvents()
        d = self.r.data
        rng = random.Random(self.args.seed + 3)
        latencies: list[float] = []
        async with (
            httpx.AsyncClient(base_url=self.base, cookies={COOKIE: self.cookie}) as http,
            httpx.AsyncClient(base_url=self.base, auth=(d.account_sid, d.auth_token)) as api,
        ):
            reader = asyncio.create_task(events.read(http, f"{self.board_path}/live"))
            try:
                _, board = await asyncio.wait_for(events.boards.get(), EVENT_TIMEOUT_S)
                count = available_workers(board)
                for i in range(n):
                    await asyncio.sleep(rng.uniform(0.3, 1.3))
                    worker = self.toggles[(1000 + i // 2) % len(self.toggles)]
                    going = i % 2 == 0
                    activity = d.activity_sids["Unavailable" if going else "Available"]
                    count += -1 if going else 1
                    sent = time.perf_counter()
                    answer = await api.post(f"/v1/Workspaces/{d.workspace_sid}/Workers/{worker}",
                                            data={"ActivitySid": activity})  # fmt: skip
                    if answer.status_code != 200:
                        raise RuntimeError(f"a worker update answered {answer.status_code}")
                    while True:
                        at, board = await asyncio.wait_for(events.boards.get(), EVENT_TIMEOUT_S)
                        if available_workers(board) == count:
                            latencies.append((at - sent) * 1000)
                            break
            finally:
                reader.cancel()
        return latencies

    # -- figure 3 -----------------------------------------------------------------------------

    def metrics(self, token: str, when: str) -> None:
        n = self.args.requests
        log(f"figure 3 ({when}): {n} scrapes of /switchboard/metrics …")
        times: list[float] = []
        with httpx.Client(base_url=self.base, timeout=60.0,
                          headers={"Authorization": f"Bearer {token}"}) as http:  # fmt: skip
            _, first = timed_get(http, "/switchboard/metrics")
            if first.status_code != 200:
                raise RuntimeError(f"/switchboard/metrics answered HTTP {first.status_code}")
            for _ in range(n):
                ms, _ = timed_get(http, "/switchboard/metrics")
                times.append(ms)
        p99 = percentile(times, 0.99)
        self.report.add(f"/switchboard/metrics ({when}), p99 (ms)", f"{p99:.1f}",
                        f"<= {TARGET_METRICS_MS:.0f} ms", p99 <= TARGET_METRICS_MS)  # fmt: skip
        lines = first.text.count("\n")
        self.report.raw.append(
            f"figure 3 ({when}): {spread(times)}; {lines:,} lines, {len(first.content):,} B"
        )

    # -- figure 4 -----------------------------------------------------------------------------

    def console_cost(self) -> None:
        a = self.args
        plan = "".join("AB" if k % 2 == 0 else "BA" for k in range(a.rounds))
        log(f"figure 4: {len(plan)} rounds of {a.round_seconds:.0f} s at {a.rate:.0f} tasks/s,"
            f" without (A) and with (B) the console open: {plan} …")  # fmt: skip
        assert self.server is not None
        rng = random.Random(a.seed + 1)
        first = 0
        results: dict[str, list[Sent]] = {"A": [], "B": []}
        # Server CPU seconds and tasks per kind: what the console costs the server, steadier
        # than latency when other work shares the machine.
        cpu: dict[str, list[float]] = {"A": [0.0, 0], "B": [0.0, 0]}
        p99s: dict[str, list[float]] = {"A": [], "B": []}
        # The rounds in which other processes kept the server from a CPU for less than
        # --quiet-wait of the round: on a shared machine, the ones whose p99 says what the
        # server did rather than what the machine did to it.
        quiet: dict[str, list[float]] = {"A": [], "B": []}
        quiet_rounds = {"A": 0, "B": 0}
        per_round: list[str] = []
        assert self.server is not None
        console = ConsoleLoad(self.server.port, self.cookie)  # what the B rounds did, added up
        for kind in plan:
            count = round(a.rate * a.round_seconds)
            requests = self.r.task_requests(count, rng, 100_000 + first)
            first += count
            waited = cpu_wait_s(self.server.proc.pid)
            with measuring(self.server.proc.pid) as usage:
                if kind == "B":
                    sent = self._with_console(requests, console)
                else:
                    sent = run_async(open_loop(self.server.port, requests, a.rate,
                                               a.round_seconds + 60))  # fmt: skip
            waited = cpu_wait_s(self.server.proc.pid) - waited
            reserved = _reserved(sent)
            results[kind] += reserved
            cpu[kind][0] += usage[0].server * usage[0].seconds
            cpu[kind][1] += len(sent)
            p99s[kind].append(percentile([s.from_schedule_ms for s in reserved], 0.99))
            if waited <= a.quiet_wait * usage[0].seconds:
                quiet[kind] += [s.from_schedule_ms for s in reserved]
                quiet_rounds[kind] += 1
            per_round.append(
                f"{kind}: p50 {percentile([s.from_schedule_ms for s in reserved], 0.5):.2f}"
                f" p99 {percentile([s.from_schedule_ms for s in reserved], 0.99):.2f} ms"
                f" ({len(reserved):,} of {len(sent):,} reserved at once;"
                f" server CPU {usage[0].server:.0%}, waiting for a CPU {waited:.1f} s;"
                f" machine {usage[0].machine:.0%})"
            )
            self.r.cancel(self.server, [json.loads(s.body)["sid"] for s in sent
                                        if s.status == 201])  # fmt: skip
        without = [s.from_schedule_ms for s in results["A"]]
        with_console = [s.from_schedule_ms for s in results["B"]]
        p99_a, p99_b = percentile(without, 0.99), percentile(with_console, 0.99)
        ratio = p99_b / p99_a if p99_a else float("nan")
        self.report.add("create -> reserved p99 without console (ms)", f"{p99_a:.2f}")
        self.report.add("create -> reserved p99 with console (ms)", f"{p99_b:.2f}")
        self.report.add("p99 with / without console, all rounds", f"{ratio:.3f}")
        if quiet["A"] and quiet["B"]:
            calm = percentile(quiet["B"], 0.99) / percentile(quiet["A"], 0.99)
            rounds = f"{quiet_rounds['A']} A, {quiet_rounds['B']} B"
            self.report.add(f"p99 with / without console, quiet rounds ({rounds})",
                            f"{calm:.3f}", f"<= {TARGET_P99_RATIO:.2f}",
                            calm <= TARGET_P99_RATIO)  # fmt: skip
            self.report.raw.append(
                f"figure 4, quiet rounds (the server waited for a CPU <= {a.quiet_wait:.0%} of"
                f" the round): without {spread(quiet['A'])}; with {spread(quiet['B'])}"
            )
        else:
            self.report.notes.append("figure 4: no quiet round of each kind; rerun it")
        per_task = {k: 1e6 * seconds / max(n, 1) for k, (seconds, n) in cpu.items()}
        pairs = [b / a for a, b in zip(p99s["A"], p99s["B"], strict=True) if a]
        self.report.add("server CPU per task with / without console",
                        f"{per_task['B'] / per_task['A']:.3f}")  # fmt: skip
        self.report.raw += [
            f"figure 4: server CPU per task: without the console {per_task['A']:.0f} us,"
            f" with {per_task['B']:.0f} us (the console's own work included)",
            f"  p99 ratio of each round B to its round A: {', '.join(f'{r:.2f}' for r in pairs)}"
            f" (median {statistics.median(pairs) if pairs else float('nan'):.2f})",
            f"  without the console: {spread(without)}",
            f"  with the console: {spread(with_console)}",
            f"  medians with / without:"
            f" {percentile(with_console, 0.5) / percentile(without, 0.5):.3f}",
            f"  from the actual send (without the generator's lag): without"
            f" {spread([s.from_send_ms for s in results['A']])}; with"
            f" {spread([s.from_send_ms for s in results['B']])}",
            f"  the console's load in B rounds: {console.events} board events received,"
            f" {len(console.page_ms)} page loads (page, script, style):"
            f" {spread(console.page_ms)}",
            "  rounds in order: " + "; ".join(per_round),
        ]

    def _with_console(self, requests: Sequence[bytes], console: ConsoleLoad) -> list[Sent]:
        """One round's tasks while a process of its own (beside this one, on the load's CPU)
        keeps the console open: the generator's event loop does none of the console's work."""
        a = self.args
        assert self.server is not None
        parts = frozenset(a.console_parts.split(","))
        spec = ConsoleSpec(self.server.port, self.board_path, self.cookie, a.page_every, parts)
        spawn = multiprocessing.get_context("spawn")
        started, stop, out = spawn.Event(), spawn.Event(), spawn.Queue()
        process = spawn.Process(target=console_process, args=(spec, started, stop, out))
        process.start()
        try:
            if not started.wait(EVENT_TIMEOUT_S * 3):
                raise RuntimeError("the console's load did not connect its live stream")
            sent: list[Sent] = run_async(open_loop(self.server.port, requests, a.rate,
                                                   a.round_seconds + 60))  # fmt: skip
            stop.set()
            events, page_ms = out.get(timeout=EVENT_TIMEOUT_S * 3)
            console.events += events
            console.page_ms += page_ms
        finally:
            stop.set()
            process.join(EVENT_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join(EVENT_TIMEOUT_S)
        return sent

    # -- with open tasks ----------------------------------------------------------------------

    def with_open_tasks(self, token: str) -> None:
        """Figures 1 and 3 again while a burst of tasks is open (reserved or waiting)."""
        assert self.server is not None
        n = self.args.open_tasks
        log(f"figures 1 and 3 with {n:,} open tasks …")
        requests = self.r.task_requests(n, random.Random(self.args.seed + 4), 500_000)
        results = run_async(closed_loop(self.server.port, requests, 8, 300.0))
        sids = [json.loads(body)["sid"] for status, body in results if status == 201]
        self.report.raw.append(f"{len(sids):,} tasks created and left open")
        try:
            self.board_render(f"{len(sids):,} open tasks")
            self.metrics(token, f"{len(sids):,} open tasks")
        finally:
            self.r.cancel(self.server, sids)


def cpu_wait_s(pid: int) -> float:
    """Seconds the process has spent ready to run but waiting for a CPU (other processes had
    it): a round whose server waited long was slowed by the machine, not by what it did."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def _reserved(sent: list[Sent]) -> list[Sent]:
    return [s for s in sent if s.status == 201
            and json.loads(s.body)["assignment_status"] == "reserved"]  # fmt: skip


@dataclass
class ConsoleLoad:
    """What a person with the board open costs: its live stream, and the page with its
    assets loaded again every few seconds. It speaks HTTP over plain sockets and parses
    nothing it need not, so its own CPU (on the generator's CPU) stays as small as can be:
    in the measure, a browser runs on another machine."""

    port: int
    cookie: str
    events: int = 0
    page_ms: list[float] = field(default_factory=list)

    def _request(self, path: str) -> bytes:
        return (f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}={self.cookie}\r\n"
                "Connection: close\r\n\r\n").encode()  # fmt: skip

    async def read_stream(self, path: str, first: asyncio.Event) -> None:
        """Count the board events (their text is not parsed: the page's script does that)."""
        reader, writer = await asyncio.open_connection(HOST, self.port)
        try:
            writer.write(self._request(path))
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"the live stream answered {head[:40]!r}")
            while chunk := await reader.read(1 << 16):
                # A marker cut between two reads is missed: events counts at least this many.
                self.events += chunk.count(b"event: board")
                if self.events:
                    first.set()
        finally:
            writer.close()

    async def load_pages(self, path: str, every: float) -> None:
        while True:
            started = time.perf_counter()
            for asset in (path, f"{CONSOLE}/static/board.js", f"{CONSOLE}/static/console.css"):
                reader, writer = await asyncio.open_connection(HOST, self.port)
                try:
                    writer.write(self._request(asset))
                    answer = await reader.read()  # to the end: the server closes
                finally:
                    writer.close()
                if not answer.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"{asset} answered {answer[:40]!r}")
            self.page_ms.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(every)


@dataclass(frozen=True)
class ConsoleSpec:
    port: int
    board_path: str
    cookie: str
    page_every: float
    parts: frozenset[str]  # "stream", "pages"


def console_process(spec: ConsoleSpec, started: Any, stop: Any, out: Any) -> None:
    """A console kept open until `stop` is set; puts (board events, page load times)."""
    load = ConsoleLoad(spec.port, spec.cookie)
    run_async(_console(spec, load, started, stop))
    out.put((load.events, load.page_ms))


async def _console(spec: ConsoleSpec, load: ConsoleLoad, started: Any, stop: Any) -> None:
    first = asyncio.Event()
    reader, pages = None, None
    if "stream" in spec.parts:
        reader = asyncio.create_task(load.read_stream(f"{spec.board_path}/live", first))
    else:
        first.set()
    try:
        await asyncio.wait_for(first.wait(), EVENT_TIMEOUT_S)
        if "pages" in spec.parts:
            pages = asyncio.create_task(load.load_pages(spec.board_path, spec.page_every))
        started.set()
        deadline = time.monotonic() + 600.0
        while not stop.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        for task in (reader, pages):
            if task is not None:
                task.cancel()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--workers", type=int, default=15_000)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--requests", type=int, default=50,
                        help="figures 1 and 3: timed requests each")  # fmt: skip
    parser.add_argument("--paints", type=int, default=5, help="figure 1: chromium loads")
    parser.add_argument("--changes", type=int, default=20, help="figure 2: changes watched")
    parser.add_argument("--rate", type=float, default=200.0, help="figure 4: tasks per second")
    parser.add_argument("--round-seconds", type=float, default=4.0, help="figure 4: per round")
    parser.add_argument("--rounds", type=int, default=8,
                        help="figure 4: rounds of each kind (ABBA order)")  # fmt: skip
    parser.add_argument("--page-every", type=float, default=2.0,
                        help="figure 4: seconds between the console's page loads")  # fmt: skip
    parser.add_argument("--open-tasks", type=int, default=2_000,
                        help="tasks left open for figures 1 and 3 measured again")  # fmt: skip
    parser.add_argument("--figures", default="1234", help="which figures to run, e.g. 4")
    parser.add_argument("--quiet-wait", type=float, default=0.05,
                        help="figure 4: a round is quiet when its server waited for a CPU at"
                        " most this share of it")  # fmt: skip
    parser.add_argument(
        "--console-parts",
        default="stream,pages",
        help="figure 4: what the open console does (stream, pages or both)",
    )
    args = parser.parse_args(argv)
    args.figures = set(args.figures)
    bound(args, {
        "workers": (100, 15_000), "queues": (10, 5_000), "workflows": (1, 1_000),
        "requests": (5, 1_000), "paints": (1, 50), "changes": (2, 500),
        "rate": (1.0, 2_000.0), "round_seconds": (1.0, 60.0), "rounds": (1, 20),
        "page_every": (0.2, 60.0), "open_tasks": (1, 20_000), "quiet_wait": (0.0, 1.0),
    })  # fmt: skip
    # What bench/routing.py's seeding and helpers read.
    args.profile, args.db_latency_ms = False, None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    make: Callable[[Path, Processes], Bench] = lambda w, p: Bench(args, w, p)  # noqa: E731
    return bench_main("switchboard-console-", make, describe(args), keep=args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
