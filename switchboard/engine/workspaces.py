"""Workspace operations: create (with its default activities and channels), update, delete."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlparse

from switchboard.engine.core import EngineCore, check_friendly_name
from switchboard.errors import InvalidParameter
from switchboard.events import EVENT_TYPES
from switchboard.models import (
    DEFAULT_ACTIVITIES,
    DEFAULT_CHANNELS,
    Activity,
    Prefix,
    TaskChannel,
    TaskOrder,
    TaskQueue,
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


class WorkspaceOps(EngineCore):
    def create_workspace(
        self,
        account_sid: str,
        *,
        friendly_name: str,
        event_callback_url: str | None = None,
        events_filter: str | None = None,
        multi_task_enabled: bool = True,
        template: str = "NONE",
        prioritize_queue_order: TaskOrder = TaskOrder.FIFO,
    ) -> Workspace:
        """A new workspace with the activities Offline (default and timeout), Available and
        Unavailable, and the task channels default, voice, sms, chat and video. The FIFO
        template adds a queue every worker belongs to."""
        check_friendly_name(friendly_name)
        now, sid = self.now(), new_sid(Prefix.WORKSPACE)
        activities = [
            Activity(new_sid(Prefix.ACTIVITY), sid, account_sid, name, available, now, now)
            for name, available in DEFAULT_ACTIVITIES
        ]
        offline = activities[0].sid
        ws = Workspace(
            sid, account_sid, friendly_name,
            check_callback_url(event_callback_url, "EventCallbackUrl"),
            check_events_filter(events_filter), multi_task_enabled, offline, offline,
            prioritize_queue_order, now, now,
        )  # fmt: skip
        with self.store.write(None):
            self.store.insert_workspace(ws, seq=1)
            for activity in activities:
                self.store.insert_activity(activity, 1)
            for name in DEFAULT_CHANNELS:
                channel = TaskChannel(
                    new_sid(Prefix.TASK_CHANNEL), sid, account_sid, name.capitalize(), name,
                    False, now, now,
                )  # fmt: skip
                self.store.insert_task_channel(channel, 1)
            if template == "FIFO":
                self.store.insert_task_queue(self._sample_queue(ws, now), 1)
        return self.workspace(sid)

    def _sample_queue(self, ws: Workspace, now: int) -> TaskQueue:
        return TaskQueue(
            new_sid(Prefix.TASK_QUEUE), ws.sid, ws.account_sid, "Sample Queue", "1==1", 1,
            TaskOrder.FIFO, None, None, now, now,
        )  # fmt: skip

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
        with self.store.write(workspace_sid):
            ws = self.workspace(workspace_sid)
            changes: dict[str, object] = {"date_updated": self.now()}
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
            self.store.update_workspace(replace(ws, **changes))  # type: ignore[arg-type]
        return self.workspace(workspace_sid)

    def delete_workspace(self, workspace_sid: str) -> None:
        with self.store.write(workspace_sid):
            self.workspace(workspace_sid)
            self.store.delete_workspace(workspace_sid)
        self.drop_index(workspace_sid)
