"""Versioned schema migrations: numbered SQL files applied once each, in order, on start.

`NNNN_name.sql` is portable SQL. `NNNN_name.postgres.sql` (or `.sqlite.sql`) tunes one
database's storage; on the other its statements are skipped and its version is still recorded,
so every database shares one numbering."""

from __future__ import annotations

import re
import time
from importlib import resources

from switchboard.storage.database import Database

_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+(?:\.(sqlite|postgres))?\.sql$")


def _statements(script: str) -> list[str]:
    # Comments go first: they may contain semicolons. Our SQL has none inside literals.
    text = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [s.strip() for s in text.split(";") if s.strip()]


def _dialect(name: str) -> str | None:
    """The one database a migration is for, or None (all)."""
    match = _MIGRATION.match(name)
    return match.group(2) if match else None


def available_migrations() -> list[tuple[int, str, str]]:
    """(version, name, script) for every migration shipped with the package, in order."""
    folder = resources.files("switchboard.storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text("utf-8")))
    return sorted(found)


def migrate(db: Database) -> list[str]:
    """Apply every migration not yet applied; returns the names applied. Safe to run from
    several processes at once: the migration lock makes them take turns."""
    applied: list[str] = []
    with db.transaction("switchboard:migrations"):
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )
        done = {row[0] for row in db.fetchall("SELECT version FROM schema_migrations")}
        for version, name, script in available_migrations():
            if version in done:
                continue
            if _dialect(name) in (None, db.dialect):
                for statement in _statements(script):
                    db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, int(time.time() * 1000)),
            )
            applied.append(name)
    return applied
