"""The Store contract (switchboard/storage/store.py), run against SQLite and PostgreSQL alike.

PostgreSQL runs on every development and CI machine (DESIGN.md, Tests): when it cannot be
reached these tests fail with a message saying so; they never skip.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from switchboard.models import (
    Account,
    Activity,
    ApiKey,
    Prefix,
    ReservationStatus,
    TaskOrder,
    TaskStatus,
    Workspace,
    new_sid,
)
from switchboard.storage import Store
from switchboard.storage.keyset import after_sql
from tests.support import ACCOUNT_SID, OTHER_ACCOUNT_SID, POSTGRES_URL
from tests.support.rows import (
    INTEGRITY_ERRORS,
    T0,
    activity,
    add_workspace,
    channel,
    pending_reservation,
    pending_task,
    queue,
    worker,
    worker_channel,
)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = Store.open(f"sqlite:///{tmp_path / 'contract.db'}")
    else:
        schema = request.getfixturevalue("pg_schema")
        try:
            opened = Store.open(POSTGRES_URL, schema=schema)
        except psycopg.OperationalError as error:
            pytest.fail(f"PostgreSQL must be running at {POSTGRES_URL}: {error}")
    yield opened
    opened.close()


# -- building rows ----------------------------------------------------------------------------


def populate(store: Store, ws: Workspace) -> dict[str, Any]:
    """One of every workspace-scoped row, in one write."""
    available = activity(ws, "Available", True)
    voice = channel(ws, "voice")
    sales = queue(ws, "Sales", reservation=available.sid, assignment=ws.default_activity_sid)
    alice = worker(ws, "alice", available.sid, '{"skills": ["en"]}')
    with store.write(ws.sid) as seq:
        store.insert_activity(available, seq)
        store.insert_task_channel(voice, seq)
        store.insert_task_queue(sales, seq)
        store.insert_worker(alice, seq)
        store.insert_worker_channels([worker_channel(alice, voice)], seq)
    return {"activity": available, "channel": voice, "queue": sales, "worker": alice}


def after_all(store: Store, ws: Workspace) -> dict[str, list[Any]]:
    """Everything of the workspace the change feeds report since the beginning."""
    return {
        "activities": store.activity_changes(ws.sid, -1),
        "queues": store.task_queue_changes(ws.sid, -1),
        "workers": store.worker_changes(ws.sid, -1),
        "worker_channels": store.worker_channel_changes(ws.sid, -1),
        "tombstones": store.tombstones_since(ws.sid, -1),
        "channels": store.list_task_channels(ws.sid),
    }


# -- accounts, keys, meta ---------------------------------------------------------------------


def test_accounts_and_api_keys_round_trip(store: Store) -> None:
    assert store.get_account(ACCOUNT_SID) is None
    first = Account(ACCOUNT_SID, "token-1", "Main", T0 + 1)
    second = Account(OTHER_ACCOUNT_SID, "token-2", "Other", T0)
    store.insert_account(first)
    store.insert_account(second)
    assert store.get_account(ACCOUNT_SID) == first
    assert store.list_accounts() == [second, first]
    store.set_auth_token(ACCOUNT_SID, "token-3")
    assert store.get_account(ACCOUNT_SID) == replace(first, auth_token="token-3")

    key = ApiKey(new_sid(Prefix.API_KEY), ACCOUNT_SID, "hash", "ci", T0)
    store.insert_api_key(key)
    assert store.get_api_key(key.sid) == key
    assert store.get_api_key(new_sid(Prefix.API_KEY)) is None


def test_an_api_key_needs_an_existing_account(store: Store) -> None:
    with pytest.raises(INTEGRITY_ERRORS):
        store.insert_api_key(ApiKey(new_sid(Prefix.API_KEY), ACCOUNT_SID, "hash", "ci", T0))


def test_meta_keeps_the_first_value(store: Store) -> None:
    assert store.get_meta("secret") is None
    assert store.set_meta_once("secret", "one") == "one"
    assert store.set_meta_once("secret", "two") == "one"
    assert store.get_meta("secret") == "one"


# -- workspaces -------------------------------------------------------------------------------


def test_workspace_get_is_filtered_by_account(store: Store) -> None:
    ws = add_workspace(store)
    found = store.get_workspace(ws.sid)
    assert found == replace(ws, default_activity_name="Offline", timeout_activity_name="Offline")
    assert store.get_workspace(ws.sid, ACCOUNT_SID) == found
    assert store.get_workspace(ws.sid, OTHER_ACCOUNT_SID) is None
    assert store.get_workspace(new_sid(Prefix.WORKSPACE)) is None
    assert store.workspace_exists(ws.sid, ACCOUNT_SID)
    assert not store.workspace_exists(ws.sid, OTHER_ACCOUNT_SID)
    assert store.all_workspace_sids() == [ws.sid]


def test_workspace_update_changes_every_field(store: Store) -> None:
    ws = add_workspace(store)
    busy = activity(ws, "Busy")
    changed = replace(
        ws,
        friendly_name="Renamed",
        event_callback_url="https://example.com/events",
        events_filter="task.created",
        multi_task_enabled=False,
        timeout_activity_sid=busy.sid,
        prioritize_queue_order=TaskOrder.LIFO,
        date_updated=T0 + 5000,
    )
    with store.write(ws.sid) as seq:
        store.insert_activity(busy, seq)
        store.update_workspace(changed)
    assert store.get_workspace(ws.sid) == replace(
        changed, default_activity_name="Offline", timeout_activity_name="Busy"
    )


def test_list_workspaces_pages_by_keyset(store: Store) -> None:
    # Equal creation times make the SID decide, so the resume key needs both columns.
    mine = [add_workspace(store, name=f"ws{i}", created=T0 + (i // 3)) for i in range(7)]
    add_workspace(store, OTHER_ACCOUNT_SID, name="ws0")
    for order in (
        (("date_created", False), ("sid", False)),
        (("date_created", True), ("sid", True)),
    ):
        full = store.list_workspaces(
            ACCOUNT_SID, friendly_name=None, order=order, after=None, limit=100
        )
        assert sorted(w.sid for w in full) == sorted(w.sid for w in mine)
        paged: list[Workspace] = []
        after: Sequence[Any] | None = None
        while page := store.list_workspaces(
            ACCOUNT_SID, friendly_name=None, order=order, after=after, limit=3
        ):
            paged += page
            after = (page[-1].date_created, page[-1].sid)
        assert paged == full
    named = store.list_workspaces(
        ACCOUNT_SID, friendly_name="ws0", order=(("sid", False),), after=None, limit=10
    )
    assert [w.sid for w in named] == [mine[0].sid]


def test_delete_workspace_removes_everything_it_owns(store: Store) -> None:
    doomed, kept = add_workspace(store), add_workspace(store)
    populate(store, doomed)
    rows = populate(store, kept)
    with store.write(doomed.sid) as seq:
        store.add_tombstone(doomed.sid, seq, "worker", new_sid(Prefix.WORKER))
    before = after_all(store, kept)

    with store.write(doomed.sid):
        store.delete_workspace(doomed.sid)

    assert store.get_workspace(doomed.sid) is None
    assert store.workspace_change_seq(doomed.sid) is None
    assert store.all_workspace_sids() == [kept.sid]
    assert all(not found for found in after_all(store, doomed).values())
    assert store.list_activities(doomed.sid) == []
    assert store.count_workers(doomed.sid) == 0
    assert after_all(store, kept) == before
    assert store.get_worker_channel(kept.sid, rows["worker"].sid, "voice") is not None


# -- activities -------------------------------------------------------------------------------


def test_activities_round_trip(store: Store) -> None:
    ws = add_workspace(store)
    busy, ready = activity(ws, "Busy", created=T0 + 1), activity(ws, "Ready", True, T0 + 2)
    with store.write(ws.sid) as seq:
        store.insert_activity(busy, seq)
        store.insert_activity(ready, seq)
    assert store.get_activity(ws.sid, busy.sid) == busy
    assert store.get_activity(new_sid(Prefix.WORKSPACE), busy.sid) is None
    names = [a.friendly_name for a in store.list_activities(ws.sid)]
    assert names == ["Offline", "Busy", "Ready"]
    assert store.list_activities(ws.sid, available=True) == [ready]
    assert store.list_activities(ws.sid, friendly_name="Busy") == [busy]
    renamed = replace(busy, friendly_name="Away", date_updated=T0 + 9)
    with store.write(ws.sid) as seq:
        store.update_activity(renamed, seq)
    assert store.get_activity(ws.sid, busy.sid) == renamed
    with store.write(ws.sid):
        store.delete_activity(ws.sid, busy.sid)
    assert store.get_activity(ws.sid, busy.sid) is None


def test_activity_uses_names_what_refers_to_it(store: Store) -> None:
    ws = add_workspace(store)
    rows = populate(store, ws)
    assert store.activity_uses(ws.sid, ws.default_activity_sid or "") == [
        "workspace",
        "task_queue",
    ]
    assert store.activity_uses(ws.sid, rows["activity"].sid) == ["worker", "task_queue"]
    spare = activity(ws, "Spare")
    with store.write(ws.sid) as seq:
        store.insert_activity(spare, seq)
    assert store.activity_uses(ws.sid, spare.sid) == []


# -- task channels ----------------------------------------------------------------------------


def test_task_channels_by_sid_and_by_unique_name(store: Store) -> None:
    ws = add_workspace(store)
    voice, sms = channel(ws, "voice"), channel(ws, "sms")
    with store.write(ws.sid) as seq:
        store.insert_task_channel(voice, seq)
        store.insert_task_channel(sms, seq)
    assert store.get_task_channel(ws.sid, voice.sid) == voice
    assert store.get_task_channel(ws.sid, "sms") == sms
    assert store.get_task_channel(ws.sid, "video") is None
    assert store.get_task_channel(add_workspace(store).sid, voice.sid) is None
    assert {c.sid for c in store.list_task_channels(ws.sid)} == {voice.sid, sms.sid}
    changed = replace(voice, friendly_name="Phone", channel_optimized_routing=True)
    with store.write(ws.sid) as seq:
        store.update_task_channel(changed, seq)
    assert store.get_task_channel(ws.sid, "voice") == changed


def test_task_channel_unique_names_are_enforced(store: Store) -> None:
    ws = add_workspace(store)
    with store.write(ws.sid) as seq:
        store.insert_task_channel(channel(ws, "voice"), seq)
    with pytest.raises(INTEGRITY_ERRORS), store.write(ws.sid) as seq:
        store.insert_task_channel(channel(ws, "voice"), seq)


def test_deleting_a_task_channel_removes_its_worker_channels(store: Store) -> None:
    ws = add_workspace(store)
    rows = populate(store, ws)
    with store.write(ws.sid):
        store.delete_task_channel(ws.sid, rows["channel"].sid)
    assert store.get_task_channel(ws.sid, "voice") is None
    assert store.list_worker_channels(ws.sid, rows["worker"].sid) == []


# -- task queues ------------------------------------------------------------------------------


def test_task_queues_carry_their_activity_names(store: Store) -> None:
    ws = add_workspace(store)
    rows = populate(store, ws)
    sales = store.get_task_queue(ws.sid, rows["queue"].sid)
    assert sales == replace(
        rows["queue"], reservation_activity_name="Available", assignment_activity_name="Offline"
    )
    bare = queue(ws, "Bare")
    with store.write(ws.sid) as seq:
        store.insert_task_queue(bare, seq)
    assert store.get_task_queue(ws.sid, bare.sid) == bare
    assert [q.sid for q in store.list_task_queues(ws.sid, friendly_name="Bare")] == [bare.sid]
    assert [q.sid for q in store.list_task_queues(ws.sid, sids=[bare.sid])] == [bare.sid]
    assert store.list_task_queues(ws.sid, sids=[]) == []
    changed = replace(bare, target_workers="skills HAS 'en'", task_order=TaskOrder.LIFO)
    with store.write(ws.sid) as seq:
        store.update_task_queue(changed, seq)
    assert store.get_task_queue(ws.sid, bare.sid) == changed
    with store.write(ws.sid):
        store.delete_task_queue(ws.sid, bare.sid)
    assert store.get_task_queue(ws.sid, bare.sid) is None


# -- workers ----------------------------------------------------------------------------------


def test_workers_carry_their_activity(store: Store) -> None:
    ws = add_workspace(store)
    rows = populate(store, ws)
    found = store.get_worker(ws.sid, rows["worker"].sid)
    assert found == replace(rows["worker"], activity_name="Available", available=True)
    assert store.get_worker(add_workspace(store).sid, rows["worker"].sid) is None
    assert store.count_workers(ws.sid) == 1


def test_worker_names_are_unique_ignoring_case_in_the_database(store: Store) -> None:
    ws = add_workspace(store)
    offline = ws.default_activity_sid or ""
    alice = worker(ws, "alice", offline)
    with store.write(ws.sid) as seq:
        store.insert_worker(alice, seq)
    assert store.worker_name_taken(ws.sid, "ALICE")
    assert not store.worker_name_taken(ws.sid, "Alice", except_sid=alice.sid)
    bob = worker(ws, "bob", offline)
    with pytest.raises(INTEGRITY_ERRORS), store.write(ws.sid) as seq:
        store.insert_worker(bob, seq)
        store.insert_worker(worker(ws, "ALICE", offline), seq)
    assert [w.sid for w in store.worker_changes(ws.sid, -1)] == [alice.sid]
    # Another workspace may use the name; a renamed worker frees it.
    elsewhere = add_workspace(store)
    with store.write(elsewhere.sid) as seq:
        store.insert_worker(worker(elsewhere, "ALICE", offline), seq)
    with store.write(ws.sid) as seq:
        store.update_worker(replace(alice, friendly_name="Carol", version=2), seq)
        store.insert_worker(worker(ws, "ALICE", offline), seq)
    assert store.count_workers(ws.sid) == 2


def test_get_workers_keeps_the_order_given(store: Store) -> None:
    ws = add_workspace(store)
    offline = ws.default_activity_sid or ""
    # More than one chunk of 500 SIDs.
    workers = [worker(ws, f"w{i}", offline) for i in range(510)]
    with store.write(ws.sid) as seq:
        for w in workers:
            store.insert_worker(w, seq)
    wanted = [w.sid for w in reversed(workers)]
    missing = new_sid(Prefix.WORKER)
    found = store.get_workers(ws.sid, [*wanted[:300], missing, *wanted[300:]])
    assert [w.sid for w in found] == wanted


def test_deleting_a_worker_removes_its_channels(store: Store) -> None:
    ws = add_workspace(store)
    rows = populate(store, ws)
    with store.write(ws.sid):
        store.delete_worker(ws.sid, rows["worker"].sid)
    assert store.get_worker(ws.sid, rows["worker"].sid) is None
    assert store.worker_channel_changes(ws.sid, -1) == []


# -- worker channels --------------------------------------------------------------------------


def test_worker_channels_by_sid_and_by_channel_name(store: Store) -> None:
    ws = add_workspace(store)
    voice, sms = channel(ws, "voice"), channel(ws, "sms")
    alice = worker(ws, "alice", ws.default_activity_sid or "")
    on_voice, on_sms = worker_channel(alice, voice, 2), worker_channel(alice, sms, 3)
    with store.write(ws.sid) as seq:
        store.insert_task_channel(voice, seq)
        store.insert_task_channel(sms, seq)
        store.insert_worker(alice, seq)
        store.insert_worker_channels([on_voice, on_sms], seq)
    expected = replace(on_voice, task_channel_unique_name="voice")
    assert store.get_worker_channel(ws.sid, alice.sid, on_voice.sid) == expected
    assert store.get_worker_channel(ws.sid, alice.sid, "voice") == expected
    assert store.get_worker_channel(ws.sid, alice.sid, "video") is None
    assert store.get_worker_channel(ws.sid, new_sid(Prefix.WORKER), "voice") is None
    listed = store.list_worker_channels(ws.sid, alice.sid)
    assert {c.sid for c in listed} == {on_voice.sid, on_sms.sid}
    changed = replace(on_sms, configured_capacity=5, available=False, date_updated=T0 + 1)
    with store.write(ws.sid) as seq:
        store.update_worker_channel(changed, seq)
    assert store.get_worker_channel(ws.sid, alice.sid, "sms") == replace(
        changed, task_channel_unique_name="sms"
    )


def test_a_worker_has_one_channel_per_task_channel(store: Store) -> None:
    ws = add_workspace(store)
    rows = populate(store, ws)
    with pytest.raises(INTEGRITY_ERRORS), store.write(ws.sid) as seq:
        store.insert_worker_channels([worker_channel(rows["worker"], rows["channel"])], seq)


# -- change numbers and change feeds ----------------------------------------------------------


def test_write_yields_a_rising_change_number(store: Store) -> None:
    ws, other = add_workspace(store), add_workspace(store)
    seen = []
    for _ in range(4):
        with store.write(ws.sid) as seq:
            seen.append(seq)
        assert store.workspace_change_seq(ws.sid) == seq
    assert seen == sorted(set(seen)) and seen[0] > 1
    # Each workspace counts its own changes.
    assert store.workspace_change_seq(other.sid) == 1


def test_write_workspace_yields_the_workspace_as_the_write_found_it(store: Store) -> None:
    ws = add_workspace(store)
    with store.write_workspace(ws.sid) as (seq, found):
        assert found is not None and found.friendly_name == "Support"
        store.update_workspace(replace(ws, friendly_name="Renamed"))
    assert seq == store.workspace_change_seq(ws.sid) == 2
    with store.write_workspace(ws.sid) as (_, again):
        assert again is not None and again.friendly_name == "Renamed"
    with store.write_workspace(new_sid(Prefix.WORKSPACE)) as (none_seq, missing):
        assert (none_seq, missing) == (0, None)


def test_change_feeds_return_exactly_what_changed_after_a_number(store: Store) -> None:
    ws, other = add_workspace(store), add_workspace(store)
    rows = populate(store, ws)
    populate(store, other)
    mark = store.workspace_change_seq(ws.sid) or 0
    assert store.activity_changes(ws.sid, mark) == []
    assert store.worker_changes(ws.sid, mark) == []

    renamed = replace(rows["activity"], friendly_name="Ready")
    bob = worker(ws, "bob", rows["activity"].sid)
    resized = replace(store.list_worker_channels(ws.sid, rows["worker"].sid)[0], available=False)
    with store.write(ws.sid) as seq:
        store.update_activity(renamed, seq)
        store.update_task_queue(replace(rows["queue"], target_workers="1==2"), seq)
        store.insert_worker(bob, seq)
        store.update_worker_channel(resized, seq)
    with store.write(ws.sid) as later:
        store.delete_worker(ws.sid, rows["worker"].sid)
        store.add_tombstone(ws.sid, later, "worker", rows["worker"].sid)

    assert store.activity_changes(ws.sid, mark) == [renamed]
    assert [q.target_workers for q in store.task_queue_changes(ws.sid, mark)] == ["1==2"]
    assert store.worker_changes(ws.sid, mark) == [
        replace(bob, activity_name="Ready", available=True)
    ]
    assert store.worker_channel_changes(ws.sid, mark) == []  # deleted with its worker
    assert store.tombstones_since(ws.sid, mark) == [("worker", rows["worker"].sid)]
    assert store.tombstones_since(ws.sid, later) == []
    assert store.activity_changes(ws.sid, seq) == []
    assert store.tombstones_since(other.sid, -1) == []


def test_worker_channel_changes_follow_updates(store: Store) -> None:
    ws = add_workspace(store)
    rows = populate(store, ws)
    mark = store.workspace_change_seq(ws.sid) or 0
    current = store.list_worker_channels(ws.sid, rows["worker"].sid)[0]
    with store.write(ws.sid) as seq:
        store.update_worker_channel(replace(current, configured_capacity=4), seq)
    assert [c.configured_capacity for c in store.worker_channel_changes(ws.sid, mark)] == [4]
    assert store.worker_channel_changes(ws.sid, seq) == []


def test_a_write_that_raises_changes_nothing(store: Store) -> None:
    ws = add_workspace(store)
    rows = populate(store, ws)
    seq_before = store.workspace_change_seq(ws.sid)
    before = after_all(store, ws)
    with pytest.raises(RuntimeError), store.write(ws.sid) as seq:
        store.insert_activity(activity(ws, "Ghost"), seq)
        store.update_worker(replace(rows["worker"], friendly_name="Renamed", version=2), seq)
        store.insert_task_channel(channel(ws, "video"), seq)
        store.delete_task_queue(ws.sid, rows["queue"].sid)
        store.add_tombstone(ws.sid, seq, "task_queue", rows["queue"].sid)
        store.update_workspace(replace(ws, friendly_name="Renamed"))
        raise RuntimeError("the engine refused halfway")
    assert store.workspace_change_seq(ws.sid) == seq_before
    assert after_all(store, ws) == before
    unchanged = store.get_workspace(ws.sid, ACCOUNT_SID)
    assert unchanged is not None and unchanged.friendly_name == "Support"


# -- keyset paging ----------------------------------------------------------------------------


def _compare(order: Sequence[tuple[str, bool]], a: Activity, b: Activity) -> int:
    for column, desc in order:
        left, right = getattr(a, column), getattr(b, column)
        if left != right:
            return (-1 if left < right else 1) * (-1 if desc else 1)
    return 0


def _key(order: Sequence[tuple[str, bool]], a: Activity) -> list[Any]:
    # Booleans are stored as 0/1; the resume key must compare with the stored value.
    return [int(v) if isinstance(v, bool) else v for v in (getattr(a, c) for c, _ in order)]


@pytest.mark.parametrize(
    "order",
    [
        (("available", True), ("friendly_name", False), ("date_created", True), ("sid", False)),
        (("date_created", True), ("sid", True)),
        (("friendly_name", False), ("date_created", False), ("sid", True)),
    ],
    ids=["desc-asc-desc-asc", "desc-desc", "asc-asc-desc"],
)
def test_keyset_pages_follow_the_full_order(
    store: Store, order: Sequence[tuple[str, bool]]
) -> None:
    ws = add_workspace(store)
    # Few distinct values per column, so ties reach every column of the key.
    rows = [activity(ws, f"n{i % 3}", i % 2 == 0, T0 + i % 4) for i in range(24)]
    with store.write(ws.sid) as seq:
        for row in rows:
            store.insert_activity(row, seq)
    full = store.list_activities(ws.sid, order=order)
    expected = sorted(store.list_activities(ws.sid), key=functools.cmp_to_key(
        functools.partial(_compare, order)
    ))  # fmt: skip
    assert full == expected
    for size in (1, 2, 5, 7):
        paged: list[Activity] = []
        after: list[Any] | None = None
        while page := store.list_activities(ws.sid, order=order, after=after, limit=size):
            paged += page
            after = _key(order, page[-1])
        assert paged == full, f"page size {size}"


def test_a_resume_key_must_fit_the_order() -> None:
    with pytest.raises(ValueError, match="resume key"):
        after_sql((("date_created", False), ("sid", False)), [T0])


def test_lists_sort_by_record_fields_only(store: Store) -> None:
    """Callers name the record's fields; the store maps them to SQL and refuses anything
    else, so no caller's text reaches a statement."""
    ws = add_workspace(store)
    with store.write(ws.sid) as seq:
        store.insert_activity(activity(ws, "Busy"), seq)
    by_name = store.list_activities(ws.sid, order=(("friendly_name", True), ("sid", False)))
    assert [a.friendly_name for a in by_name] == ["Offline", "Busy"]
    for order in ((("t.date_created", False),), (("date_created; DROP TABLE tasks", False),)):
        with pytest.raises(ValueError, match="cannot be sorted"):
            store.tasks.find(ws.sid, order=order)


