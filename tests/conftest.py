"""Shared fixtures: a server on a temporary database (SQLite, or PostgreSQL where a test is
run on both), reached through the official twilio SDK either in process (Starlette's
TestClient) or over a real uvicorn socket. What the fixtures are built from lives in
tests/support."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.rest import Client

from switchboard.api.context import Services
from switchboard.app import create_app
from tests.support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OTHER_ACCOUNT_SID,
    OTHER_AUTH_TOKEN,
    Backend,
    InProcessHttpClient,
    Receiver,
    ReusedSchema,
    RunningServer,
    drop_schema,
    make_services,
    migrated_sqlite,
    new_schema_name,
    sdk_client,
    serve,
)

# Fixtures kept with their helpers in tests/support, for the modules that ask for them.
pytest_plugins = ["tests.support.wire"]

# The SDK rewrites hosts when these are set (clients.md §1.1); a test run must not inherit them.
for _name in ("TWILIO_EDGE", "TWILIO_REGION"):
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = "127.0.0.1,localhost"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `both_databases` that uses `services` runs once on each database."""
    if "services" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_databases"
    ):
        metafunc.parametrize("backend", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Backend:
    """The database `services` opens: SQLite, unless the test is marked `both_databases`."""
    chosen: Backend = getattr(request, "param", "sqlite")
    return chosen


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database that each test's `services` starts from a copy of."""
    return migrated_sqlite(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def reused_pg_schema() -> Iterator[ReusedSchema]:
    """One migrated PostgreSQL schema for the run's `services` on PostgreSQL, emptied before
    each test: the REST API suite would spend most of its PostgreSQL time migrating."""
    schema = ReusedSchema.create()
    yield schema
    schema.drop()


@pytest.fixture
def services(
    backend: Backend, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Services]:
    schema, template = None, None
    if backend == "postgres":
        reused: ReusedSchema = request.getfixturevalue("reused_pg_schema")
        reused.empty()
        schema = reused.name
    else:
        template = request.getfixturevalue("sqlite_template")
    services = make_services(tmp_path, backend, schema, template)
    yield services
    services.store.close()


@pytest.fixture
def app(services: Services) -> Any:
    return create_app(services.settings, services=services)


@pytest.fixture
def http(app: Any) -> Iterator[TestClient]:
    """Raw HTTP in process, authenticated as the test account."""
    with TestClient(app, base_url="http://testserver") as client:
        client.auth = (ACCOUNT_SID, AUTH_TOKEN)
        yield client


@pytest.fixture
def client(app: Any, http: TestClient) -> Client:
    """The official SDK, served in process."""
    return sdk_client(InProcessHttpClient(app), "http://testserver")


@pytest.fixture
def other_client(app: Any, http: TestClient) -> Client:
    """The SDK as a second, unrelated account."""
    return sdk_client(
        InProcessHttpClient(app), "http://testserver", OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN
    )


@pytest.fixture
def workspace(client: Client) -> Any:
    """A fresh workspace, as the SDK returns it."""
    return client.taskrouter.v1.workspaces.create(friendly_name="Test Workspace")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[RunningServer]:
    services = make_services(tmp_path)
    with RunningServer(create_app(services.settings, services=services)) as server:
        yield server
    services.store.close()


@pytest.fixture
def live_client(live_server: RunningServer) -> Client:
    """The official SDK over a real socket, with its own requests-based HTTP client."""
    return sdk_client(None, live_server.url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A callback receiver on a loopback port; every path it was not told about is a 404."""
    yield from serve(Receiver())


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards. PostgreSQL must be running: tests that
    use it fail rather than skip when it is not."""
    name = new_schema_name()
    yield name
    drop_schema(name)
