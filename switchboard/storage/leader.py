"""Which process runs the deadline tick: with SQLite the only one; with PostgreSQL the holder
of a session advisory lock on a connection of its own, freed when that process dies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

log = logging.getLogger("switchboard.storage")
TICKER_LOCK = 0x5357_4954  # "SWIT": the advisory lock key of the tick leader


class SoleLeader:
    """One process owns the database: it always leads."""

    shared = False

    def acquire(self) -> bool:
        return True

    async def check(self) -> bool:
        return True

    def release(self) -> None:
        pass


class AdvisoryLeader:
    """Leads while it holds `pg_try_advisory_lock(key, <schema>)` (TICKER_LOCK) on its own
    connection. Advisory locks are database-wide: the schema's name is the second key, so
    deployments in different schemas of one database each have their own leader.

    The lock belongs to the session: when the connection is lost (a database restart, a cut
    network) so is the leadership, here and in the database alike, and another process may
    take it. `acquire` notices on its next call, says so, and competes again through
    `pg_try_advisory_lock` like any process; it never assumes a new session holds what the
    old one did. The new connection is opened by a thread, so `acquire` never waits on a
    connection attempt: until one is open this process does not lead. The tick loop calls
    `check`, which runs `acquire` on a thread: its round trip never holds the event loop."""

    shared = True

    def __init__(self, url: str, key: int = TICKER_LOCK) -> None:
        self._url = url
        self._key = key  # another key lets a test lead beside the deployments sharing its database
        self._conn: Any = None
        self._held = False
        # A connection the opening thread made for the next `acquire` to take.
        self._opened: Any = None
        self._opening: threading.Thread | None = None
        self._failing = False  # whether the loss has been reported (once per outage)
        # `acquire` runs on a thread while `release` may be called on the event loop (the tick
        # loop's task cancelled mid-check): one at a time, so a released connection stays so.
        self._using = threading.RLock()

    async def check(self) -> bool:
        """`acquire`, on a thread: the check is a round trip on the leader's connection."""
        return await asyncio.to_thread(self.acquire)

    def acquire(self) -> bool:
        """True while this process is the leader (checked on each call). Raises when the
        database cannot be reached: the caller then must not act as leader, and reports it."""
        with self._using:
            return self._acquire()

    def _acquire(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self._take_connection()
                if self._conn is None:
                    return False
            if self._held:
                # The lock lives as long as the session: a live connection keeps it.
                self._conn.execute("SELECT 1")
                return True
            row = self._conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (self._key,)
            ).fetchone()
            self._held = bool(row and row[0])
            if self._failing:
                log.warning("tick leadership: the database answers again")
                self._failing = False
            if self._held:
                log.info("this process now runs the deadline tick")
            return self._held
        except Exception as error:
            self._report(error)
            self.release()
            raise

    def _take_connection(self) -> Any:
        """The connection the opening thread made, if it has; else start it (once)."""
        conn, self._opened = self._opened, None
        if conn is not None:
            return conn
        if self._opening is None or not self._opening.is_alive():
            self._opening = threading.Thread(
                target=self._open, name="switchboard-leader-connect", daemon=True
            )
            self._opening.start()
        return None

    def _open(self) -> None:
        from switchboard.storage.postgres import open_connection

        try:
            self._opened = open_connection(self._url)
        except Exception as error:
            self._report(error)

    def _report(self, error: Exception) -> None:
        """Say once per outage what went wrong; a lost leadership always."""
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        if self._held:
            log.warning("tick leadership lost with the database connection: %s", reason)
        elif not self._failing:
            log.warning("tick leadership cannot be checked: %s", reason)
        self._failing = True

    def release(self) -> None:
        with self._using:
            self._held = False
            for conn in (self._conn, self._opened):
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
            self._conn = self._opened = None


def leader_for(url: str) -> SoleLeader | AdvisoryLeader:
    return AdvisoryLeader(url) if url.startswith("postgres") else SoleLeader()