# -- held rows --------------------------------------------------------------------------------


def test_held_rows_are_read_back_inside_their_write_and_kept_after_it(store: Store) -> None:
    """Task, reservation and worker writes are held and batched: a read in the same
    transaction sees every change, and the commit keeps the last of each row."""
    ws = add_workspace(store)
    rows = populate(store, ws)
    task = pending_task(ws, rows["channel"].sid)
    reserved = replace(task, assignment_status=TaskStatus.RESERVED, version=2)
    offer = pending_reservation(task, rows["worker"])
    renamed = replace(rows["worker"], friendly_name="Alicia", version=2)
    with store.write(ws.sid) as seq:
        store.tasks.insert(task, seq)
        store.tasks.update(reserved, seq, before=task)
        store.reservations.insert(offer, seq)
        store.reservations.update(replace(offer, version=1), seq)
        store.update_worker(renamed, seq)
        seen = store.tasks.get(ws.sid, task.sid)
        assert seen is not None and seen.assignment_status == TaskStatus.RESERVED
        store.tasks.update(replace(reserved, priority=5, version=3), seq, before=reserved)
        closed = replace(offer, reservation_status=ReservationStatus.ACCEPTED, version=2)
        store.reservations.update(closed, seq)
    kept = store.tasks.get(ws.sid, task.sid)
    assert kept is not None
    assert (kept.assignment_status, kept.priority, kept.version) == (TaskStatus.RESERVED, 5, 3)
    found = store.reservations.get(ws.sid, offer.sid)
    assert found is not None
    assert (found.reservation_status, found.version) == (ReservationStatus.ACCEPTED, 2)
    worker_now = store.get_worker(ws.sid, rows["worker"].sid)
    assert worker_now is not None and worker_now.friendly_name == "Alicia"
    assert [t.sid for t in store.tasks.changes(ws.sid, seq - 1)] == [task.sid]


