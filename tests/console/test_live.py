"""The board's live stream: woken by this process's commits at once, finding other processes'
writes (a second engine on the same database) by looking at the change number, and ending
with a `signed-out` event when the session does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.console import Console, pages
from switchboard.console.session import LIFETIME_MS, Session
from switchboard.engine import Engine
from switchboard.storage import Store
from switchboard.timers import ManualClock
from tests.support import ACCOUNT_SID, AUTH_TOKEN, START_MS


def _board(event: str) -> dict[str, Any]:
    kind, data = event.strip().split("\n")
    assert kind == "event: board"
    board: dict[str, Any] = json.loads(data.removeprefix("data: "))
    return board


def _waiting(event: str) -> int:
    return sum(q["waiting"] for q in _board(event)["queues"])


class Deployment:
    """Two engines on one SQLite file: this process, and another one."""

    def __init__(self, path: Path) -> None:
        url = f"sqlite:///{path / 'live.db'}"
        self.store, self.other_store = Store.open(url), Store.open(url)
        self.engine = Engine(self.store, ManualClock(START_MS))
        self.other = Engine(self.other_store, ManualClock(START_MS))
        account, _ = self.engine.accounts.ensure_account(ACCOUNT_SID, AUTH_TOKEN)
        self.ws = self.engine.workspaces.create_workspace(account.sid, friendly_name="Live").sid
        queue = self.engine.task_queues.create_task_queue(
            self.ws, friendly_name="Q", target_workers="1==0"
        )
        routing = {"task_routing": {"filters": [], "default_filter": {"queue": queue.sid}}}
        self.flow = self.engine.workflows.create_workflow(
            self.ws, friendly_name="F", configuration=json.dumps(routing)
        ).sid
        self.console = Console(
            self.store, self.engine, self.engine.clock, manual_clock=True, secret=b"s" * 32
        )

    def session(self, lasts_ms: int = LIFETIME_MS) -> Session:
        """A session of the workspace's account that ends `lasts_ms` from now."""
        issued = int(time.time() * 1000) - LIFETIME_MS + lasts_ms
        return self.console.sessions.issue(ACCOUNT_SID, issued)[1]

    def close(self) -> None:
        self.store.close()
        self.other_store.close()


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    # Boards follow one another closely here: the tests wait for each.
    monkeypatch.setattr(pages, "MIN_PUSH_SECONDS", 0.01)
    found = Deployment(tmp_path)
    yield found
    found.close()


async def _next(stream: AsyncIterator[str]) -> str:
    return await asyncio.wait_for(anext(stream), 30)


def test_a_commit_here_wakes_the_stream(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No polling and no refresh: only the commit listener can bring the next board.
    monkeypatch.setattr(pages, "POLL_SECONDS", 3600.0)
    monkeypatch.setattr(pages, "REFRESH_SECONDS", 3600.0)
    d = deployment

    async def scenario() -> None:
        d.console.feed.attach(asyncio.get_running_loop())
        d.engine.commit_listeners.append(d.console.feed.on_commit)
        stream = d.console.board_events(d.session(), d.ws, "Live")
        assert (await _next(stream)).startswith("retry:")
        assert _waiting(await _next(stream)) == 0
        assert d.console.feed.watching() == 1
        d.engine.tasks.create_task(d.ws, attributes="{}", workflow_sid=d.flow)
        assert _waiting(await _next(stream)) == 1
        await stream.aclose()
        assert d.console.feed.watching() == 0

    asyncio.run(scenario())


def test_another_process_write_is_found_by_its_change_number(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(pages, "REFRESH_SECONDS", 3600.0)
    d = deployment

    async def scenario() -> None:
        stream = d.console.board_events(d.session(), d.ws, "Live")
        await _next(stream)
        assert _waiting(await _next(stream)) == 0
        # The other engine's commit reaches no listener of this process.
        d.other.tasks.create_task(d.ws, attributes="{}", workflow_sid=d.flow)
        assert _waiting(await _next(stream)) == 1
        await stream.aclose()

    asyncio.run(scenario())


def test_the_stream_ends_when_the_session_does(deployment: Deployment) -> None:
    d = deployment

    async def scenario() -> None:
        # Without writes the stream would next wake after POLL_SECONDS; the session's end
        # wakes it sooner.
        stream = d.console.board_events(d.session(lasts_ms=300), d.ws, "Live")
        await _next(stream)
        event = await _next(stream)
        for _ in range(10):  # boards until the end (the queue's count brings one more)
            if not event.startswith("event: board"):
                break
            event = await _next(stream)
        kind, data = event.strip().split("\n")
        assert kind == "event: signed-out"
        board = f"%2Fswitchboard%2Fconsole%2Fworkspaces%2F{d.ws}"
        assert json.loads(data.removeprefix("data: ")) == {
            "sign_in": f"/switchboard/console/sign-in?next={board}"
        }
        with pytest.raises(StopAsyncIteration):
            await _next(stream)
        assert d.console.feed.watching() == 0

    asyncio.run(scenario())
