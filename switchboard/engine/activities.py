"""Activity operations. An activity's availability is fixed at creation."""

from __future__ import annotations

from dataclasses import replace

from switchboard.engine.core import EngineCore, check_friendly_name
from switchboard.engine.tx import Tx
from switchboard.errors import Conflict, InvalidParameter, not_found
from switchboard.events import EventType
from switchboard.models import Activity, Prefix, new_sid

MAX_ACTIVITIES = 100


class Activities:
    """CreateActivity, UpdateActivity and DeleteActivity."""

    def __init__(self, core: EngineCore) -> None:
        self.core = core
        self.store = core.store

    def _activity(self, workspace_sid: str, sid: str) -> Activity:
        activity = self.store.get_activity(workspace_sid, sid)
        if activity is None:
            raise not_found(f"/Workspaces/{workspace_sid}/Activities/{sid}")
        return activity

    def _check_activity_name(self, workspace_sid: str, name: str, except_sid: str = "") -> None:
        check_friendly_name(name)
        for other in self.store.list_activities(workspace_sid, friendly_name=name):
            if other.sid != except_sid:
                raise Conflict(f"An activity named {name!r} already exists ({other.sid})")

    def create_activity(
        self, workspace_sid: str, *, friendly_name: str, available: bool
    ) -> Activity:
        """A new activity; names are unique within the workspace, at most 100 activities."""
        with self.core.writing(workspace_sid) as tx:
            ws, seq = tx.workspace, tx.seq
            self._check_activity_name(workspace_sid, friendly_name)
            if (
                len(self.store.list_activities(workspace_sid, limit=MAX_ACTIVITIES + 1))
                >= MAX_ACTIVITIES
            ):
                raise InvalidParameter(f"A workspace has at most {MAX_ACTIVITIES} activities")
            now = self.core.now()
            activity = Activity(
                new_sid(Prefix.ACTIVITY),
                workspace_sid,
                ws.account_sid,
                friendly_name,
                available,
                now,
                now,
            )
            self.store.insert_activity(activity, seq)
            self._emit_activity(tx, EventType.ACTIVITY_CREATED, activity, "created")
        return activity

    def _emit_activity(self, tx: Tx, event: str, activity: Activity, verb: str) -> None:
        tx.emit(
            event,
            resource_type="activity",
            resource_sid=activity.sid,
            description=f"Activity {activity.friendly_name} {verb}",
            data={
                "activity_sid": activity.sid,
                "activity_name": activity.friendly_name,
                "activity_available": str(activity.available).lower(),
            },
        )

    def update_activity(
        self, workspace_sid: str, sid: str, *, friendly_name: str | None
    ) -> Activity:
        with self.core.writing(workspace_sid) as tx:
            activity = self._activity(workspace_sid, sid)
            if friendly_name is not None:
                self._check_activity_name(workspace_sid, friendly_name, except_sid=sid)
                activity = replace(
                    activity, friendly_name=friendly_name, date_updated=self.core.now()
                )
                self.store.update_activity(activity, tx.seq)
                self._emit_activity(tx, EventType.ACTIVITY_UPDATED, activity, "updated")
        return activity

    def delete_activity(self, workspace_sid: str, sid: str) -> None:
        """Refused while the workspace, a worker or a queue still uses the activity."""
        with self.core.writing(workspace_sid) as tx:
            activity = self._activity(workspace_sid, sid)
            uses = self.store.activity_uses(workspace_sid, sid)
            if uses:
                described = {
                    "workspace": "it is the workspace's default or timeout activity",
                    "worker": "workers are in it",
                    "task_queue": "a task queue uses it as its reservation or assignment activity",
                }
                raise InvalidParameter(
                    f"Activity {sid} cannot be deleted: " + "; ".join(described[u] for u in uses),
                    code=20001,
                )
            self.store.delete_activity(workspace_sid, sid)
            self.store.add_tombstone(workspace_sid, tx.seq, "activity", sid)
            self._emit_activity(tx, EventType.ACTIVITY_DELETED, activity, "deleted")
