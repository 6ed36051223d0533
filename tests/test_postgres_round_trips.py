"""A PostgreSQL write waits for the database as seldom as it can: each wait is a round trip
during which the server's event loop waits too. Counted on the wire by the benchmark's proxy
(bench/db_proxy.py), so what is asserted is what the database sees."""

from __future__ import annotations

import pytest

from bench.db_proxy import DbProxy
from switchboard.engine.core import EngineCore
from switchboard.storage import Store
from switchboard.timers import ManualClock
from tests.support import (
    INTEGRITY_ERRORS,
    POSTGRES_URL,
    START_MS,
    add_workspace,
    channel,
    pending_task,
)
from tests.support.wire import spent


def test_a_write_costs_its_opening_and_its_tail(wire_proxy: DbProxy, wired_store: Store) -> None:
    """BEGIN, the lock, the change number and the workspace in one round trip; the held
    rows, the events and COMMIT in another."""
    ws = add_workspace(wired_store)
    voice = channel(ws, "voice")
    with wired_store.write(ws.sid) as seq:
        wired_store.insert_task_channel(voice, seq)
    before = wire_proxy.counts()
    with wired_store.write_workspace(ws.sid) as (seq, found):
        assert found is not None
        for _ in range(3):
            wired_store.tasks.insert(pending_task(ws, voice.sid), seq)
    assert spent(wire_proxy, before) == 2
    assert len(wired_store.tasks.find(ws.sid)) == 3


def test_a_refused_statement_fails_where_it_runs(wire_proxy: DbProxy, wired_store: Store) -> None:
    """A statement that may be refused (a duplicate name) waits for its answer, so the
    refusal reaches the code that ran it, and the write keeps nothing."""
    ws = add_workspace(wired_store)
    with wired_store.write(ws.sid) as seq:
        wired_store.insert_task_channel(channel(ws, "voice"), seq)
    went_on = []
    with pytest.raises(INTEGRITY_ERRORS), wired_store.write(ws.sid) as seq:
        wired_store.tasks.insert(
            pending_task(ws, wired_store.list_task_channels(ws.sid)[0].sid), seq
        )
        wired_store.insert_task_channel(channel(ws, "voice"), seq)
        went_on.append(True)
    assert went_on == []
    assert wired_store.tasks.find(ws.sid) == []
    with wired_store.write(ws.sid) as seq:  # the connection is usable again
        wired_store.insert_task_channel(channel(ws, "chat"), seq)
    assert len(wired_store.list_task_channels(ws.sid)) == 2


def test_a_read_inside_a_write_is_one_round_trip(wire_proxy: DbProxy, wired_store: Store) -> None:
    ws = add_workspace(wired_store)
    with wired_store.write(ws.sid):
        before = wire_proxy.counts()
        assert wired_store.get_workspace(ws.sid) is not None
        assert spent(wire_proxy, before) == 1


def test_catching_up_with_another_process_is_one_round_trip(
    wire_proxy: DbProxy, wired_store: Store, pg_schema: str
) -> None:
    """A write whose routing index must first read what another process wrote sends the
    catch-up's reads together: the opening, the catch-up, the tail."""
    ws = add_workspace(wired_store)
    voice = channel(ws, "voice")
    with wired_store.write(ws.sid) as seq:
        wired_store.insert_task_channel(voice, seq)
    core = EngineCore(wired_store, ManualClock(START_MS))
    with core.writing(ws.sid):
        pass
    other = Store.open(POSTGRES_URL, schema=pg_schema)  # another process's writes
    try:
        with other.write(ws.sid) as seq:
            other.tasks.insert(pending_task(ws, voice.sid), seq)
    finally:
        other.close()
    before = wire_proxy.counts()
    with core.writing(ws.sid) as tx:
        assert len(tx.index.work.tasks) == 1  # it saw the other process's task
    assert spent(wire_proxy, before) == 3
