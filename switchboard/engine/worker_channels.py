"""WorkerChannel operations: a worker's capacity and availability on one task channel.

Channels are never created through the API: a worker gets one per task channel when it is
created (`new_worker_channels`), and they go when the worker or the task channel goes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from switchboard.engine.core import EngineCore
from switchboard.engine.dispatch import Dispatcher
from switchboard.engine.event_data import worker_data
from switchboard.engine.tx import Tx
from switchboard.errors import not_found
from switchboard.events import EventType
from switchboard.models import Prefix, TaskChannel, Worker, WorkerChannel, new_sid

# TaskRouter does not document the capacity a new worker gets (behaviour.md §10, UNSURE). One
# task at a time per channel is the single-tasking behaviour a new worker would expect, matches
# every WorkerChannel example in the spec (configured_capacity 1), and is what TaskRouter.js's
# tests reset the `default` channel to. Available, so capacity alone governs.
DEFAULT_CAPACITY = 1


def new_worker_channels(
    worker: Worker, channels: Iterable[TaskChannel], now: int
) -> list[WorkerChannel]:
    """One channel per task channel for a new worker: capacity 1, available."""
    return [
        WorkerChannel(
            sid=new_sid(Prefix.WORKER_CHANNEL),
            workspace_sid=worker.workspace_sid,
            account_sid=worker.account_sid,
            worker_sid=worker.sid,
            task_channel_sid=channel.sid,
            configured_capacity=DEFAULT_CAPACITY,
            available=True,
            date_created=now,
            date_updated=now,
            task_channel_unique_name=channel.unique_name,
        )
        for channel in channels
    ]


class WorkerChannels:
    """UpdateWorkerChannel, and the load figures a fetched channel shows."""

    def __init__(self, core: EngineCore, dispatcher: Dispatcher) -> None:
        self.core = core
        self.store = core.store
        self.dispatcher = dispatcher

    def _worker_channel(self, workspace_sid: str, worker_sid: str, sid: str) -> WorkerChannel:
        """By WC SID or by its task channel's unique name; another worker's channel is 404."""
        channel = self.store.get_worker_channel(workspace_sid, worker_sid, sid)
        if channel is None:
            raise not_found(f"/Workspaces/{workspace_sid}/Workers/{worker_sid}/Channels/{sid}")
        return channel

    def update_worker_channel(
        self,
        workspace_sid: str,
        worker_sid: str,
        sid: str,
        *,
        capacity: int | None = None,
        available: bool | None = None,
    ) -> WorkerChannel:
        """Set capacity (0 to 50, checked by the caller) and availability. An update that changes
        nothing writes nothing and returns the channel as it is."""
        with self.core.writing(workspace_sid) as tx:
            channel = self._worker_channel(workspace_sid, worker_sid, sid)
            changes: dict[str, object] = {}
            if capacity is not None and capacity != channel.configured_capacity:
                changes["configured_capacity"] = capacity
            if available is not None and available != channel.available:
                changes["available"] = available
            if not changes:
                return channel
            old = channel
            channel = replace(channel, **changes, date_updated=self.core.now())  # type: ignore[arg-type]
            self.store.update_worker_channel(channel, tx.seq)
            tx.dirty = True
            tx.index.put_worker_channel(channel)
            self._emit_channel_change(tx, old, channel)
            self.dispatcher.fill_worker(tx, worker_sid)
        return self.with_load(channel)

    def _emit_channel_change(self, tx: Tx, old: WorkerChannel, channel: WorkerChannel) -> None:
        entry = tx.index.workers.get(channel.worker_sid)
        if entry is None:
            return
        data = {
            **worker_data(entry.worker, tx.index),
            "task_channel_sid": channel.task_channel_sid,
            "task_channel_unique_name": channel.task_channel_unique_name,
            "worker_channel_available": str(channel.available).lower(),
            "worker_channel_available_capacity": str(channel.configured_capacity),
            "worker_channel_previous_capacity": str(old.configured_capacity),
            "worker_channel_task_count": str(
                tx.index.work.open_count(channel.worker_sid, channel.task_channel_sid)
            ),
        }
        for changed, event in (
            (
                old.configured_capacity != channel.configured_capacity,
                EventType.WORKER_CAPACITY_UPDATE,
            ),
            (old.available != channel.available, EventType.WORKER_CHANNEL_AVAILABILITY_UPDATE),
        ):
            if changed:
                worker = self.dispatcher.count_on_worker(tx, channel.worker_sid)
                if worker is not None:
                    data = {**data, "worker_version": str(worker.version)}
                tx.emit(
                    event,
                    resource_type="worker",
                    resource_sid=channel.worker_sid,
                    description=(
                        f"Worker {entry.worker.friendly_name} channel"
                        f" {channel.task_channel_unique_name} updated"
                    ),
                    data=data,
                    worker_sid=channel.worker_sid,
                    task_channel_sid=channel.task_channel_sid,
                )

    def with_load(self, channel: WorkerChannel) -> WorkerChannel:
        """The channel with its assigned (accepted or wrapping) and open task counts."""
        work = self.core.index(channel.workspace_sid).work
        open_tasks = work.open_count(channel.worker_sid, channel.task_channel_sid)
        pending = sum(
            1
            for r in work.pending_of(channel.worker_sid)
            if r.task_channel_sid == channel.task_channel_sid
        )
        return replace(channel, open_tasks=open_tasks, assigned_tasks=open_tasks - pending)
