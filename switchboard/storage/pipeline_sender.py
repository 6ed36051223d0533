"""Rows of a PostgreSQL write sent through libpq itself, inside psycopg's pipeline.

psycopg sends each statement of a pipeline through its cursor machinery and flushes the socket
after each one: about 15 µs of the event loop's CPU per row before its parameters are even
dumped, three to four times what libpq needs. A write's rows (its held tasks, reservations
and workers, its events, its change number) are most of what Switchboard sends, so they go
this way instead:
- each statement text is prepared once per connection, under a name of this module's own,
  which never clashes with psycopg's;
- each row is queued with PQsendQueryPrepared, its values in PostgreSQL's text format (the
  server infers each parameter's type from where it stands, as it does for psycopg's);
- its result is one of the pipeline's "commands" to psycopg (`result_queue` entry None):
  checked, and a refusal raised, when the pipeline next syncs, exactly as psycopg does for
  its own SYNC.

Two things make it fall back on psycopg: commands psycopg has queued but not yet sent (a
row sent now would overtake them, and the results would be matched to the wrong
statements), and a value with no plain text form here.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import psycopg

from switchboard.storage.database import Params


def _text(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text format (None is NULL); TypeError when there is no
    form here."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):  # before int: a bool is an int
        return b"t" if value else b"f"
    if isinstance(value, int | float):
        return repr(value).encode()
    raise TypeError(type(value).__name__)


def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's own `$1`, `$2`, … (the Store's statements hold no `?`
    but their placeholders)."""
    parts = sql.split("?")
    out = [parts[0]]
    for n, part in enumerate(parts[1:], start=1):
        out.append(f"${n}{part}")
    return "".join(out)


class PipelineSender:
    """The names this process prepared on the writing connection, and the way rows go out."""

    def __init__(self) -> None:
        self._conn: psycopg.Connection[Any] | None = None
        self._names: dict[str, bytes] = {}
        # Names are never reused: a PREPARE whose outcome is unknown cannot clash later.
        self._numbers = itertools.count(1)

    def forget(self) -> None:
        """After a write failed: a PREPARE sent in it may not have run, so every text is
        prepared again, under a new name, when next used."""
        self._conn, self._names = None, {}

    def send(
        self,
        conn: psycopg.Connection[Any],
        pipeline: psycopg.Pipeline,
        sql: str,
        rows: Sequence[Params],
    ) -> bool:
        """Queue `rows` of `sql` (`?` placeholders) in `conn`'s pipeline; False, having sent
        nothing, when they must go through psycopg instead (see the module docstring)."""
        if pipeline.command_queue:
            return False
        try:
            values = [[_text(v) for v in row] for row in rows]
        except TypeError:
            return False
        pgconn = conn.pgconn
        if self._conn is not conn:
            self._conn, self._names = conn, {}
        name = self._names.get(sql)
        if name is None:
            name = f"switchboard_{next(self._numbers)}".encode()
            pgconn.send_prepare(name, numbered(sql).encode())
            pipeline.result_queue.append(None)
            self._names[sql] = name
        for params in values:
            pgconn.send_query_prepared(name, params)
            pipeline.result_queue.append(None)
        return True
