"""Which worker SDK sessions are open, in every process sharing the database.

A collaborator of `Store` (`store.presence`), written by `realtime/presence.py`. A process
keeps one row of its own in `realtime_processes`, renewed while it runs; an open session's
row lives as long as its process's does, so renewing presence costs one statement per
process, not one per socket, and a killed process's sessions lapse with its row. A closed
session stays until `expires`, the grace period in which its agent may come back.

All times are wall-clock epoch milliseconds: presence is about real sockets, and a manual
engine clock must not keep a dead agent present or end a live one.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.storage.database import Database

_LOCK = "switchboard:presence"


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    process_id: str
    workspace_sid: str
    worker_sid: str
    offline_if_disconnected: bool


@dataclass(frozen=True, slots=True)
class Lapsed:
    """A session whose row the sweep removed: closed past its grace, or of a dead process."""

    workspace_sid: str
    worker_sid: str
    offline_if_disconnected: bool


class PresenceRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    def renew_process(self, process_id: str, expires: int) -> bool:
        """Keep `process_id` alive until `expires`; False when its row was gone (another
        process found it lapsed and swept its sessions), in which case it is made again."""
        with self.db.transaction(_LOCK):
            renewed = self.db.execute(
                "UPDATE realtime_processes SET expires = ? WHERE id = ?", (expires, process_id)
            )
            if renewed:
                return True
            self.db.execute(
                "INSERT INTO realtime_processes (id, expires) VALUES (?, ?)", (process_id, expires)
            )
            return False

    def leave(self, process_id: str, expires: int) -> None:
        """A process stopping: its open sessions close with a grace until `expires` (their
        agents may reconnect to another process), and its row goes."""
        with self.db.transaction(_LOCK):
            self.db.execute(
                "UPDATE worker_sessions SET expires = ? WHERE process_id = ? AND expires IS NULL",
                (expires, process_id),
            )
            self.db.execute("DELETE FROM realtime_processes WHERE id = ?", (process_id,))

    def open(self, rows: list[SessionRow]) -> None:
        """Record open sessions; one already recorded is left as it is."""
        with self.db.transaction(_LOCK):
            self.db.executemany(
                "INSERT INTO worker_sessions (id, process_id, workspace_sid, worker_sid,"
                " offline_if_disconnected) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                [
                    (r.id, r.process_id, r.workspace_sid, r.worker_sid,
                     int(r.offline_if_disconnected))
                    for r in rows
                ],
            )  # fmt: skip

    def end_others(self, workspace_sid: str, worker_sid: str, except_id: str) -> list[str]:
        """Mark the worker's other open sessions for closing (closeExistingSessions); returns
        their ids. Each holding process closes its own (`ending`)."""
        with self.db.transaction(_LOCK):
            rows = self.db.fetchall(
                "UPDATE worker_sessions SET ending = 1 WHERE workspace_sid = ? AND worker_sid = ?"
                " AND id <> ? AND expires IS NULL RETURNING id",
                (workspace_sid, worker_sid, except_id),
            )
        return [str(r[0]) for r in rows]

    def ending(self, process_id: str) -> list[str]:
        """This process's open sessions that another session asked to close."""
        rows = self.db.fetchall(
            "SELECT id FROM worker_sessions WHERE process_id = ? AND ending = 1"
            " AND expires IS NULL",
            (process_id,),
        )
        return [str(r[0]) for r in rows]

    def close(self, session_id: str, expires: int) -> None:
        """The session's socket is gone; it counts as present until `expires`."""
        self.close_all([(session_id, expires)])

    def close_all(self, closing: list[tuple[str, int]]) -> None:
        """`close` for each (session id, expires), in one write."""
        with self.db.transaction(_LOCK):
            self.db.executemany(
                "UPDATE worker_sessions SET expires = ? WHERE id = ?",
                [(expires, session_id) for session_id, expires in closing],
            )

    def sweep(self, now: int) -> list[Lapsed]:
        """Remove lapsed processes, then the sessions past their grace or of a process no
        longer there; each removed row is returned to exactly one sweeper."""
        with self.db.transaction(_LOCK):
            self.db.execute("DELETE FROM realtime_processes WHERE expires <= ?", (now,))
            rows = self.db.fetchall(
                "DELETE FROM worker_sessions WHERE (expires IS NOT NULL AND expires <= ?)"
                " OR (expires IS NULL AND process_id NOT IN (SELECT id FROM realtime_processes))"
                " RETURNING workspace_sid, worker_sid, offline_if_disconnected",
                (now,),
            )
        return [Lapsed(str(r[0]), str(r[1]), bool(r[2])) for r in rows]

    def present(self, workspace_sid: str, worker_sid: str) -> int:
        """The worker's sessions still open or within their grace."""
        row = self.db.fetchone(
            "SELECT COUNT(*) FROM worker_sessions WHERE workspace_sid = ? AND worker_sid = ?",
            (workspace_sid, worker_sid),
        )
        return int(row[0]) if row else 0
