"""One engine write: the transaction, the caught-up index, the clock reading and its events.

Operations that route work change the routing index as they change rows, so the index is
current inside the transaction without re-reading it. After a commit the index is marked as
having seen this change; after a failure that already touched the index, it is dropped and
rebuilt from the database on next use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from switchboard.engine.index import WorkspaceIndex
from switchboard.fastjson import dumps
from switchboard.models import Prefix, Reservation, Task, Workspace, new_sid
from switchboard.storage import EventRow


@dataclass
class Tx:
    workspace: Workspace
    seq: int
    now: int
    index: WorkspaceIndex
    events: list[EventRow] = field(default_factory=list)
    # How many of `events` were already sent to the database (EngineCore.send_ahead).
    sent: int = 0
    # Reservations created in this transaction that have an assignment callback to send.
    callbacks: list[str] = field(default_factory=list)
    # Set once the index has been changed: a failure must then discard it.
    dirty: bool = False
    # The earliest deadline a written task or reservation carries: the tick loop need only
    # wake after a commit when it is earlier than the moment it already means to wake at.
    earliest_deadline: int | None = None
    # The last version of each task and reservation this write saved: the answer to the
    # request is built from them rather than read back (a round trip on PostgreSQL).
    saved_tasks: dict[str, Task] = field(default_factory=dict)
    saved_reservations: dict[str, Reservation] = field(default_factory=dict)

    def note_deadline(self, deadline: int | None) -> None:
        if deadline is not None and (
            self.earliest_deadline is None or deadline < self.earliest_deadline
        ):
            self.earliest_deadline = deadline

    def emit(
        self,
        event_type: str,
        *,
        resource_type: str,
        resource_sid: str,
        description: str,
        data: dict[str, Any],
        at: int | None = None,
        actor: tuple[str, str] | None = None,
        task_sid: str | None = None,
        worker_sid: str | None = None,
        reservation_sid: str | None = None,
        task_queue_sid: str | None = None,
        workflow_sid: str | None = None,
        task_channel_sid: str | None = None,
    ) -> None:
        """Append an event; it is written in this transaction, in this order."""
        ws = self.workspace
        moment = self.now if at is None else at
        body = {
            "account_sid": ws.account_sid,
            "workspace_sid": ws.sid,
            "workspace_name": ws.friendly_name,
            **data,
        }
        # The attributes shown are stored once each, apart from the data (EventRow).
        task_attributes = body.get("task_attributes")
        if task_attributes is not None:
            body["task_attributes"] = None
        worker_attributes = body.get("worker_attributes")
        if worker_attributes is not None:
            body["worker_attributes"] = None
        # Positional, field by field in EventRow's order: keywords would cost several times
        # the row itself, and a burst writes tens of thousands of them.
        self.events.append(
            EventRow(
                new_sid(Prefix.EVENT),
                ws.sid,
                ws.account_sid,
                self.seq,
                len(self.events),
                event_type,
                moment,
                resource_type,
                resource_sid,
                actor[0] if actor else None,
                actor[1] if actor else None,
                description,
                dumps(body),
                task_sid,
                worker_sid,
                reservation_sid,
                task_queue_sid,
                workflow_sid,
                task_channel_sid,
                None,  # source_ip_address
                task_attributes,
                worker_attributes,
            )
        )

    def emit_about_task(
        self,
        event_type: str,
        task: Task,
        description: str,
        data: dict[str, Any],
        *,
        worker_sid: str | None = None,
        reservation_sid: str | None = None,
    ) -> None:
        """An event whose resource is the task, filed under its queue, workflow and channel
        (and, where it concerns one, a worker and a reservation)."""
        self.emit(
            event_type,
            resource_type="task",
            resource_sid=task.sid,
            description=description,
            data=data,
            task_sid=task.sid,
            worker_sid=worker_sid,
            reservation_sid=reservation_sid,
            task_queue_sid=task.task_queue_sid,
            workflow_sid=task.workflow_sid,
            task_channel_sid=task.task_channel_sid,
        )
