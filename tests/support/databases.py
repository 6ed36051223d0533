"""Switchboard's services on either database, as the fixtures and a few tests build them."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any, Literal

import psycopg
import pytest

from switchboard.api.context import Services
from switchboard.app import build_services
from switchboard.config import Settings
from switchboard.storage import Store
from switchboard.timers import ManualClock
from tests.support.constants import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OTHER_ACCOUNT_SID,
    OTHER_AUTH_TOKEN,
    POSTGRES_URL,
    START_MS,
)

Backend = Literal["sqlite", "postgres"]


def new_schema_name() -> str:
    """A PostgreSQL schema of one's own, so runs in other worktrees never collide."""
    return f"t_{uuid.uuid4().hex[:12]}"


def schema_url(schema: str) -> str:
    """The test database's URL with `schema` as its search path: what a server of that
    schema is given, so its tick leadership (keyed by the schema) is its own."""
    joiner = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{joiner}options=-csearch_path%3D{schema}"


def drop_schema(name: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@dataclass(frozen=True)
class ReusedSchema:
    """A PostgreSQL schema migrated once per test run and emptied before each test that uses
    it. Creating and migrating a schema costs a test several times what emptying one does (an
    emptied schema holds what a fresh one does: the migrations seed no rows), and DELETE is
    faster than TRUNCATE on tables this small."""

    name: str
    tables: tuple[str, ...]  # every table but the migrations', referencing ones first

    @classmethod
    def create(cls) -> ReusedSchema:
        name = new_schema_name()
        Store.open(POSTGRES_URL, schema=name).close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = %s"
                    " AND tablename <> 'schema_migrations'",
                    (name,),
                )
            ]
            references = conn.execute(
                "SELECT src.relname, dst.relname FROM pg_constraint c"
                " JOIN pg_class src ON src.oid = c.conrelid"
                " JOIN pg_class dst ON dst.oid = c.confrelid"
                " JOIN pg_namespace n ON n.oid = src.relnamespace"
                " WHERE c.contype = 'f' AND n.nspname = %s",
                (name,),
            ).fetchall()
        order: TopologicalSorter[str] = TopologicalSorter({table: () for table in tables})
        for referencing, referenced in references:
            order.add(referenced, referencing)  # the referenced table's rows go last
        return cls(name, tuple(order.static_order()))

    def empty(self) -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn, conn.transaction():
            for table in self.tables:
                conn.execute(f'DELETE FROM "{self.name}"."{table}"')

    def drop(self) -> None:
        drop_schema(self.name)


def migrated_sqlite(directory: Path) -> Path:
    """A migrated SQLite database file to copy: copying one costs a test about a sixth of
    what creating and migrating a database does, and most tests start from one."""
    path = directory / "migrated.db"
    Store.open(f"sqlite:///{path}").close()  # closing checkpoints: the file is all there is
    return path


def open_store(
    backend: Backend, tmp_path: Path, schema: str | None = None, template: Path | None = None
) -> Store:
    """A migrated store: SQLite in `tmp_path` (a copy of `template` when given), or
    PostgreSQL in `schema`. PostgreSQL must be running: a test that needs it fails, never
    skips, when it is not."""
    if backend == "sqlite":
        path = tmp_path / "switchboard.db"
        if template is not None:
            shutil.copyfile(template, path)
        return Store.open(f"sqlite:///{path}")
    try:
        return Store.open(POSTGRES_URL, schema=schema)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL must be running at {POSTGRES_URL}: {error}")


def make_services(
    tmp_path: Path,
    backend: Backend = "sqlite",
    schema: str | None = None,
    template: Path | None = None,
    **overrides: Any,
) -> Services:
    """The services of a server with both test accounts, on a manual clock at START_MS."""
    # A manual clock, declared as such: the app then runs no tick loop of its own, and time
    # moves only when a test moves it (services.clock / POST /switchboard/clock).
    overrides.setdefault("clock", "manual")
    store = open_store(backend, tmp_path, schema, template)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'switchboard.db'}"
    else:
        url = POSTGRES_URL if schema is None else schema_url(schema)
    settings = Settings(database_url=url, **overrides)
    services = build_services(settings, store=store, clock=ManualClock(START_MS))
    services.engine.accounts.ensure_account(ACCOUNT_SID, AUTH_TOKEN)
    services.engine.accounts.ensure_account(OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN)
    return services
