"""Group commit (SQLite): writes of one thread share a transaction, each in a savepoint; the
group commits when asked; nothing is answered before its write is committed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from switchboard.metrics import ProcessCounters
from switchboard.middleware import Frontline
from switchboard.storage.sqlite import SQLiteDatabase
from switchboard.storage.store import Store


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SQLiteDatabase]:
    opened = SQLiteDatabase(str(tmp_path / "group.db"))
    opened.execute("CREATE TABLE parents (id INTEGER PRIMARY KEY)")
    opened.execute(
        "CREATE TABLE children (id INTEGER PRIMARY KEY,"
        " parent INTEGER NOT NULL REFERENCES parents (id))"
    )
    opened.execute("INSERT INTO parents (id) VALUES (1)")
    yield opened
    opened.close()


def grouped(db: SQLiteDatabase) -> list[Callable[[], None]]:
    """Enable group commit for this thread; the commits it asks for are collected."""
    asked: list[Callable[[], None]] = []
    db.enable_group_commit(asked.append)
    return asked


def children(db: SQLiteDatabase) -> list[int]:
    return [row[0] for row in db.fetchall("SELECT id FROM children ORDER BY id")]


def test_a_failed_write_rolls_back_alone_and_the_group_commits_the_rest(
    db: SQLiteDatabase,
) -> None:
    asked = grouped(db)
    told: list[BaseException | None] = []
    with db.transaction("ws"):
        db.execute("INSERT INTO children (id, parent) VALUES (10, 1)")
    with pytest.raises(RuntimeError), db.transaction("ws"):
        db.execute("INSERT INTO children (id, parent) VALUES (11, 1)")
        raise RuntimeError("this write is refused")
    with db.transaction("ws"):
        db.execute("INSERT INTO children (id, parent) VALUES (12, 1)")
    assert db.group_open and len(asked) == 1  # one group, one commit asked for
    db.after_commit(told.append)
    assert told == []  # not before the commit
    asked[0]()
    assert told == [None] and not db.group_open
    assert children(db) == [10, 12]


def test_another_threads_write_waits_for_the_open_group(db: SQLiteDatabase) -> None:
    asked = grouped(db)
    with db.transaction("ws"):
        db.execute("INSERT INTO children (id, parent) VALUES (20, 1)")
    seen: list[list[int]] = []

    def other() -> None:
        with db.transaction("ws"):
            db.execute("INSERT INTO children (id, parent) VALUES (21, 1)")
        seen.append(children(db))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(0.2)
    assert thread.is_alive() and seen == []  # blocked while the group is open
    asked[0]()
    thread.join(5)
    assert seen == [[20, 21]]


def test_a_failed_commit_keeps_nothing_and_tells_every_waiter(db: SQLiteDatabase) -> None:
    asked = grouped(db)
    told: list[BaseException | None] = []
    db.execute("PRAGMA defer_foreign_keys = ON")  # the violation surfaces at COMMIT
    with db.transaction("ws"):
        db.execute("INSERT INTO children (id, parent) VALUES (30, 1)")
    with db.transaction("ws"):
        db.execute("INSERT INTO children (id, parent) VALUES (31, 99)")  # no parent 99
    db.after_commit(told.append)
    asked[0]()
    assert len(told) == 1 and told[0] is not None
    assert children(db) == []
    with db.transaction("ws"):  # the connection is usable again
        db.execute("INSERT INTO children (id, parent) VALUES (32, 1)")
    asked[1]()
    assert children(db) == [32]


def test_when_committed_runs_for_kept_writes_only_once_their_group_commits(
    db: SQLiteDatabase,
) -> None:
    """What a write learns it may rely on after its commit (storage remembering what it
    stored): never for a write rolled back to its savepoint, nor for a group that failed."""
    asked = grouped(db)
    ran: list[str] = []
    with db.transaction("ws"):
        db.execute("INSERT INTO children (id, parent) VALUES (40, 1)")
        db.when_committed(lambda: ran.append("kept"))
    with pytest.raises(RuntimeError), db.transaction("ws"):
        db.when_committed(lambda: ran.append("rolled back"))
        raise RuntimeError("this write is refused")
    assert ran == []  # not before the group commits
    asked[0]()
    assert ran == ["kept"]
    db.execute("PRAGMA defer_foreign_keys = ON")
    with db.transaction("ws"):
        db.execute("INSERT INTO children (id, parent) VALUES (41, 99)")  # fails at COMMIT
        db.when_committed(lambda: ran.append("failed group"))
    asked[1]()
    assert ran == ["kept"]
    db.disable_group_commit()
    with db.transaction("ws"):
        db.when_committed(lambda: ran.append("alone"))
        assert ran == ["kept"]
    assert ran == ["kept", "alone"]


def _app(db: SQLiteDatabase, parent: int) -> Starlette:
    """One endpoint that writes a child and answers 200 at once, its commit left to the
    event loop as the server does."""

    async def write(request: Request) -> Response:
        with db.transaction("ws"):
            db.execute("PRAGMA defer_foreign_keys = ON")  # a bad parent fails the COMMIT
            db.execute("INSERT INTO children (parent) VALUES (?)", (parent,))
        return JSONResponse({"written": True, "committed": not db.group_open})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db.enable_group_commit(asyncio.get_running_loop().call_soon)
        yield
        db.disable_group_commit()

    return Starlette(
        routes=[Route("/write", write, methods=["POST"])],
        middleware=[
            Middleware(
                Frontline, store=Store(db), counters=ProcessCounters(), max_body_bytes=1 << 20
            )
        ],
        lifespan=lifespan,
    )


def test_the_answer_waits_for_the_commit(db: SQLiteDatabase) -> None:
    with TestClient(_app(db, parent=1)) as http:
        response = http.post("/write")
    assert response.status_code == 200
    assert response.json() == {"written": True, "committed": False}  # answered after it
    assert len(children(db)) == 1


def test_an_answer_whose_commit_failed_is_a_500(db: SQLiteDatabase) -> None:
    with TestClient(_app(db, parent=99)) as http:
        response = http.post("/write")
    assert response.status_code == 500
    body = response.json()
    assert body["status"] == 500 and "nothing of it was kept" in body["message"]
    assert children(db) == []


def test_senders_wait_for_the_group_before_reading(db: SQLiteDatabase) -> None:
    """The event and assignment-callback senders read rows to send out; they wait for the
    open group's commit first, and learn when it failed."""
    from switchboard.asyncio_bridge import until_committed

    async def scenario() -> list[object]:
        loop = asyncio.get_running_loop()
        db.enable_group_commit(loop.call_soon)
        store = Store(db)
        seen: list[object] = [await until_committed(store)]  # nothing open: at once
        with db.transaction("ws"):
            db.execute("INSERT INTO children (id, parent) VALUES (40, 1)")
        waiting = asyncio.ensure_future(until_committed(store))
        await asyncio.sleep(0)  # the loop runs the scheduled commit
        seen += [await waiting, children(db)]
        with db.transaction("ws"):
            db.execute("PRAGMA defer_foreign_keys = ON")
            db.execute("INSERT INTO children (id, parent) VALUES (41, 99)")
        seen.append(await until_committed(store) is not None)
        db.disable_group_commit()
        return seen

    assert asyncio.run(scenario()) == [None, None, [40], True]


