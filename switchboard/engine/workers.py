"""Worker operations: create (with one channel per task channel), update, delete, and the
worker list, which filters and orders the routing index's workers in memory."""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any

from switchboard.engine.core import EngineCore, check_friendly_name, version_matches
from switchboard.engine.dispatch import Dispatcher
from switchboard.engine.event_data import worker_data
from switchboard.engine.index import WorkerEntry, WorkspaceIndex
from switchboard.engine.tx import Tx
from switchboard.engine.worker_channels import new_worker_channels
from switchboard.errors import (
    Conflict,
    InvalidParameter,
    NotFound,
    PreconditionFailed,
    not_found,
)
from switchboard.events import EventType
from switchboard.expressions import ExpressionError, compile_expression
from switchboard.models import (
    Activity,
    Prefix,
    ReservationStatus,
    Worker,
    Workspace,
    is_sid,
    new_sid,
)

# (worker field, descending?) pairs: date_created, date_updated, date_status_changed,
# friendly_name, and always `sid` last, so keys are unique and keyset pages never skip or
# repeat a worker.
Order = Sequence[tuple[str, bool]]
SortKey = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class WorkerFilter:
    """The ListWorker filters; None means "not filtered on"."""

    activity_name: str | None = None
    activity_sid: str | None = None
    available: bool | None = None
    friendly_name: str | None = None
    target_workers_expression: str | None = None
    task_queue_name: str | None = None
    task_queue_sid: str | None = None


@dataclass(frozen=True, slots=True)
class WorkerSelection:
    """The workers a list's filters selected, ready to be paged."""

    index: WorkspaceIndex
    workers: list[Worker]

    def page(self, order: Order, after: Sequence[Any] | None, limit: int) -> list[Worker]:
        """One keyset page, each worker with its current activity name and availability
        (sorting first, so only the page's workers pay for that)."""
        return [self.index.current(w) for w in page_workers(self.workers, order, after, limit)]


