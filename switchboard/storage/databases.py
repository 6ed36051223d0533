"""The database a URL names: `connect` opens a SQLite file or a PostgreSQL connection."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from switchboard.storage.database import Database
from switchboard.storage.sqlite import SQLiteDatabase


def connect(url: str, *, schema: str | None = None) -> Database:
    """A Database for `sqlite:///path`, `sqlite://:memory:` or `postgresql://…`."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(url[len("sqlite://") :])
        if path.startswith("/") and not path.startswith("//"):
            path = path[1:] or ":memory:"  # sqlite:///rel.db → rel.db
        elif path.startswith("//"):
            path = path[1:]  # sqlite:////abs/path.db → /abs/path.db
        return SQLiteDatabase(path or ":memory:")
    if parsed.scheme in ("postgres", "postgresql"):
        # Imported here so SQLite users never load psycopg.
        from switchboard.storage.postgres import PostgresDatabase

        return PostgresDatabase(url, schema=schema)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://…")