def test_held_rows_of_a_failed_write_are_dropped(store: Store) -> None:
    """A write that fails before its held rows were flushed leaves no trace of them, in that
    transaction or the next."""
    ws = add_workspace(store)
    rows = populate(store, ws)
    task = pending_task(ws, rows["channel"].sid)
    with pytest.raises(RuntimeError), store.write(ws.sid) as seq:
        store.tasks.insert(task, seq)
        store.update_worker(replace(rows["worker"], friendly_name="Ghost", version=2), seq)
        raise RuntimeError("refused before anything else ran")
    with store.write(ws.sid):
        pass
    assert store.tasks.get(ws.sid, task.sid) is None
    unchanged = store.get_worker(ws.sid, rows["worker"].sid)
    assert unchanged is not None and unchanged.friendly_name == "alice"


def test_many_rows_of_one_write_keep_every_value(store: Store) -> None:
    """A write of many new rows (PostgreSQL streams them with COPY past a few) keeps each
    value as given: text with tabs, newlines, backslashes and non-ASCII, NULLs, integers."""
    ws = add_workspace(store)
    rows = populate(store, ws)
    awkward = '{"note": "tab\\there\\nline \\\\ back", "name": "Zoë \\u2603", "raw": "a\tb\\\\N"}'
    tasks = [
        replace(pending_task(ws, rows["channel"].sid), attributes=awkward, priority=i, reason=None)
        for i in range(40)
    ]
    offers = [pending_reservation(task, rows["worker"]) for task in tasks]
    with store.write(ws.sid) as seq:
        for task, offer in zip(tasks, offers, strict=True):
            store.tasks.insert(task, seq)
            store.reservations.insert(offer, seq)
    for task, offer in zip(tasks, offers, strict=True):
        kept = store.tasks.get(ws.sid, task.sid)
        assert kept is not None and kept.attributes == awkward and kept.priority == task.priority
        assert (kept.reason, kept.routing_target, kept.date_closed) == (None, None, None)
        found = store.reservations.get(ws.sid, offer.sid)
        assert found is not None and found.timeout_deadline == T0 + 120_000
        assert found.instruction is None and found.worker_sid == rows["worker"].sid


