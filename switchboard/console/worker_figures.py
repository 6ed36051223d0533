"""The queue board's worker figures, kept up to date rather than counted again.

Per queue, how many workers its target_workers selects (eligible) and how many of those are
in an available activity; per activity, how many workers are in it. Counting the available
members from scratch intersects every queue's members with the available workers: about
50 ms for 15,000 workers and 500 queues, too long to hold the event loop at each update of a
live board while tasks arrive. So the figures follow the routing index instead:

- when the index's `worker_changes` has not moved, nothing is looked at;
- when it has, the workers put or forgotten since are found by identity (the index makes a
  new entry for each change), and each moves the counts of the queues it left or joined. Its
  membership before the change is read from its previous entry: unchanged attributes keep it
  for a queue whose expression does not read the activity, else the queue's expression is
  evaluated against the previous document;
- a queue whose member set is new (counted for the first time, or its expression changed) is
  counted again by itself (`count`), which the board does in the background;
- a new index (a failed write drops it) or an activity whose availability changed starts
  everything over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from switchboard.engine.index import WorkerEntry, WorkspaceIndex


@dataclass(slots=True)
class _Counted:
    members: set[str]  # the index's member set the count follows (the same object)
    available: int


class WorkerFigures:
    """One workspace's worker figures (see the module docstring)."""

    def __init__(self) -> None:
        self._index: WorkspaceIndex | None = None
        self._changes = -1
        self._free: frozenset[str] = frozenset()  # the available activities
        self._seen: dict[str, WorkerEntry] = {}
        self._available: set[str] = set()
        self._by_activity: dict[str, int] = {}
        self._queues: dict[str, _Counted] = {}

    def follow(self, index: WorkspaceIndex) -> None:
        """Bring the figures up to date with `index`."""
        free = frozenset(sid for sid, a in index.activities.items() if a.available)
        if index is not self._index or free != self._free:
            self._start_over(index, free)
        elif index.worker_changes != self._changes:
            self._apply_changes(index)
        self._changes = index.worker_changes

    def queue(self, index: WorkspaceIndex, queue_sid: str) -> tuple[int, int] | None:
        """(eligible, available) of a queue; None while it is not counted."""
        entry = index.queues.get(queue_sid)
        counted = self._queues.get(queue_sid)
        if entry is None or counted is None or counted.members is not entry.members:
            return None
        return len(counted.members), counted.available

    def uncounted(self, index: WorkspaceIndex) -> list[str]:
        """The queues `queue` has no figures for."""
        return [sid for sid in index.queues if self.queue(index, sid) is None]

    def count(self, index: WorkspaceIndex, queue_sid: str) -> None:
        """Count a queue's available members (its members first, if the index has not yet):
        the one costly step, for one queue. The figures must follow `index` already."""
        if queue_sid in index.queues:
            members = index.members(queue_sid)
            self._queues[queue_sid] = _Counted(members, len(members & self._available))

    def count_known(self, index: WorkspaceIndex, budget_s: float) -> None:
        """Count the uncounted queues whose members the index has already (routing counted
        them): a set intersection each, a fraction of a millisecond, for `budget_s` at most."""
        started, counted = time.perf_counter(), self._queues
        for sid, entry in index.queues.items():
            if entry.members is None:
                continue
            found = counted.get(sid)
            if found is None or found.members is not entry.members:
                self.count(index, sid)
                if time.perf_counter() - started > budget_s:
                    return

    def workers_in(self, activity_sid: str) -> int:
        return self._by_activity.get(activity_sid, 0)

    def _start_over(self, index: WorkspaceIndex, free: frozenset[str]) -> None:
        self._index, self._free = index, free
        self._seen = dict(index.workers)
        self._available = set()
        self._by_activity = {}
        for sid, entry in self._seen.items():
            activity = entry.worker.activity_sid
            self._by_activity[activity] = self._by_activity.get(activity, 0) + 1
            if activity in free:
                self._available.add(sid)
        self._queues = {}

    def _apply_changes(self, index: WorkspaceIndex) -> None:
        seen, workers = self._seen, index.workers
        changed = [(sid, entry) for sid, entry in workers.items() if seen.get(sid) is not entry]
        added = sum(1 for sid, _ in changed if sid not in seen)
        gone = []
        if len(seen) + added != len(workers):
            gone = [sid for sid in seen if sid not in workers]
        # Only counts that still follow the index's member sets are moved; the others are
        # counted again anyway.
        counted = [
            (sid, counted)
            for sid, counted in self._queues.items()
            if (queue := index.queues.get(sid)) is not None and queue.members is counted.members
        ]
        for sid, entry in changed:
            self._move(index, sid, seen.get(sid), entry, counted)
        for sid in gone:
            self._move(index, sid, seen[sid], None, counted)

    def _move(
        self,
        index: WorkspaceIndex,
        sid: str,
        old: WorkerEntry | None,
        new: WorkerEntry | None,
        counted: list[tuple[str, _Counted]],
    ) -> None:
        was = sid in self._available
        now = new is not None and new.worker.activity_sid in self._free
        same_doc = (
            old is not None
            and new is not None
            and old.worker.attributes == new.worker.attributes
            and old.worker.friendly_name == new.worker.friendly_name
        )
        # Only available members count: a worker available neither before nor after moves
        # nothing, nor one whose availability and membership stayed as they were.
        unmoved = same_doc and was == now and not index.activity_queues
        if (was or now) and not unmoved:
            for queue_sid, figures in counted:
                if not was or old is None:
                    before = False
                elif same_doc and queue_sid not in index.activity_queues:
                    before = sid in figures.members
                else:
                    before = index.queues[queue_sid].expression.matches(old.doc)
                after = now and sid in figures.members
                if before != after:
                    figures.available += 1 if after else -1
        if old is not None:
            self._by_activity[old.worker.activity_sid] -= 1
        if new is None:
            del self._seen[sid]
        else:
            self._seen[sid] = new
            activity = new.worker.activity_sid
            self._by_activity[activity] = self._by_activity.get(activity, 0) + 1
        if now:
            self._available.add(sid)
        else:
            self._available.discard(sid)
