"""PostgreSQL reads outside a write: each thread reads on an autocommit connection of its own.

A read never waits behind a write: not for the writer's lock, not for a group's COMMIT on
its way to the database. The event loop reads on its own connection; the Store's read pool
(`Store.read`) runs reads on its threads, each with its own; a read inside a write stays on
the writer's connection, which sees the write.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from switchboard.errors import DatabaseUnavailable

log = logging.getLogger("switchboard.storage")

T = TypeVar("T")


class ReaderConnections:
    """One connection per reading thread, opened on first use and replaced when lost."""

    def __init__(self, open_connection: Callable[[], psycopg.Connection[Any]]) -> None:
        self._open = open_connection
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: set[psycopg.Connection[Any]] = set()
        self._closed = False

    def read(
        self,
        run: Callable[[psycopg.Connection[Any]], T],
        unavailable: Callable[[BaseException], DatabaseUnavailable],
        *,
        again: bool = True,
    ) -> T:
        """`run` on this thread's connection. A connection found lost is replaced; with
        `again` (a read: reading twice changes nothing) at once, and `run` run again on it. A
        database that cannot be reached is `unavailable(error)`."""
        conn = self._mine(unavailable)
        try:
            return run(conn)
        except psycopg.OperationalError as error:
            lost = conn.closed or conn.broken
            if lost:
                self._forget(conn)
            if not (lost and again):
                raise unavailable(error) from error
            log.info("a connection was lost (%s); reconnecting", error)
        conn = self._mine(unavailable)
        try:
            return run(conn)
        except psycopg.OperationalError as error:
            if conn.closed or conn.broken:
                self._forget(conn)
            raise unavailable(error) from error

    def _mine(
        self, unavailable: Callable[[BaseException], DatabaseUnavailable]
    ) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise DatabaseUnavailable("The database connection is closed")
        try:
            conn = self._open()
        except psycopg.Error as error:
            raise unavailable(error) from error
        with self._lock:
            if self._closed:
                conn.close()
                raise DatabaseUnavailable("The database connection is closed")
            self._all.add(conn)
        self._local.conn = conn
        return conn

    def _forget(self, conn: psycopg.Connection[Any]) -> None:
        self._local.conn = None
        with self._lock:
            self._all.discard(conn)
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._all = self._all, set()
        for conn in conns:
            conn.close()
