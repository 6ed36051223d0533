"""PostgreSQL: one psycopg connection; a write holds an advisory lock on its `lock_key`.

The lock is a transaction-level advisory lock, so one writer per workspace runs at a time
across every process sharing the database, and writes to different workspaces run at once.
Many new rows stream through COPY; a large write (`transaction(batch=True)`) is pipelined.
Statements arrive with `?` placeholders and are rewritten to psycopg's `%s` once per text.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from switchboard.storage.database import ConnectionBase, Params, Row, run_callbacks
from switchboard.storage.sql import insert_sql

# From how many rows insert_rows streams them with COPY rather than INSERTs.
COPY_FROM = 16


class PostgresDatabase(ConnectionBase):
    """One psycopg connection; writes take a per-key advisory transaction lock.

    A large write (`transaction(batch=True)`: a tick's deadlines) runs in pipeline mode: its
    statements are sent without waiting for their results, which the commit collects, so
    PostgreSQL stores what the write has sent (`send_held`) while the engine works out the
    rest. Reads still wait for their rows, and `execute` for its count."""

    dialect = "postgres"

    def __init__(self, url: str, schema: str | None = None) -> None:
        import psycopg  # Imported here so SQLite users never load it.

        self._conn = psycopg.connect(url, autocommit=True)
        if schema:
            # CREATE SCHEMA IF NOT EXISTS is not safe against itself: two processes creating
            # the schema at once collide on pg_namespace's unique index. The lock serialises them.
            with self._conn.transaction():
                self._conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("switchboard:schema",)
                )
                self._conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            self._conn.execute(f'SET search_path TO "{schema}"')
        self._lock = threading.RLock()
        self._depth = 0
        self._on_commit = []
        self._sql_cache: dict[str, str] = {}

    def _sql(self, sql: str) -> str:
        cached = self._sql_cache.get(sql)
        if cached is None:
            cached = sql.replace("%", "%%").replace("?", "%s")
            self._sql_cache[sql] = cached
        return cached

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        with self._lock:
            if self._held is not None:
                self._release()
            return self._conn.execute(self._sql(sql), params).fetchone()

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        with self._lock:
            if self._held is not None:
                self._release()
            return self._conn.execute(self._sql(sql), params).fetchall()

    def execute(self, sql: str, params: Params = ()) -> int:
        with self._lock:
            if self._held is not None:
                self._release()
            if not self.pipelined:
                return self._conn.execute(self._sql(sql), params).rowcount
            with self._conn.pipeline():  # leaving a nested block waits for the count
                cursor = self._conn.execute(self._sql(sql), params)
            return cursor.rowcount

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        with self._lock:
            if self._held is not None:
                self._release()
            with self._conn.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    def insert_rows(self, table: str, columns: str, rows: Sequence[Params]) -> None:
        """Insert `rows`, each in the order of `columns` (a comma-separated list). Many rows
        go through COPY: a burst of timeouts writes twenty thousand event rows, and PostgreSQL
        takes them as one stream faster than as many INSERT statements. A pipelined write
        cannot COPY; its INSERTs do not wait for one another."""
        if len(rows) < COPY_FROM or self.pipelined:
            self.executemany(insert_sql(table, columns), rows)
            return
        with self._lock:
            if self._held is not None:
                self._release()
            with (
                self._conn.cursor() as cur,
                cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)

    @contextmanager
    def transaction(self, lock_key: str | None = None, *, batch: bool = False) -> Iterator[None]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                with contextlib.ExitStack() as pipeline:
                    if batch:
                        pipeline.enter_context(self._conn.pipeline())
                        self.pipelined = True
                    with self._conn.transaction():
                        if lock_key is not None:
                            self._conn.execute(
                                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                                (lock_key,),
                            )
                        yield
                        self._release()
            except BaseException:
                self._drop_held()
                raise
            finally:
                self._depth = 0
                self.pipelined = False
                on_commit = self._take_on_commit()  # kept only when the write is
            run_callbacks(on_commit)

    def close(self) -> None:
        self._conn.close()
