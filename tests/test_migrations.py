"""Schema migrations: applied once each, in order, recorded, and safe to race on start."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import psycopg
import pytest

from switchboard.storage import Database, Store, connect
from switchboard.storage.migrate import available_migrations, migrate
from tests.support import POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """(URL, schema) of an empty database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}", None
    return POSTGRES_URL, request.getfixturevalue("pg_schema")


@pytest.fixture
def database(target: tuple[str, str | None]) -> Iterator[Database]:
    url, schema = target
    try:
        db = connect(url, schema=schema)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL must be running at {POSTGRES_URL}: {error}")
    yield db
    db.close()


def recorded(db: Database) -> list[tuple[int, str]]:
    return [(r[0], r[1]) for r in db.fetchall("SELECT version, name FROM schema_migrations")]


def test_every_shipped_sql_file_is_a_migration() -> None:
    # A misnamed file would be skipped without a word; every .sql file must be picked up.
    folder = resources.files("switchboard.storage") / "migrations"
    files = sorted(e.name for e in folder.iterdir() if e.name.endswith(".sql"))
    shipped = available_migrations()
    assert [name for _, name, _ in shipped] == files
    assert [version for version, _, _ in shipped] == list(range(1, len(shipped) + 1))


def test_a_fresh_database_gets_every_migration(database: Database) -> None:
    shipped = available_migrations()
    assert migrate(database) == [name for _, name, _ in shipped]
    assert sorted(recorded(database)) == [(version, name) for version, name, _ in shipped]
    for table in ("accounts", "workspaces", "activities", "workers", "tombstones"):
        assert database.fetchall(f"SELECT * FROM {table}") == []


def test_migrating_again_applies_nothing(database: Database) -> None:
    migrate(database)
    before = recorded(database)
    assert migrate(database) == []
    assert recorded(database) == before


def test_opening_a_store_migrates_it(target: tuple[str, str | None]) -> None:
    url, schema = target
    store = Store.open(url, schema=schema)
    try:
        assert len(recorded(store.db)) == len(available_migrations())
        assert migrate(store.db) == []
    finally:
        store.close()


def open_in_parallel(url: str, schema: str | None) -> list[BaseException]:
    """Two Store.open calls released at the same moment; returns what they raised."""
    start = threading.Barrier(2)
    opened: list[Store] = []
    failures: list[BaseException] = []

    def open_store() -> None:
        start.wait()
        try:
            opened.append(Store.open(url, schema=schema))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in opened:
        if not failures:
            versions = sorted(version for version, _ in recorded(store.db))
            assert versions == [version for version, _, _ in available_migrations()]
        store.close()
    return failures


def test_parallel_opens_of_one_database_both_succeed(
    target: tuple[str, str | None], tmp_path: Path
) -> None:
    """Several processes starting at once on a new database: the migration lock makes them
    take turns, so each migration runs once and every process starts. The race is narrow, so
    it is run on several fresh databases."""
    url, schema = target
    extra = [f"{schema}_{round}" for round in range(4)] if schema else []
    try:
        for round in range(4):
            if schema:
                failures = open_in_parallel(url, extra[round])
            else:
                failures = open_in_parallel(f"sqlite:///{tmp_path / f'race{round}.db'}", None)
            assert failures == [], f"round {round}"
    finally:
        if extra:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                for name in extra:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_a_migration_for_one_database_is_recorded_on_both(database: Database) -> None:
    """`.postgres.sql` tunes PostgreSQL's storage; SQLite records the version and skips it."""
    migrate(database)
    versions = {name: version for version, name in recorded(database)}
    assert "0007_events_stay_inline.postgres.sql" in versions
    if database.dialect == "postgres":
        row = database.fetchone("SELECT reloptions FROM pg_class WHERE oid = 'events'::regclass")
        assert row is not None and "toast_tuple_target=8160" in row[0]