def _event_row(ws: Workspace, seq: int, moment: int, task_text: str, worker_text: str) -> tuple:
    """An event as the engine writes it: the table's columns, then the attributes texts."""
    return (
        new_sid(Prefix.EVENT), ws.sid, ws.account_sid, seq, 0, "reservation.created", moment,
        "reservation", "WR" + "0" * 32, None, None, "Reservation created",
        '{"task_attributes":null,"worker_attributes":null,"task_age":"0"}',
        None, None, None, None, None, None, None, task_text, worker_text,
    )  # fmt: skip


def test_events_show_the_attributes_they_were_written_with(store: Store) -> None:
    """Attributes texts are stored once and referred to; each event reads back the texts it
    was written with, also after a write that stored a text was rolled back."""
    ws = add_workspace(store)
    first, second = '{"skill": "billing"}', '{"skill": "sales", "note": "tab\\there"}'
    with pytest.raises(RuntimeError), store.write(ws.sid) as seq:
        store.events.insert([_event_row(ws, seq, T0, first, second)])
        raise RuntimeError("rolled back after its texts were written")
    with store.write(ws.sid) as seq:
        store.events.insert(
            [_event_row(ws, seq, T0, first, second), _event_row(ws, seq, T0 + 1, second, first)]
        )
    with store.write(ws.sid) as seq:
        store.events.insert([_event_row(ws, seq, T0 + 2, first, first)])
    shown = [
        (e.event_data()["task_attributes"], e.event_data()["worker_attributes"])
        for e in store.events.in_order(ws.sid)
    ]
    assert shown == [(first, second), (second, first), (first, first)]
    stored = store.db.fetchall("SELECT attributes FROM event_attributes")
    assert sorted(r[0] for r in stored) == sorted([first, second])


