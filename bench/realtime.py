"""The worker SDK's figures: push latency with many agents connected, memory per idle socket,
and a reconnect storm.

Run from the checkout: .venv/bin/python -m bench.realtime [--workers N] [--rate R] ...
(`--help` lists every option; small counts check that it works in seconds.)

1. N workers hold a websocket each (Python `websockets` clients speaking to the server as
   the SDK does, with tokens minted by Twilio's `twilio.jwt` helper) while tasks arrive
   through the REST API at R/s: from each `reservation.created` event's stamp in the events
   table (taken in its transaction, just before the commit) to the frame's arrival on the
   worker's socket, median and p99.
2. The server's RSS before and after the N sockets opened, over N: memory per idle socket.
3. K of the workers drop their sockets at once and reconnect at once, each as the SDK does:
   open the socket, wait for `init`, then fetch its worker, the activities, its channels and
   its active reservations through the gateway. The time until the last is ready.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import TaskRouterGrant
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.http1 import Http1, Pool
from bench.routing import database_connection, query
from bench.seed import one_transaction, open_engine
from bench.workers import (
    HOST,
    READY_TIMEOUT_S,
    Processes,
    Report,
    bench_database,
    bench_main,
    bench_parser,
    bound,
    child_env,
    free_port,
    log,
    memory_mb,
    server_command,
    vacuum_analyze,
    wait_ready,
)

# Targets from the issue (10).
TARGET_MEDIAN_MS = 5.0
TARGET_P99_MS = 50.0
TARGET_KB_PER_SOCKET = 20.0
TARGET_STORM_S = 5.0

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "c" * 32
PATH = "/v1/wschannels"
# Every wait is bounded: a socket that does not open, a frame that does not come.
CONNECT_TIMEOUT_S = 60.0
SETTLE_S = 2.0


@dataclass
class Desk:
    workspace_sid: str
    workflow_sid: str
    worker_sids: list[str]
    key_sid: str
    key_secret: str


def seed(url: str, workers: int) -> Desk:
    """One workspace: a queue every worker is in, a workflow into it, `workers` Available
    workers (capacity 1 each), and an API key to sign their tokens."""
    with open_engine(url, workers=workers) as engine:
        account, _ = engine.accounts.ensure_account(ACCOUNT_SID, AUTH_TOKEN)
        ws = engine.workspaces.create_workspace(account.sid, friendly_name="realtime bench")
        queue = engine.task_queues.create_task_queue(
            ws.sid, friendly_name="everyone", target_workers="1 == 1"
        )
        config = {"task_routing": {"filters": [], "default_filter": {"queue": queue.sid}}}
        workflow = engine.workflows.create_workflow(
            ws.sid, friendly_name="inbound", configuration=json.dumps(config)
        )
        available = next(
            a.sid for a in engine.store.list_activities(ws.sid) if a.friendly_name == "Available"
        )
        sids: list[str] = []
        for start in range(0, workers, 500):
            with one_transaction(engine, ws.sid):
                for index in range(start, min(start + 500, workers)):
                    made = engine.workers.create_worker(
                        ws.sid, friendly_name=f"agent-{index:05d}", activity_sid=available,
                        attributes='{"team": "support"}',
                    )  # fmt: skip
                    sids.append(made.sid)
        key, secret = engine.accounts.create_api_key(account.sid, "realtime bench")
    return Desk(ws.sid, workflow.sid, sids, key.sid, secret)


def mint(desk: Desk, worker_sid: str) -> str:
    token = AccessToken(ACCOUNT_SID, desk.key_sid, desk.key_secret, identity=worker_sid)
    token.add_grant(TaskRouterGrant(workspace_sid=desk.workspace_sid, worker_sid=worker_sid))
    return str(token.to_jwt())


# -- the agents ---------------------------------------------------------------------------------


@dataclass
class Agents:
    """The bench's side of every socket: which reservation frames arrived when (wall clock,
    epoch ms, the clock the server stamps events with)."""

    arrived: dict[str, float] = field(default_factory=dict)
    frames: int = 0
    closed_early: int = 0

    async def hold(self, url: str, opened: asyncio.Event, stop: asyncio.Event) -> None:
        """One agent's socket: read until told to stop, noting each reservation offered."""
        async with connect(url, max_size=None, open_timeout=CONNECT_TIMEOUT_S) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT_S))
            if first.get("event_type") != "init":
                raise RuntimeError(f"the socket opened with {first!r}, not init")
            opened.set()
            reading = asyncio.ensure_future(self._read(ws))
            await stop.wait()
            reading.cancel()

    async def _read(self, ws: Any) -> None:
        try:
            async for text in ws:
                if not text.strip():
                    continue  # a heartbeat
                now = time.time() * 1000
                self.frames += 1
                if '"reservation.created"' in text[:60]:
                    self.arrived[json.loads(text)["payload"]["sid"]] = now
        except ConnectionClosed:
            self.closed_early += 1


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, procs: Processes) -> None:
        self.args, self.workdir, self.procs = args, workdir, procs
        self.report = Report()

    def run(self) -> None:
        with bench_database(self.args.database_url, self.workdir) as url:
            self.url = url
            started = time.perf_counter()
            self.desk = seed(url, self.args.workers)
            log(f"seeded {self.args.workers} workers in {time.perf_counter() - started:.1f} s")
            if not url.startswith("sqlite"):
                tables, seconds = vacuum_analyze(url)
                log(f"VACUUM ANALYZE of {tables} tables in {seconds:.1f} s")
            self.ports = [self._start_server(f"server{n}") for n in range(self.args.servers)]
            asyncio.run(self._measure())

    def _start_server(self, name: str) -> int:
        port = free_port()
        command = [*server_command(), "--database-url", self.url, "--port", str(port),
                   "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN]  # fmt: skip
        env = child_env({"SWITCHBOARD_LOG_LEVEL": self.args.log_level})
        proc = self.procs.start(name, command, env)
        try:
            wait_ready(proc, port, (ACCOUNT_SID, AUTH_TOKEN), READY_TIMEOUT_S)
        except RuntimeError:
            log(f"{name} log:\n" + self.procs.tail(name))
            raise
        return port

    def _socket_url(self, index: int) -> str:
        port = self.ports[index % len(self.ports)]
        token = mint(self.desk, self.desk.worker_sids[index])
        return f"ws://{HOST}:{port}{PATH}?token={token}&closeExistingSessions=false"

    async def _measure(self) -> None:
        agents, stop = Agents(), asyncio.Event()
        held = await self._connect_all(agents, stop)
        await self._latency(agents)
        await self._storm(held, agents)
        stop.set()
        await asyncio.gather(*held.values(), return_exceptions=True)

    async def _connect_all(
        self, agents: Agents, stop: asyncio.Event
    ) -> dict[int, asyncio.Task[None]]:
        """Open every socket, a few hundred at a time, and report memory per idle socket."""
        n = self.args.workers
        pids = [p.pid for p in self.procs.started]
        before = sum(memory_mb(pid)[0] for pid in pids)
        started = time.perf_counter()
        held: dict[int, asyncio.Task[None]] = {}
        for first in range(0, n, self.args.connect_batch):
            opened = []
            for index in range(first, min(first + self.args.connect_batch, n)):
                ready = asyncio.Event()
                held[index] = asyncio.ensure_future(
                    agents.hold(self._socket_url(index), ready, stop)
                )
                opened.append(ready)
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened)), CONNECT_TIMEOUT_S)
        took = time.perf_counter() - started
        await asyncio.sleep(SETTLE_S)
        after = sum(memory_mb(pid)[0] for pid in pids)
        per_socket_kb = (after - before) * 1024 / n
        self.report.add(
            "memory per idle socket", f"{per_socket_kb:.1f} KB",
            f"<= {TARGET_KB_PER_SOCKET:.0f} KB", per_socket_kb <= TARGET_KB_PER_SOCKET,
        )  # fmt: skip
        self.report.raw.append(
            f"{n} sockets opened in {took:.1f} s over {len(self.ports)} server(s);"
            f" server RSS {before:.1f} MB before, {after:.1f} MB after"
        )
        return held

    async def _latency(self, agents: Agents) -> None:
        """Tasks at `rate`/s for `seconds` (never more than there are workers to take them)."""
        count = min(int(self.args.rate * self.args.seconds), self.args.workers)
        interval = 1.0 / self.args.rate
        auth = (ACCOUNT_SID, AUTH_TOKEN)
        path = f"/v1/Workspaces/{self.desk.workspace_sid}/Tasks"
        pools = [Pool(HOST, port, 16, auth=auth) for port in self.ports]
        form = {"content-type": "application/x-www-form-urlencoded"}
        created: list[str] = []
        late = 0
        try:

            async def create(n: int) -> None:
                body = urlencode(
                    {"WorkflowSid": self.desk.workflow_sid, "Attributes": json.dumps({"n": n})}
                )
                status, answer = await pools[n % len(pools)].post(path, body.encode(), form)
                if status != 201:
                    raise RuntimeError(f"creating a task answered {status}: {answer[:200]!r}")
                created.append(json.loads(answer)["sid"])

            started = time.perf_counter()
            sent = []
            for n in range(count):
                due = started + n * interval
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                elif wait < -interval:
                    late += 1
                sent.append(asyncio.ensure_future(create(n)))
            await asyncio.gather(*sent)
            elapsed = time.perf_counter() - started
        finally:
            for pool in pools:
                pool.close()
        await self._until_offered(agents, count)
        stamps = self._reservation_stamps(created)
        gaps = sorted(
            agents.arrived[r] - stamp for r, stamp in stamps.items() if r in agents.arrived
        )
        if not gaps:
            raise RuntimeError("no reservation.created frame arrived")
        median, p99 = statistics.median(gaps), gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))]
        self.report.add(
            "commit to reservation.created frame, median", f"{median:.1f} ms",
            f"<= {TARGET_MEDIAN_MS:.0f} ms", median <= TARGET_MEDIAN_MS,
        )  # fmt: skip
        self.report.add(
            "commit to reservation.created frame, p99", f"{p99:.1f} ms",
            f"<= {TARGET_P99_MS:.0f} ms", p99 <= TARGET_P99_MS,
        )  # fmt: skip
        self.report.raw.append(
            f"{count} tasks sent in {elapsed:.1f} s ({count / elapsed:.0f}/s,"
            f" {self.args.rate:.0f}/s asked, {late} sent late);"
            f" {len(gaps)} of {len(stamps)} reservations' frames timed;"
            f" max {gaps[-1]:.1f} ms"
        )
        if len(gaps) < len(stamps):
            self.report.notes.append(f"{len(stamps) - len(gaps)} reservation frames never came")

    async def _until_offered(self, agents: Agents, count: int) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while len(agents.arrived) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def _reservation_stamps(self, task_sids: Sequence[str]) -> dict[str, int]:
        """Each reservation's `reservation.created` event_date (epoch ms), by reservation SID."""
        stamps: dict[str, int] = {}
        with database_connection(self.url) as conn:
            for start in range(0, len(task_sids), 500):
                chunk = list(task_sids[start : start + 500])
                rows = query(
                    conn,
                    "SELECT reservation_sid, event_date FROM events WHERE workspace_sid = ?"
                    " AND event_type = 'reservation.created'"
                    f" AND task_sid IN ({','.join('?' * len(chunk))})",
                    [self.desk.workspace_sid, *chunk],
                )
                stamps.update({str(sid): int(date) for sid, date in rows})
        return stamps

    async def _storm(self, held: dict[int, asyncio.Task[None]], agents: Agents) -> None:
        """K agents drop their sockets at once, then all reconnect and refetch at once."""
        k = min(self.args.reconnecting, self.args.workers)
        for index in range(k):
            held[index].cancel()
        await asyncio.gather(*(held[i] for i in range(k)), return_exceptions=True)
        started = time.perf_counter()
        ready = await asyncio.gather(
            *(self._reconnect(i) for i in range(k)), return_exceptions=True
        )
        took = time.perf_counter() - started
        failures = [r for r in ready if isinstance(r, BaseException)]
        slowest = max((r for r in ready if isinstance(r, float)), default=0.0)
        self.report.add(
            f"{k} reconnecting at once, all ready", f"{took:.2f} s",
            f"<= {TARGET_STORM_S:.0f} s", took <= TARGET_STORM_S and not failures,
        )  # fmt: skip
        self.report.raw.append(
            f"storm: slowest agent ready after {slowest:.2f} s; {len(failures)} failed"
            + (f" (first: {failures[0]!r})" if failures else "")
        )

    async def _reconnect(self, index: int) -> float:
        """One agent as the SDK reconnects: socket, `init`, then the four refetches over a
        keep-alive connection of its own (as a browser holds)."""
        started = time.perf_counter()
        worker = self.desk.worker_sids[index]
        token = mint(self.desk, worker)
        port = self.ports[index % len(self.ports)]
        url = f"ws://{HOST}:{port}{PATH}?token={token}&closeExistingSessions=false"
        http = Http1(HOST, port)
        async with connect(url, open_timeout=CONNECT_TIMEOUT_S) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT_S))
            if first.get("event_type") != "init":
                raise RuntimeError(f"the socket opened with {first!r}, not init")
            prefix = f"Workspaces/{self.desk.workspace_sid}"
            calls = [
                (f"{prefix}/Workers/{worker}", {}, "v1"),
                (f"{prefix}/Activities", {"PageSize": 1000}, "v1"),
                (f"{prefix}/Workers/{worker}/WorkerChannels", {"PageSize": 1000}, "v1"),
                (f"{prefix}/Workers/{worker}/Reservations", {"Active": True}, "v2"),
            ]
            try:
                for path, params, version in calls:
                    body = json.dumps(
                        {"url": path, "method": "GET", "params": params, "token": token}
                    )
                    status, answer = await http.post(
                        PATH, body.encode(),
                        {"content-type": "text/plain;charset=UTF-8", "apiVersion": version},
                    )  # fmt: skip
                    if status != 200:
                        raise RuntimeError(f"{path} answered {status}: {answer[:200]!r}")
            finally:
                http.close()
            return time.perf_counter() - started


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--workers", type=int, default=7500, help="connected workers (7500)")
    parser.add_argument("--rate", type=float, default=200.0, help="tasks per second (200)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long tasks arrive (10)")
    parser.add_argument(
        "--reconnecting", type=int, default=1000, help="workers reconnecting at once (1000)"
    )
    parser.add_argument(
        "--servers", type=int, default=1,
        help="server processes sharing the database, sockets spread over them (PostgreSQL)",
    )  # fmt: skip
    parser.add_argument("--connect-batch", type=int, default=250, help="sockets opened at once")
    args = parser.parse_args(argv)
    bound(args, {
        "workers": (1, 20_000), "rate": (1, 5_000), "seconds": (1, 600),
        "reconnecting": (0, 20_000), "servers": (1, 8), "connect_batch": (1, 2_000),
    })  # fmt: skip
    if args.servers > 1 and not (args.database_url or "").startswith("postgres"):
        parser.error("--servers above 1 needs --database-url postgresql://…")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    describe = (
        f"{args.workers} workers connected to {args.servers} server(s) on"
        f" {'PostgreSQL' if (args.database_url or '').startswith('postgres') else 'SQLite'};"
        f" tasks at {args.rate:.0f}/s for {args.seconds:.0f} s; {args.reconnecting} reconnecting"
    )
    return bench_main(
        "switchboard-realtime-", lambda workdir, procs: Bench(args, workdir, procs), describe,
        keep=args.keep,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
