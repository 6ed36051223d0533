"""Records built to be written through the Store directly, as the engine would write them,
and what each database raises when a constraint refuses a row."""

from __future__ import annotations

import sqlite3

import psycopg

from switchboard.models import (
    Activity,
    Prefix,
    Reservation,
    ReservationStatus,
    Task,
    TaskChannel,
    TaskOrder,
    TaskQueue,
    TaskStatus,
    Worker,
    WorkerChannel,
    Workspace,
    new_sid,
)
from switchboard.storage import Store
from tests.support.constants import ACCOUNT_SID, START_MS

T0 = START_MS
# What each database raises when a constraint (unique, foreign key) refuses a row.
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError)


def add_workspace(
    store: Store, account_sid: str = ACCOUNT_SID, name: str = "Support", created: int = T0
) -> Workspace:
    """A workspace with its Offline activity, written the way the engine creates one."""
    sid = new_sid(Prefix.WORKSPACE)
    offline = Activity(new_sid(Prefix.ACTIVITY), sid, account_sid, "Offline", False, T0, T0)
    ws = Workspace(
        sid, account_sid, name, None, None, True, offline.sid, offline.sid,
        TaskOrder.FIFO, created, created,
    )  # fmt: skip
    with store.write(None):
        store.insert_workspace(ws, seq=1)
        store.insert_activity(offline, 1)
    return ws


def activity(ws: Workspace, name: str, available: bool = False, created: int = T0) -> Activity:
    return Activity(
        new_sid(Prefix.ACTIVITY), ws.sid, ws.account_sid, name, available, created, created
    )


def channel(ws: Workspace, unique_name: str) -> TaskChannel:
    return TaskChannel(
        new_sid(Prefix.TASK_CHANNEL), ws.sid, ws.account_sid, unique_name.title(), unique_name,
        False, T0, T0,
    )  # fmt: skip


def queue(
    ws: Workspace, name: str, reservation: str | None = None, assignment: str | None = None
) -> TaskQueue:
    return TaskQueue(
        new_sid(Prefix.TASK_QUEUE), ws.sid, ws.account_sid, name, "1==1", 1, TaskOrder.FIFO,
        reservation, assignment, T0, T0,
    )  # fmt: skip


def worker(ws: Workspace, name: str, activity_sid: str, attributes: str = "{}") -> Worker:
    return Worker(
        new_sid(Prefix.WORKER), ws.sid, ws.account_sid, name, activity_sid, attributes,
        T0, T0, T0, 1,
    )  # fmt: skip


def worker_channel(w: Worker, c: TaskChannel, capacity: int = 1) -> WorkerChannel:
    return WorkerChannel(
        new_sid(Prefix.WORKER_CHANNEL), w.workspace_sid, w.account_sid, w.sid, c.sid, capacity,
        True, T0, T0,
    )  # fmt: skip


def pending_task(ws: Workspace, channel_sid: str) -> Task:
    return Task(
        new_sid(Prefix.TASK), ws.sid, ws.account_sid, None, channel_sid, "{}",
        TaskStatus.PENDING, 0, 86_400, None, None, None, None, T0, T0, T0, None, 1,
    )  # fmt: skip


def pending_reservation(task: Task, w: Worker) -> Reservation:
    return Reservation(
        new_sid(Prefix.RESERVATION), task.workspace_sid, task.account_sid, task.sid, w.sid,
        None, task.task_channel_sid, ReservationStatus.PENDING, T0 + 120_000, w.activity_sid,
        None, T0, T0, 0,
    )  # fmt: skip
