"""Workspace operations: create (with its default activities and channels), update, delete."""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import urlparse

from switchboard.engine.core import EngineCore, check_friendly_name
from switchboard.engine.index import WorkspaceIndex
from switchboard.engine.tx import Tx
from switchboard.errors import InvalidParameter
from switchboard.events import EVENT_TYPES, EventType
from switchboard.models import (
    DEFAULT_ACTIVITIES,
    DEFAULT_CHANNELS,
    DEFAULT_RESERVATION_TIMEOUT,
    Activity,
    Prefix,
    TaskChannel,
    TaskOrder,
    TaskQueue,
    Workflow,
    Workspace,
    new_sid,
)


def check_callback_url(url: str | None, parameter: str) -> str | None:
    """An absolute http(s) URL, or empty (no callback)."""
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidParameter(f"{parameter} must be an absolute http or https URL, not {url!r}")
    return url


def check_events_filter(value: str | None) -> str | None:
    """A comma-separated list of known event types."""
    if not value:
        return None
    names = [name.strip() for name in value.split(",")]
    unknown = [name for name in names if name not in EVENT_TYPES]
    if unknown:
        raise InvalidParameter(f"EventsFilter names unknown event types: {', '.join(unknown)}")
    return ",".join(names)


class Workspaces:
    """CreateWorkspace, FetchWorkspace, UpdateWorkspace and DeleteWorkspace."""

    def __init__(self, core: EngineCore) -> None:
        self.core = core
        self.store = core.store

    def create_workspace(
        self,
        account_sid: str,
        *,
        friendly_name: str,
        sid: str | None = None,
        event_callback_url: str | None = None,
        events_filter: str | None = None,
        multi_task_enabled: bool = True,
        template: str = "NONE",
        prioritize_queue_order: TaskOrder = TaskOrder.FIFO,
    ) -> Workspace:
        """A new workspace with the activities Offline (default and timeout), Available and
        Unavailable, and the task channels default, voice, sms, chat and video. The FIFO
        template adds a queue every worker belongs to. `sid` names it (a new one when None):
        a caller that prepares the write (Store.prepare_write) names it first."""
        check_friendly_name(friendly_name)
        now, sid = self.core.now(), sid or new_sid(Prefix.WORKSPACE)
        activities = [
            Activity(new_sid(Prefix.ACTIVITY), sid, account_sid, name, available, now, now)
            for name, available in DEFAULT_ACTIVITIES
        ]
        offline = activities[0].sid
        ws = Workspace(
            sid,
            account_sid,
            friendly_name,
            check_callback_url(event_callback_url, "EventCallbackUrl"),
            check_events_filter(events_filter),
            multi_task_enabled,
            offline,
            offline,
            prioritize_queue_order,
            now,
            now,
        )
        # Under the new workspace's own lock, which no other write can want (its SID is
        # known to nobody until the answer, which comes after the COMMIT): so the write can be
        # prepared, and joins a group of its own, as a write to any workspace does.
        with self.store.write(sid):
            self.store.insert_workspace(ws, seq=1)
            for activity in activities:
                self.store.insert_activity(activity, 1)
            for name in DEFAULT_CHANNELS:
                channel = TaskChannel(
                    new_sid(Prefix.TASK_CHANNEL),
                    sid,
                    account_sid,
                    name.capitalize(),
                    name,
                    False,
                    now,
                    now,
                )
                self.store.insert_task_channel(channel, 1)
            if template == "FIFO":
                queue = self._sample_queue(ws, now)
                self.store.insert_task_queue(queue, 1)
                self.store.workflows.insert(self._fifo_workflow(ws, queue, now), 1)
            tx = self._created_event(ws)
        self.core.announce(tx)
        # As a read would find it, without the read: Offline is both activities.
        name = activities[0].friendly_name
        return replace(ws, default_activity_name=name, timeout_activity_name=name)

    def _created_event(self, ws: Workspace) -> Tx:
        """workspace.created, written with the new rows as change 1. `writing` needs the
        workspace to be there already, so the event is written here; the defaults made with
        the workspace (activities, channels, the FIFO queue) have no events of their own."""
        tx = Tx(ws, 1, ws.date_created, WorkspaceIndex(ws.sid))
        self._emit_workspace(tx, EventType.WORKSPACE_CREATED, "created")
        self.store.events.insert(tx.events)
        self.store.event_streams.track(
            ws.sid, ws.account_sid, ws.event_callback_url, ws.events_filter, 1
        )
        return tx

    def _emit_workspace(self, tx: Tx, event: str, verb: str) -> None:
        ws = tx.workspace
        tx.emit(
            event,
            resource_type="workspace",
            resource_sid=ws.sid,
            description=f"Workspace {ws.friendly_name} {verb}",
            data={},
        )

    def _fifo_workflow(self, ws: Workspace, queue: TaskQueue, now: int) -> Workflow:
        """The FIFO template's workflow: every task goes to the sample queue."""
        configuration = json.dumps({"task_routing": {"default_filter": {"queue": queue.sid}}})
        return Workflow(
            new_sid(Prefix.WORKFLOW),
            ws.sid,
            ws.account_sid,
            "Default Fifo Workflow",
            configuration,
            None,
            None,
            DEFAULT_RESERVATION_TIMEOUT,
            now,
            now,
        )

    def _sample_queue(self, ws: Workspace, now: int) -> TaskQueue:
        return TaskQueue(
            new_sid(Prefix.TASK_QUEUE),
            ws.sid,
            ws.account_sid,
            "Sample Queue",
            "1==1",
            1,
            TaskOrder.FIFO,
            None,
            None,
            now,
            now,
        )

    def fetch_workspace(self, workspace_sid: str) -> Workspace:
        return self.core.workspace(workspace_sid)

    def update_workspace(
        self,
        workspace_sid: str,
        *,
        friendly_name: str | None = None,
        event_callback_url: str | None = None,
        events_filter: str | None = None,
        multi_task_enabled: bool | None = None,
        default_activity_sid: str | None = None,
        timeout_activity_sid: str | None = None,
        prioritize_queue_order: TaskOrder | None = None,
    ) -> Workspace:
        """Change the given fields; an empty callback URL or filter clears it."""
        with self.core.writing(workspace_sid) as tx:
            ws = tx.workspace
            changes: dict[str, object] = {"date_updated": self.core.now()}
            if friendly_name is not None:
                changes["friendly_name"] = check_friendly_name(friendly_name)
            if event_callback_url is not None:
                changes["event_callback_url"] = check_callback_url(
                    event_callback_url, "EventCallbackUrl"
                )
            if events_filter is not None:
                changes["events_filter"] = check_events_filter(events_filter)
            if multi_task_enabled is not None:
                changes["multi_task_enabled"] = multi_task_enabled
            for field, value, name in (
                ("default_activity_sid", default_activity_sid, "DefaultActivitySid"),
                ("timeout_activity_sid", timeout_activity_sid, "TimeoutActivitySid"),
            ):
                if value is not None:
                    if self.store.get_activity(workspace_sid, value) is None:
                        raise InvalidParameter(
                            f"{name} {value} is not an activity of workspace {workspace_sid}"
                        )
                    changes[field] = value
            if prioritize_queue_order is not None:
                changes["prioritize_queue_order"] = prioritize_queue_order
            updated = replace(ws, **changes)  # type: ignore[arg-type]
            self.store.update_workspace(updated)
            self.store.event_streams.track(
                ws.sid, ws.account_sid, updated.event_callback_url, updated.events_filter, tx.seq
            )
            tx.workspace = updated  # the event carries the new name
            self._emit_workspace(tx, EventType.WORKSPACE_UPDATED, "updated")
        return self.core.workspace(workspace_sid)

    def delete_workspace(self, workspace_sid: str) -> None:
        """Delete the workspace and everything in it, its event log included. Its event
        callback stream outlives it just long enough to deliver workspace.deleted (written
        after the rows are gone, so it is the only event left)."""
        with self.core.writing(workspace_sid) as tx:
            self._emit_workspace(tx, EventType.WORKSPACE_DELETED, "deleted")
            self.store.delete_workspace(workspace_sid)
            self.store.event_streams.end(workspace_sid)
        self.core.drop_index(workspace_sid)
