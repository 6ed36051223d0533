"""The SQLite WAL checkpoint, run from a thread of the server beside the writer."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable


class Checkpointer:
    """Copies the WAL back into the database file from a thread of its own.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, so the
    request that happens to commit then waits for the copy and its fsync. Here each commit
    only pokes this thread, which runs a PASSIVE checkpoint on its own connection (it never
    blocks the writer, and sqlite3 releases the GIL while it works). The thread ends after
    a while without commits and the next commit starts it again, so an idle or forgotten
    connection keeps no thread.

    It waits for a lull (no commit for QUIET_SECONDS, and no write transaction open) or for
    MAX_COMMITS commits, whichever comes first: a page written many times between checkpoints
    is copied once, and a burst (a tick's long transactions of a thousand deadlines each)
    does not share its core with the copy of its own WAL.
    """

    IDLE_SECONDS = 5.0
    QUIET_SECONDS = 0.3
    MAX_COMMITS = 300

    def __init__(self, path: str, writing: Callable[[], bool]) -> None:
        self._path = path
        self._writing = writing  # whether the writer has a transaction open
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._commits = 0  # since the last checkpoint (approximate: not locked)

    def poke(self) -> None:
        self._commits += 1
        self._wake.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._closed:
                    self._thread = threading.Thread(
                        target=self._run, name="sqlite-checkpoint", daemon=True
                    )
                    self._thread.start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=1000")
            while self._wait():
                if not self._wait_for_lull():
                    return
                self._commits = 0
                # On failure the writer's own backstop checkpoint still bounds the WAL.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def _wait_for_lull(self) -> bool:
        """Return once commits pause or enough have piled up; False when closed."""
        while self._commits < self.MAX_COMMITS:
            if not self._wake.wait(self.QUIET_SECONDS) and not self._writing():
                break
            self._wake.clear()
            if self._closed:
                return False
        return not self._closed

    def _wait(self) -> bool:
        """Wait for a commit; False when closed or idle (the thread then ends)."""
        while True:
            poked = self._wake.wait(self.IDLE_SECONDS)
            with self._lock:
                if self._closed:
                    self._thread = None
                    return False
                if poked:
                    self._wake.clear()
                    return True
                if not self._wake.is_set():
                    self._thread = None
                    return False