def test_a_waiter_on_another_loop_is_woken_when_the_group_commits() -> None:
    """A group opened by one loop's thread, an answer waiting for it on another loop's (each
    of the test client's requests runs on a loop of its own): the commit wakes the waiting
    loop, asleep with nothing else scheduled."""
    from switchboard.asyncio_bridge import until_committed

    class Pending:
        def __init__(self) -> None:
            self.waiters: list[Callable[[BaseException | None], None]] = []
            self.asked = threading.Event()

        @property
        def commit_pending(self) -> bool:
            return True

        def after_commit(self, callback: Callable[[BaseException | None], None]) -> None:
            self.waiters.append(callback)
            self.asked.set()

    store = Pending()
    outcome: list[object] = []
    loops: list[asyncio.AbstractEventLoop] = []

    async def answer() -> None:
        loops.append(asyncio.get_running_loop())
        outcome.append(await until_committed(store))

    waiting = threading.Thread(target=asyncio.run, args=(answer(),), daemon=True)
    waiting.start()
    assert store.asked.wait(5)
    for tell in store.waiters:  # the committing thread
        tell(None)
    waiting.join(2)
    stuck = waiting.is_alive()
    if stuck:  # wake it, so that the thread ends
        loops[0].call_soon_threadsafe(lambda: None)
        waiting.join(5)
    assert not stuck and outcome == [None]
