"""Which process runs the deadline tick: with SQLite the only one; with PostgreSQL the holder
of a session advisory lock on a connection of its own, freed when that process dies."""

from __future__ import annotations

import contextlib
from typing import Any

TICKER_LOCK = 0x5357_4954  # "SWIT": the advisory lock key of the tick leader


class SoleLeader:
    """One process owns the database: it always leads."""

    shared = False

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


class AdvisoryLeader:
    """Leads while it holds `pg_try_advisory_lock(TICKER_LOCK, <schema>)` on its own
    connection."""

    shared = True

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: Any = None
        self._held = False

    def acquire(self) -> bool:
        """True while this process is the leader (checked on each call). Raises when the
        database cannot be reached: the caller then must not act as leader, and reports it."""
        try:
            if self._held:
                # The lock lives as long as the connection: a live connection keeps it.
                self._conn.execute("SELECT 1")
                return True
            if self._conn is None or self._conn.closed:
                import psycopg

                self._conn = psycopg.connect(self._url, autocommit=True)
            # Advisory locks are database-wide: the schema's name is the second key, so
            # deployments in different schemas of one database each have their own leader.
            row = self._conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (TICKER_LOCK,)
            ).fetchone()
            self._held = bool(row and row[0])
            return self._held
        except Exception:
            self.release()
            raise

    def release(self) -> None:
        self._held = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def leader_for(url: str) -> SoleLeader | AdvisoryLeader:
    return AdvisoryLeader(url) if url.startswith("postgres") else SoleLeader()