def test_pruning_keeps_the_attributes_of_kept_events(store: Store) -> None:
    ws = add_workspace(store)
    day = 86_400_000
    old, kept = '{"old": true}', '{"kept": true}'
    with store.write(ws.sid) as seq:
        store.events.insert(
            [_event_row(ws, seq, T0, old, old), _event_row(ws, seq, T0 + 40 * day, kept, old)]
        )
    # Events before day 35 go; `old` was last used on day 40, so it stays a day longer.
    assert store.events.prune(T0 + 35 * day, 100) == 1
    assert store.events.prune(T0 + 35 * day, 100) == 0
    (event,) = store.events.in_order(ws.sid)
    assert event.event_data()["worker_attributes"] == old
    store.events.prune(T0 + 42 * day, 100)
    assert store.db.fetchall("SELECT attributes FROM event_attributes") == []


def test_a_large_write_reads_counts_and_fails_as_any_other(store: Store) -> None:
    """`transaction(batch=True)` (a tick's batch; pipelined on PostgreSQL) still answers reads
    and counts at once, and a statement that fails fails the whole write and keeps nothing,
    even when the failure is only learned at the end."""
    ws = add_workspace(store)
    rows = populate(store, ws)
    db = store.db
    with db.transaction(ws.sid, batch=True):
        db.executemany(
            "UPDATE workers SET version = ? WHERE sid = ?", [(5, rows["worker"].sid)] * 20
        )
        changed = db.execute("UPDATE workers SET version = 6 WHERE workspace_sid = ?", (ws.sid,))
        assert changed == 1
        found = db.fetchone("SELECT version FROM workers WHERE sid = ?", (rows["worker"].sid,))
        assert found == (6,)
    tasks = [pending_task(ws, rows["channel"].sid) for _ in range(20)]
    with store.write(ws.sid) as seq:
        store.tasks.insert(tasks[0], seq)
    with pytest.raises(INTEGRITY_ERRORS), db.transaction(ws.sid, batch=True):
        db.execute("UPDATE workers SET version = 7 WHERE workspace_sid = ?", (ws.sid,))
        with store.write(ws.sid) as seq:
            for task in tasks:  # tasks[0] again: refused
                store.tasks.insert(task, seq)
            db.send_held()
        db.executemany("UPDATE workers SET version = ? WHERE sid = ?", [(8, rows["worker"].sid)])
    with pytest.raises(RuntimeError), db.transaction(ws.sid, batch=True):
        db.executemany("UPDATE workers SET version = ? WHERE sid = ?", [(9, rows["worker"].sid)])
        raise RuntimeError("the engine gave up half-way")
    assert not db.pipelined
    assert store.tasks.get(ws.sid, tasks[1].sid) is None
    kept = store.get_worker(ws.sid, rows["worker"].sid)
    assert kept is not None and kept.version == 6
    with store.write(ws.sid) as seq:  # the connection is usable again
        store.tasks.insert(tasks[1], seq)
    assert store.tasks.get(ws.sid, tasks[1].sid) is not None


