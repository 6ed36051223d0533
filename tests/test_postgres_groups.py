"""Groups of PostgreSQL writes (Store.prepare_write): writes to one workspace prepared on the
event loop share a transaction, each in a savepoint, whose opening and COMMIT are answered
off the loop; nothing is answered before its group commits. Round trips are counted on the
wire by the benchmark's proxy (bench/db_proxy.py)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.db_proxy import DbProxy
from switchboard.asyncio_bridge import until_committed
from switchboard.models import TaskChannel, Workspace
from switchboard.storage import Store
from tests.support import INTEGRITY_ERRORS, add_workspace, channel, pending_task
from tests.support.wire import spent


def workspace(wired_store: Store) -> tuple[Workspace, TaskChannel]:
    ws = add_workspace(wired_store)
    voice = channel(ws, "voice")
    with wired_store.write(ws.sid) as seq:
        wired_store.insert_task_channel(voice, seq)
    return ws, voice


def on_loop(wired_store: Store, main: Callable[[], Awaitable[Any]]) -> Any:
    """Run `main` on an event loop in this thread, with the store grouping its writes."""

    async def run() -> Any:
        wired_store.group_commits(asyncio.get_running_loop().call_soon)
        try:
            return await main()
        finally:
            wired_store.commit_each_write()

    return asyncio.run(run())


def test_writes_prepared_together_share_one_opening_and_one_commit(
    wire_proxy: DbProxy, wired_store: Store
) -> None:
    ws, voice = workspace(wired_store)
    seqs: list[int] = []

    async def one() -> BaseException | None:
        await wired_store.prepare_write(ws.sid)
        with wired_store.write_workspace(ws.sid) as (seq, found):
            assert found is not None and found.sid == ws.sid
            wired_store.tasks.insert(pending_task(ws, voice.sid), seq)
        seqs.append(seq)
        assert wired_store.commit_pending  # answered only once the group commits
        return await until_committed(wired_store)

    async def main() -> tuple[list[BaseException | None], int]:
        before = wire_proxy.counts()
        told = await asyncio.gather(one(), one(), one())
        return told, spent(wire_proxy, before)

    told, trips = on_loop(wired_store, main)
    assert told == [None, None, None]
    assert trips == 2  # BEGIN, lock and opening; the rows and COMMIT
    first = min(seqs)
    assert sorted(seqs) == [first, first + 1, first + 2]  # each write its own change
    assert wired_store.workspace_change_seq(ws.sid) == first + 2
    assert len(wired_store.tasks.find(ws.sid)) == 3


def ok_refused_ok(
    wired_store: Store, ws: Workspace, voice: TaskChannel, inside: Callable[[], None]
) -> list[int]:
    """Three writes prepared together, each adding a task and then calling `inside`; the
    second is then refused. Every write is told its group committed; returns the change
    numbers of the two kept."""
    kept: list[int] = []

    async def one(fail: bool) -> BaseException | None:
        await wired_store.prepare_write(ws.sid)
        try:
            with wired_store.write_workspace(ws.sid) as (seq, _):
                wired_store.tasks.insert(pending_task(ws, voice.sid), seq)
                inside()
                if fail:
                    raise RuntimeError("this write is refused")
            kept.append(seq)
        except RuntimeError:
            pass
        return await until_committed(wired_store)

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(one(False), one(True), one(False))

    assert on_loop(wired_store, main) == [None, None, None]
    return kept


def test_a_failed_write_rolls_back_alone_and_the_group_commits_the_rest(wired_store: Store) -> None:
    ws, voice = workspace(wired_store)
    kept = ok_refused_ok(wired_store, ws, voice, lambda: None)
    assert len(wired_store.tasks.find(ws.sid)) == 2
    # The refused write's change number went back: the next write takes it, no gap.
    assert sorted(kept) == [kept[0], kept[0] + 1]
    assert wired_store.workspace_change_seq(ws.sid) == max(kept)


def test_a_write_refused_before_its_end_sends_the_database_nothing(
    wire_proxy: DbProxy, wired_store: Store
) -> None:
    """The engine refuses most writes while it works them out: what such a write changed
    is held to its end, so it sends nothing, not even a savepoint to roll back to."""
    ws, voice = workspace(wired_store)

    async def group(write: Callable[[int], None]) -> int:
        await until_committed(wired_store)
        before = wire_proxy.counts()
        await wired_store.prepare_write(ws.sid)
        try:
            with wired_store.write_workspace(ws.sid) as (seq, _):
                write(seq)
        except RuntimeError:
            pass
        assert await until_committed(wired_store) is None
        return (wire_proxy.counts() - before).statements

    def nothing(seq: int) -> None:
        pass

    def refused(seq: int) -> None:
        wired_store.tasks.insert(pending_task(ws, voice.sid), seq)
        wired_store.events.insert([])
        raise RuntimeError("refused")

    async def main() -> tuple[int, int]:
        return await group(nothing), await group(refused)

    empty, failed = on_loop(wired_store, main)
    assert failed == empty
    assert wired_store.tasks.find(ws.sid) == []


def test_a_write_that_read_its_own_rows_and_failed_rolls_back_alone(wired_store: Store) -> None:
    """A read in the middle of a write sends what the write held first (the read must see
    it), behind a savepoint: when the write then fails, only it is undone."""
    ws, voice = workspace(wired_store)
    seen: list[int] = []
    ok_refused_ok(wired_store, ws, voice, lambda: seen.append(len(wired_store.tasks.find(ws.sid))))
    assert seen == [1, 2, 2]  # each read saw its own write; the refused one was undone
    assert len(wired_store.tasks.find(ws.sid)) == 2


def test_a_failed_commit_keeps_nothing_and_tells_every_waiter(wired_store: Store) -> None:
    """A statement sent without waiting (a duplicate row) is refused at the COMMIT, or at
    a later statement: every write of the group is refused or told, and none is kept."""
    ws, voice = workspace(wired_store)
    task = pending_task(ws, voice.sid)

    async def one(duplicate: bool) -> BaseException | None:
        await wired_store.prepare_write(ws.sid)
        try:
            with wired_store.write_workspace(ws.sid) as (seq, _):
                wired_store.tasks.insert(task if duplicate else pending_task(ws, voice.sid), seq)
        except INTEGRITY_ERRORS as refused:  # when the refusal came back before its end
            return refused
        return await until_committed(wired_store)

    async def main() -> list[BaseException | None]:
        await wired_store.prepare_write(ws.sid)
        with wired_store.write_workspace(ws.sid) as (seq, _):
            wired_store.tasks.insert(task, seq)
        await until_committed(wired_store)
        return await asyncio.gather(one(False), one(True))

    told = on_loop(wired_store, main)
    assert all(failure is not None for failure in told)
    assert [t.sid for t in wired_store.tasks.find(ws.sid)] == [task.sid]
    with wired_store.write(ws.sid) as seq:  # the connection is usable again
        wired_store.tasks.insert(pending_task(ws, voice.sid), seq)
    assert len(wired_store.tasks.find(ws.sid)) == 2


def test_a_committed_group_tells_its_waiters_one_per_turn_of_the_loop(
    wired_store: Store,
) -> None:
    """Told together, a group's answers would all run in one turn and hold a request that
    arrives meanwhile behind every one; told one a turn, the loop reads between them."""
    ws, voice = workspace(wired_store)
    waiters = 6

    async def main() -> list[int]:
        await wired_store.prepare_write(ws.sid)
        with wired_store.write_workspace(ws.sid) as (seq, _):
            wired_store.tasks.insert(pending_task(ws, voice.sid), seq)
        told: list[BaseException | None] = []
        for _ in range(waiters):
            wired_store.after_commit(told.append)
        seen, deadline = [], time.monotonic() + 10
        while len(told) < waiters and time.monotonic() < deadline:
            await asyncio.sleep(0)  # one turn of the loop
            seen.append(len(told))
        assert told == [None] * waiters
        return seen

    seen = on_loop(wired_store, main)
    assert seen[-1] == waiters
    assert max(after - before for before, after in itertools.pairwise(seen)) == 1


def test_reads_elsewhere_do_not_wait_and_other_threads_writes_wait_for_the_group(
    wired_store: Store,
) -> None:
    ws, voice = workspace(wired_store)
    seen: list[int] = []
    other_read, other_wrote = threading.Event(), threading.Event()

    def other() -> None:
        seen.append(len(wired_store.tasks.find(ws.sid)))  # at once, what is committed
        other_read.set()
        with wired_store.write(ws.sid) as seq:
            wired_store.tasks.insert(pending_task(ws, voice.sid), seq)
        other_wrote.set()

    async def main() -> BaseException | None:
        await wired_store.prepare_write(ws.sid)
        with wired_store.write_workspace(ws.sid) as (seq, _):
            wired_store.tasks.insert(pending_task(ws, voice.sid), seq)
        thread = threading.Thread(target=other)
        thread.start()
        # The loop, busy here, holds the group open: the other thread's read answers, its
        # write waits for the group's COMMIT.
        assert other_read.wait(10) and seen == [0]
        thread.join(0.3)
        assert not other_wrote.is_set()
        told = await until_committed(wired_store)
        await asyncio.get_running_loop().run_in_executor(None, thread.join, 10)
        return told

    assert on_loop(wired_store, main) is None
    assert other_wrote.is_set()
    assert len(wired_store.tasks.find(ws.sid)) == 2


def test_a_write_to_another_workspace_commits_the_open_group_first(wired_store: Store) -> None:
    """A write the loop did not prepare (another workspace's, or a tick's batch) does not
    join the open group: the group commits, then the write runs on its own."""
    ws, voice = workspace(wired_store)
    other, other_voice = workspace(wired_store)

    async def main() -> tuple[BaseException | None, bool]:
        await wired_store.prepare_write(ws.sid)
        with wired_store.write_workspace(ws.sid) as (seq, _):
            wired_store.tasks.insert(pending_task(ws, voice.sid), seq)
        with wired_store.write(other.sid) as seq:
            wired_store.tasks.insert(pending_task(other, other_voice.sid), seq)
        pending = wired_store.commit_pending
        return await until_committed(wired_store), pending

    told, pending = on_loop(wired_store, main)
    assert told is None and not pending
    assert len(wired_store.tasks.find(ws.sid)) == 1
    assert len(wired_store.tasks.find(other.sid)) == 1


def test_the_next_group_opens_with_the_commit_of_the_one_before(
    wire_proxy: DbProxy, wired_store: Store
) -> None:
    """Writes to another workspace wait for the connection while a group is open; its
    COMMIT carries their group's opening, so two groups cost three round trips, not four."""
    ws, voice = workspace(wired_store)
    other, other_voice = workspace(wired_store)

    async def one(target: Workspace, channel_sid: str) -> BaseException | None:
        await wired_store.prepare_write(target.sid)
        with wired_store.write_workspace(target.sid) as (seq, found):
            assert found is not None and found.sid == target.sid
            wired_store.tasks.insert(pending_task(target, channel_sid), seq)
        return await until_committed(wired_store)

    async def main() -> tuple[list[BaseException | None], int]:
        before = wire_proxy.counts()
        told = await asyncio.gather(one(ws, voice.sid), one(other, other_voice.sid))
        return told, spent(wire_proxy, before)

    told, trips = on_loop(wired_store, main)
    assert told == [None, None]
    assert trips == 3
    assert len(wired_store.tasks.find(ws.sid)) == 1
    assert len(wired_store.tasks.find(other.sid)) == 1
