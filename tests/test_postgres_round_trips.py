"""A PostgreSQL write waits for the database as seldom as it can: each wait is a round trip
during which the server's event loop waits too. Counted on the wire by the benchmark's proxy
(bench/db_proxy.py), so what is asserted is what the database sees."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.db_proxy import Counts, DbProxy, upstream_of
from switchboard.engine.core import EngineCore
from switchboard.storage import Store
from switchboard.timers import ManualClock
from tests.support import POSTGRES_URL, START_MS
from tests.test_store_contract import INTEGRITY_ERRORS, _task, add_workspace, channel


@pytest.fixture(scope="module")
def proxy() -> Iterator[DbProxy]:
    with DbProxy(*upstream_of(POSTGRES_URL), 0.0) as running:
        yield running


@pytest.fixture
def store(proxy: DbProxy, pg_schema: str) -> Iterator[Store]:
    opened = Store.open(proxy.url(POSTGRES_URL), schema=pg_schema)
    yield opened
    opened.close()


def spent(proxy: DbProxy, before: Counts) -> int:
    return (proxy.counts() - before).round_trips


def test_a_write_costs_its_opening_and_its_tail(proxy: DbProxy, store: Store) -> None:
    """BEGIN, the lock, the change number and the workspace in one round trip; the held
    rows, the events and COMMIT in another."""
    ws = add_workspace(store)
    voice = channel(ws, "voice")
    with store.write(ws.sid) as seq:
        store.insert_task_channel(voice, seq)
    before = proxy.counts()
    with store.write_workspace(ws.sid) as (seq, found):
        assert found is not None
        for _ in range(3):
            store.insert_task(_task(ws, voice.sid), seq)
    assert spent(proxy, before) == 2
    assert len(store.list_tasks(ws.sid)) == 3


def test_a_refused_statement_fails_where_it_runs(proxy: DbProxy, store: Store) -> None:
    """A statement that may be refused (a duplicate name) waits for its answer, so the
    refusal reaches the code that ran it, and the write keeps nothing."""
    ws = add_workspace(store)
    with store.write(ws.sid) as seq:
        store.insert_task_channel(channel(ws, "voice"), seq)
    went_on = []
    with pytest.raises(INTEGRITY_ERRORS), store.write(ws.sid) as seq:
        store.insert_task(_task(ws, store.list_task_channels(ws.sid)[0].sid), seq)
        store.insert_task_channel(channel(ws, "voice"), seq)
        went_on.append(True)
    assert went_on == []
    assert store.list_tasks(ws.sid) == []
    with store.write(ws.sid) as seq:  # the connection is usable again
        store.insert_task_channel(channel(ws, "chat"), seq)
    assert len(store.list_task_channels(ws.sid)) == 2


def test_a_read_inside_a_write_is_one_round_trip(proxy: DbProxy, store: Store) -> None:
    ws = add_workspace(store)
    with store.write(ws.sid):
        before = proxy.counts()
        assert store.get_workspace(ws.sid) is not None
        assert spent(proxy, before) == 1


def test_catching_up_with_another_process_is_one_round_trip(
    proxy: DbProxy, store: Store, pg_schema: str
) -> None:
    """A write whose routing index must first read what another process wrote sends the
    catch-up's reads together: the opening, the catch-up, the tail."""
    ws = add_workspace(store)
    voice = channel(ws, "voice")
    with store.write(ws.sid) as seq:
        store.insert_task_channel(voice, seq)
    core = EngineCore(store, ManualClock(START_MS))
    with core.writing(ws.sid):
        pass
    other = Store.open(POSTGRES_URL, schema=pg_schema)  # another process's writes
    try:
        with other.write(ws.sid) as seq:
            other.insert_task(_task(ws, voice.sid), seq)
    finally:
        other.close()
    before = proxy.counts()
    with core.writing(ws.sid) as tx:
        assert len(tx.index.work.tasks) == 1  # it saw the other process's task
    assert spent(proxy, before) == 3
