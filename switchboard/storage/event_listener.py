"""Hearing other processes commit events: PostgreSQL's LISTEN on a connection of its own.

Every write that stores events also sends `pg_notify(events_channel, workspace_sid)`
(event_rows.py), which PostgreSQL delivers when, and only if, the write commits. One thread
per process holds a listening connection and hands each notification's workspace to `heard`;
notifications sent by this process's own connection are left out (its commits are known
without the database's help). A lost connection is replaced with backoff, and once listening
again `heard(None)` says that anything may have been committed meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from switchboard.storage.postgres import open_connection

log = logging.getLogger("switchboard.storage")

# How often the thread looks up from waiting to see whether it is to stop.
_STOP_CHECK_S = 0.5
RETRY_FIRST_S, RETRY_MAX_S = 0.05, 2.0


class EventListener:
    """The listening thread; `start` once, `close` to end it."""

    def __init__(
        self,
        url: str,
        channel: str,
        heard: Callable[[str | None], None],
        *,
        own_pid: Callable[[], int | None],
    ) -> None:
        self._url, self._channel = url, channel
        self._heard, self._own_pid = heard, own_pid
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="switchboard-listen", daemon=True)
        self.listening = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop within `_STOP_CHECK_S`; the thread closes its connection as it goes."""
        self._closing.set()

    def _run(self) -> None:
        delay = RETRY_FIRST_S
        while not self._closing.is_set():
            try:
                with open_connection(self._url) as conn:
                    conn.execute(f'LISTEN "{self._channel}"')
                    self.listening.set()
                    delay = RETRY_FIRST_S
                    self._heard(None)
                    self._listen(conn)
            except psycopg.Error as error:
                self.listening.clear()
                log.warning("listening for committed events failed (%s); retrying", error)
                self._closing.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            except Exception:  # a bug in `heard` must not end listening for good
                self.listening.clear()
                log.exception("handling a committed-events notification failed")
                self._closing.wait(delay)
        self.listening.clear()

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        while not self._closing.is_set():
            for notification in conn.notifies(timeout=_STOP_CHECK_S):
                if notification.pid != self._own_pid():
                    self._heard(notification.payload)