class Workers:
    """CreateWorker, UpdateWorker, DeleteWorker, and the worker list's selection."""

    def __init__(self, core: EngineCore, dispatcher: Dispatcher) -> None:
        self.core = core
        self.store = core.store
        self.dispatcher = dispatcher

    def _worker(self, workspace_sid: str, sid: str) -> Worker:
        worker = self.store.get_worker(workspace_sid, sid) if is_sid(sid, Prefix.WORKER) else None
        if worker is None:
            raise not_found(f"/Workspaces/{workspace_sid}/Workers/{sid}")
        return worker

    def _worker_activity(self, workspace_sid: str, sid: str) -> Activity:
        activity = self.store.get_activity(workspace_sid, sid)
        if activity is None:
            raise InvalidParameter(
                f"ActivitySid {sid} is not an activity of workspace {workspace_sid}"
            )
        return activity

    def _check_worker_name(self, workspace_sid: str, name: str, except_sid: str = "") -> None:
        """1 to 64 characters, unique in the workspace without regard to case."""
        check_friendly_name(name)
        if self.store.worker_name_taken(workspace_sid, name, except_sid):
            raise Conflict(
                f"A worker named {name!r} (ignoring case) already exists in workspace"
                f" {workspace_sid}"
            )

    def _check_worker_limit(self, tx: Tx) -> None:
        """The limit is a 400 with code 20001, like the activity limit: Twilio documents no code
        of its own for it, and the request is refused for what it asks, not for a race. The
        routing index, caught up inside the write lock, counts the workers: a COUNT(*) per
        created worker would make creating a workspace's workers quadratic."""
        limit = self.core.limits.max_workers_per_workspace
        workspace_sid = tx.workspace.sid
        if len(tx.index.workers) >= limit:
            raise InvalidParameter(
                f"Workspace {workspace_sid} already has {limit} workers, the most it may have;"
                " delete one first (the limit is set by SWITCHBOARD_MAX_WORKERS)"
            )

    def _default_activity(self, ws: Workspace) -> Activity:
        if ws.default_activity_sid is None:
            raise InvalidParameter("ActivitySid is required: the workspace has no default activity")
        return self._worker_activity(ws.sid, ws.default_activity_sid)

    def create_worker(
        self, workspace_sid: str, *, friendly_name: str, activity_sid: str | None, attributes: str
    ) -> Worker:
        """A new worker at version 0, in the given activity or the workspace's default one,
        with one channel per task channel of the workspace (see `new_worker_channels`)."""
        with self.core.writing(workspace_sid) as tx:
            ws, seq = tx.workspace, tx.seq
            self._check_worker_name(workspace_sid, friendly_name)
            activity = (
                self._default_activity(ws)
                if activity_sid is None
                else self._worker_activity(workspace_sid, activity_sid)
            )
            self._check_worker_limit(tx)
            now = self.core.now()
            worker = Worker(
                new_sid(Prefix.WORKER),
                workspace_sid,
                ws.account_sid,
                friendly_name,
                activity.sid,
                attributes,
                now,
                now,
                now,
                0,
                activity.friendly_name,
                activity.available,
            )
            self.store.insert_worker(worker, seq)
            channels = new_worker_channels(
                worker, self.store.list_task_channels(workspace_sid), now
            )
            self.store.insert_worker_channels(channels, seq)
            tx.dirty = True
            tx.index.put_worker(worker)
            for channel in channels:
                tx.index.put_worker_channel(channel)
            self._emit_worker(tx, EventType.WORKER_CREATED, worker, "created")
            self.dispatcher.fill_worker(tx, worker.sid)
        return worker

    def _emit_worker(self, tx: Tx, event: str, worker: Worker, verb: str, **extra: Any) -> None:
        tx.emit(
            event,
            resource_type="worker",
            resource_sid=worker.sid,
            description=f"Worker {worker.friendly_name} {verb}",
            data={**worker_data(worker, tx.index), **extra},
            worker_sid=worker.sid,
        )

    def update_worker(
        self,
        workspace_sid: str,
        sid: str,
        *,
        friendly_name: str | None = None,
        activity_sid: str | None = None,
        attributes: str | None = None,
        reject_pending_reservations: bool | None = None,
        if_match: str | None = None,
    ) -> Worker:
        """Change the given fields. Only a change bumps the version and date_updated; only a
        change of activity moves date_status_changed. An update that changes nothing returns
        the worker as it is. `RejectPendingReservations=true` needs an ActivitySid whose
        activity is unavailable (false is accepted with anything: it asks for nothing)."""
        with self.core.writing(workspace_sid) as tx:
            worker = self._worker(workspace_sid, sid)
            if not version_matches(if_match, worker.version):
                raise PreconditionFailed(
                    f"If-Match {if_match!r} does not match worker {sid}'s version {worker.version}"
                )
            changes: dict[str, Any] = {}
            if friendly_name is not None and friendly_name != worker.friendly_name:
                self._check_worker_name(workspace_sid, friendly_name, except_sid=sid)
                changes["friendly_name"] = friendly_name
            activity = (
                None if activity_sid is None else self._worker_activity(workspace_sid, activity_sid)
            )
            if reject_pending_reservations and (activity is None or activity.available):
                raise InvalidParameter(
                    "RejectPendingReservations=true is only valid with an ActivitySid whose"
                    " activity is unavailable"
                )
            if activity is not None and activity.sid != worker.activity_sid:
                changes["activity_sid"] = activity.sid
                changes["date_status_changed"] = self.core.now()
            if attributes is not None and attributes != worker.attributes:
                changes["attributes"] = attributes
            if not changes:
                return worker
            old = worker
            worker = replace(
                worker, **changes, date_updated=self.core.now(), version=worker.version + 1
            )
            self.store.update_worker(worker, tx.seq)
            tx.dirty = True
            tx.index.put_worker(worker)
            self._emit_worker_changes(tx, old, worker)
            if reject_pending_reservations:
                self._reject_pending_reservations(tx, sid)
            self.dispatcher.fill_worker(tx, sid)
        return self._worker(workspace_sid, sid)

    def _emit_worker_changes(self, tx: Tx, old: Worker, worker: Worker) -> None:
        if old.activity_sid != worker.activity_sid:
            previous = tx.index.activities.get(old.activity_sid)
            spent = max(tx.now - old.date_status_changed, 0)
            self._emit_worker(
                tx,
                EventType.WORKER_ACTIVITY_UPDATE,
                worker,
                f"updated to {tx.index.current(worker).activity_name} Activity",
                worker_previous_activity_sid=old.activity_sid,
                worker_previous_activity_name=previous.friendly_name if previous else None,
                worker_time_in_previous_activity=str(spent // 1000),
                worker_time_in_previous_activity_ms=str(spent),
            )
        if old.attributes != worker.attributes:
            self._emit_worker(tx, EventType.WORKER_ATTRIBUTES_UPDATE, worker, "attributes updated")

    def _reject_pending_reservations(self, tx: Tx, worker_sid: str) -> None:
        """RejectPendingReservations: each pending offer is rejected (the worker stays in the
        activity it just chose) and its task is offered on."""
        for reservation in tx.index.work.pending_of(worker_sid):
            task = tx.index.work.tasks[reservation.task_sid].task
            closed = self.dispatcher.close_reservation(tx, reservation, ReservationStatus.REJECTED)
            self.dispatcher.emit_reservation(
                tx, EventType.RESERVATION_REJECTED, closed, task, "rejected"
            )
            self.dispatcher.requeue(tx, task.sid)

    def delete_worker(self, workspace_sid: str, sid: str, *, if_match: str | None = None) -> None:
        """Delete the worker and its channels. Tombstones for both let a routing index that
        catches up by change number forget them."""
        with self.core.writing(workspace_sid) as tx:
            seq = tx.seq
            worker = self._worker(workspace_sid, sid)
            if not version_matches(if_match, worker.version):
                raise PreconditionFailed(
                    f"If-Match {if_match!r} does not match worker {sid}'s version {worker.version}"
                )
            assigned = tx.index.work.open_count(sid) - len(tx.index.work.pending_of(sid))
            if assigned:
                raise InvalidParameter(
                    f"Worker {sid} has {assigned} assigned tasks; complete them before deleting it"
                )
            offered = []
            for reservation in tx.index.work.pending_of(sid):
                task = tx.index.work.tasks[reservation.task_sid].task
                closed = self.dispatcher.close_reservation(
                    tx, reservation, ReservationStatus.CANCELED
                )
                self.dispatcher.emit_reservation(
                    tx, EventType.RESERVATION_CANCELED, closed, task, "canceled"
                )
                offered.append(task.sid)
            channels = self.store.list_worker_channels(workspace_sid, sid)
            self.store.delete_worker(workspace_sid, sid)
            self.store.add_tombstone(workspace_sid, seq, "worker", sid)
            for channel in channels:
                self.store.add_tombstone(workspace_sid, seq, "worker_channel", channel.sid)
            self._emit_worker(tx, EventType.WORKER_DELETED, worker, "deleted")
            tx.dirty = True
            tx.index.forget_worker(sid)
            for task_sid in offered:  # the tasks it was offered are offered on
                self.dispatcher.requeue(tx, task_sid, "canceled")

    # -- the worker list ----------------------------------------------------------------------

    def select_workers(self, workspace_sid: str, where: WorkerFilter) -> WorkerSelection:
        """The workspace's workers that pass every filter, read from the routing index."""
        index = self.core.index(workspace_sid)
        entries = self._queue_candidates(index, where)
        if where.activity_sid is not None:
            entries = [e for e in entries if e.worker.activity_sid == where.activity_sid]
        if where.activity_name is not None:
            named = {
                a.sid for a in index.activities.values() if a.friendly_name == where.activity_name
            }
            entries = [e for e in entries if e.worker.activity_sid in named]
        if where.available is not None:
            available = {a.sid for a in index.activities.values() if a.available}
            wanted = where.available
            entries = [e for e in entries if (e.worker.activity_sid in available) is wanted]
        if where.friendly_name is not None:
            key = where.friendly_name.casefold()
            entries = [e for e in entries if e.worker.friendly_name.casefold() == key]
        if where.target_workers_expression is not None:
            matches = _compile_filter(where.target_workers_expression)
            entries = [e for e in entries if matches(e.doc)]
        return WorkerSelection(index, [e.worker for e in entries])

    def _queue_candidates(self, index: WorkspaceIndex, where: WorkerFilter) -> list[WorkerEntry]:
        """Every worker, or only the members of the queues named by TaskQueueSid/TaskQueueName.

        A queue that does not exist is a 404, as ListTaskQueue's WorkerSid filter answers for a
        worker that does not exist: a filter on a missing resource is a mistake worth reporting,
        not an empty list. Queue names need not be unique: TaskQueueName selects the members of
        every queue of that name.
        """
        sid, name = where.task_queue_sid, where.task_queue_name
        if sid is None and name is None:
            return list(index.workers.values())
        members: set[str] | None = None
        if sid is not None:
            if sid not in index.queues:
                raise not_found(f"/Workspaces/{index.workspace_sid}/TaskQueues/{sid}")
            members = set(index.members(sid))
        if name is not None:
            named = [q for q, e in index.queues.items() if e.queue.friendly_name == name]
            if not named:
                raise NotFound(
                    f"TaskQueueName {name!r} names no task queue of workspace {index.workspace_sid}"
                )
            union = set().union(*(index.members(q) for q in named))
            members = union if members is None else members & union
        return [index.workers[s] for s in members or () if s in index.workers]


def _compile_filter(text: str) -> Callable[[Any], bool]:
    try:
        return compile_expression(text).matches
    except ExpressionError as error:
        raise InvalidParameter(
            f"TargetWorkersExpression is not a valid expression: {error}"
        ) from None


def _name_key(worker: Worker) -> str:
    return worker.friendly_name.casefold()


def _getter(field: str) -> Callable[[Worker], Any]:
    return _name_key if field == "friendly_name" else attrgetter(field)


def sort_key(order: Order) -> Callable[[Worker], SortKey]:
    """A worker's values for `order`, in natural form (the form page tokens carry). Names sort
    without regard to case, as they are unique."""
    fields = [field for field, _ in order]
    if "friendly_name" not in fields:
        getter = attrgetter(*fields)
        return (lambda w: getter(w)) if len(fields) > 1 else (lambda w: (getter(w),))
    getters = [_getter(f) for f in fields]
    return lambda w: tuple(g(w) for g in getters)


def page_workers(
    workers: Sequence[Worker], order: Order, after: Sequence[Any] | None, limit: int
) -> list[Worker]:
    """Up to `limit` workers in `order`, strictly after the key `after`.

    When every column runs the same way, keys compare as they are (in C); only a mixed order
    pays for rewriting its descending columns into ascending ones (`_ascending_keys`).
    """
    if not workers:
        return []
    natural = sort_key(order)
    if after is not None:
        _check_resume(natural(workers[0]), after)
    descending = [desc for _, desc in order]
    if all(descending) or not any(descending):
        desc = descending[0]
        keys: list[SortKey] = list(map(natural, workers))
        resume = None if after is None else tuple(after)
    else:
        desc = False
        keys, resume = _ascending_keys(workers, order, after)
    keyed = list(zip(keys, workers, strict=True))
    if resume is not None:
        keyed = [kw for kw in keyed if (kw[0] < resume if desc else kw[0] > resume)]
    # The index holds workers roughly in creation order; feeding a descending pick from the
    # end keeps its heap from churning on every worker.
    if desc:
        picked = heapq.nlargest(limit, reversed(keyed), key=_first)
    else:
        picked = heapq.nsmallest(limit, keyed, key=_first)
    return [w for _, w in picked]


def _first(pair: tuple[SortKey, Worker]) -> SortKey:
    return pair[0]


def _ascending_keys(
    workers: Sequence[Worker], order: Order, after: Sequence[Any] | None
) -> tuple[list[SortKey], SortKey | None]:
    """Keys (and the resume key) whose ascending order is `order`: a descending number is
    negated; a descending string is replaced by its negated rank among the column's values,
    and a resume value no worker has any more by the half-rank where it would stand."""
    columns: list[list[Any]] = []
    resume: list[Any] = []
    for i, (field, desc) in enumerate(order):
        values = list(map(_getter(field), workers))
        mark = None if after is None else after[i]
        if desc and isinstance(values[0], str):
            distinct = sorted(set(values))
            rank = {value: position for position, value in enumerate(distinct)}
            values = [-rank[v] for v in values]
            if mark is not None:
                position = bisect.bisect_left(distinct, mark)
                found = position < len(distinct) and distinct[position] == mark
                mark = -position if found else 0.5 - position
        elif desc:
            values = [-v for v in values]
            mark = None if mark is None else -mark
        columns.append(values)
        resume.append(mark)
    return list(zip(*columns, strict=True)), (None if after is None else tuple(resume))


def _check_resume(sample: SortKey, after: Sequence[Any]) -> None:
    """A resume key must have the shape of the list's keys. Tokens are signed, so only a token
    of another ordering of the same list could differ, and the list id already refuses those;
    this keeps a mistake there a 400 rather than a TypeError."""
    if len(sample) != len(after) or any(
        type(a) is not type(b) for a, b in zip(sample, after, strict=True)
    ):
        raise InvalidParameter("PageToken does not belong to this ordering of the list")
