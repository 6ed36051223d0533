"""Task channel operations. Every worker has one worker channel per task channel, so creating
a channel gives each existing worker one and deleting it removes them."""

from __future__ import annotations

import re
from dataclasses import replace

from switchboard.engine.core import EngineCore, check_friendly_name
from switchboard.engine.tx import Tx
from switchboard.engine.worker_channels import new_worker_channels
from switchboard.errors import Conflict, InvalidParameter, not_found
from switchboard.events import EventType
from switchboard.models import (
    DEFAULT_CHANNELS,
    MAX_FRIENDLY_NAME,
    Prefix,
    TaskChannel,
    is_sid,
    new_sid,
)

MAX_TASK_CHANNELS = 15  # including the five every workspace starts with (behaviour.md §9)
# Letters, digits, `_`, `$` (TaskRouter's identifier characters) and `-`. Twilio accepts
# hyphens (its own examples use `task-channel`), so we do too; but only a name that is also an
# identifier (`[A-Za-z_$][A-Za-z0-9_$]*`) can be named in a `worker.channel.<name>` key.
_UNIQUE_NAME = re.compile(r"^[A-Za-z0-9_$-]+$")
# Tasks created without a channel go to this one, so it cannot be deleted.
PERMANENT_CHANNEL = "default"


def check_unique_name(name: str) -> str:
    if len(name) > MAX_FRIENDLY_NAME:
        raise InvalidParameter(
            f"UniqueName is {len(name)} characters long; at most {MAX_FRIENDLY_NAME} are allowed"
        )
    if not _UNIQUE_NAME.match(name):
        raise InvalidParameter(
            f"UniqueName {name!r} may hold only letters, digits, '_', '$' and '-'"
        )
    if is_sid(name, Prefix.TASK_CHANNEL):
        # Lookups take a SID or a unique name; a name shaped like a SID would be ambiguous.
        raise InvalidParameter(f"UniqueName {name!r} must not look like a TaskChannel SID")
    return name


class TaskChannels:
    """CreateTaskChannel, UpdateTaskChannel and DeleteTaskChannel."""

    def __init__(self, core: EngineCore) -> None:
        self.core = core
        self.store = core.store

    def _task_channel(self, workspace_sid: str, sid_or_name: str) -> TaskChannel:
        channel = self.store.get_task_channel(workspace_sid, sid_or_name)
        if channel is None:
            raise not_found(f"/Workspaces/{workspace_sid}/TaskChannels/{sid_or_name}")
        return channel

    def create_task_channel(
        self,
        workspace_sid: str,
        *,
        friendly_name: str,
        unique_name: str,
        channel_optimized_routing: bool = False,
    ) -> TaskChannel:
        """A new channel (unique name unique in the workspace, at most 15 channels), with a
        worker channel for every existing worker."""
        check_friendly_name(friendly_name)
        check_unique_name(unique_name)
        with self.core.writing(workspace_sid) as tx:
            ws, seq = tx.workspace, tx.seq
            existing = self.store.get_task_channel(workspace_sid, unique_name)
            if existing is not None:
                raise Conflict(
                    f"A task channel with UniqueName {unique_name!r} already exists"
                    f" ({existing.sid})"
                )
            count = len(self.store.list_task_channels(workspace_sid, limit=MAX_TASK_CHANNELS + 1))
            if count >= MAX_TASK_CHANNELS:
                raise InvalidParameter(
                    f"A workspace has at most {MAX_TASK_CHANNELS} task channels, including the"
                    f" {len(DEFAULT_CHANNELS)} default ones; delete one before creating another"
                )
            now = self.core.now()
            channel = TaskChannel(
                new_sid(Prefix.TASK_CHANNEL),
                workspace_sid,
                ws.account_sid,
                friendly_name,
                unique_name,
                channel_optimized_routing,
                now,
                now,
            )
            self.store.insert_task_channel(channel, seq)
            self._give_workers_channel(channel, seq)
            self._emit_task_channel(tx, EventType.TASK_CHANNEL_CREATED, channel, "created")
        return channel

    def _emit_task_channel(self, tx: Tx, event: str, channel: TaskChannel, verb: str) -> None:
        tx.emit(
            event,
            resource_type="task_channel",
            resource_sid=channel.sid,
            description=f"TaskChannel {channel.unique_name} {verb}",
            data={
                "task_channel_sid": channel.sid,
                "task_channel_unique_name": channel.unique_name,
                "task_channel_friendly_name": channel.friendly_name,
                "task_channel_optimized_routing": str(channel.channel_optimized_routing).lower(),
            },
            task_channel_sid=channel.sid,
        )

    def _give_workers_channel(self, channel: TaskChannel, seq: int) -> None:
        """Each existing worker gets the same worker channel worker creation would give it.

        The workers are read from the store, not the routing index: inside a write the index
        would catch up to a change number that a rollback could hand to the next write."""
        workers = self.store.worker_changes(channel.workspace_sid, -1)
        now = channel.date_created
        self.store.insert_worker_channels(
            [wc for worker in workers for wc in new_worker_channels(worker, [channel], now)], seq
        )

    def update_task_channel(
        self,
        workspace_sid: str,
        sid_or_name: str,
        *,
        friendly_name: str | None = None,
        channel_optimized_routing: bool | None = None,
    ) -> TaskChannel:
        """Rename a channel or switch its routing preference; the unique name is fixed."""
        with self.core.writing(workspace_sid) as tx:
            channel = self._task_channel(workspace_sid, sid_or_name)
            if friendly_name is None and channel_optimized_routing is None:
                return channel
            channel = replace(
                channel,
                friendly_name=(
                    channel.friendly_name
                    if friendly_name is None
                    else check_friendly_name(friendly_name)
                ),
                channel_optimized_routing=(
                    channel.channel_optimized_routing
                    if channel_optimized_routing is None
                    else channel_optimized_routing
                ),
                date_updated=self.core.now(),
            )
            self.store.update_task_channel(channel, tx.seq)
            self._emit_task_channel(tx, EventType.TASK_CHANNEL_UPDATED, channel, "updated")
        return channel

    def delete_task_channel(self, workspace_sid: str, sid_or_name: str) -> None:
        """Delete a channel and every worker's channel for it. The `default` channel stays, and
        a channel stays while open tasks use it."""
        with self.core.writing(workspace_sid) as tx:
            channel = self._task_channel(workspace_sid, sid_or_name)
            if channel.unique_name == PERMANENT_CHANNEL:
                raise InvalidParameter(
                    f"The {PERMANENT_CHANNEL!r} task channel cannot be deleted: tasks created"
                    " without a TaskChannel are routed on it"
                )
            self._refuse_if_channel_in_use(tx, channel)
            self.store.delete_task_channel(workspace_sid, channel.sid)
            self.store.add_tombstone(workspace_sid, tx.seq, "task_channel", channel.sid)
            self._emit_task_channel(tx, EventType.TASK_CHANNEL_DELETED, channel, "deleted")

    def _refuse_if_channel_in_use(self, tx: Tx, channel: TaskChannel) -> None:
        """A 400 while open tasks (pending, reserved, assigned, wrapping) are on the channel, as
        for a queue or a workflow in use: their reservations hold capacity on it, and their
        events name it."""
        tasks = sum(
            1 for e in tx.index.work.tasks.values() if e.task.task_channel_sid == channel.sid
        )
        if tasks:
            raise InvalidParameter(
                f"TaskChannel {channel.unique_name} ({channel.sid}) cannot be deleted while"
                f" {tasks} open tasks use it"
            )