def test_writes_to_two_workspaces_never_wait_for_each_others_texts(pg_schema: str) -> None:
    """PostgreSQL runs writes to different workspaces at once. Each keeps its own attributes
    rows, so one write storing the same new texts as another, in the other order, neither
    waits for it nor deadlocks with it."""
    first, second = (
        Store.open(POSTGRES_URL, schema=pg_schema),
        Store.open(POSTGRES_URL, schema=pg_schema),
    )
    try:
        one, two = add_workspace(first), add_workspace(first, name="Sales")
        texts = ['{"shared": 1}', '{"shared": 2}']
        written = threading.Event()
        other_done: list[bool] = []

        def other_workspace() -> None:
            written.wait(5)
            with second.write(two.sid) as seq:
                second.events.insert([_event_row(two, seq, T0, texts[1], texts[0])])
            other_done.append(True)

        thread = threading.Thread(target=other_workspace)
        thread.start()
        with first.write(one.sid) as seq:
            first.events.insert([_event_row(one, seq, T0, texts[0], texts[1])])
            written.set()
            thread.join(5)  # still inside this write: the other must not need it to end
            assert other_done == [True]
        for store, ws in ((first, one), (second, two)):
            (event,) = store.events.in_order(ws.sid)
            assert {event.event_data()["task_attributes"]} <= set(texts)
    finally:
        first.close()
        second.close()
