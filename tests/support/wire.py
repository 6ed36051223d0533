"""PostgreSQL through a counting proxy: what the round-trip tests measure a Store with. A
pytest plugin of the suite's (tests/conftest.py): its fixtures serve every test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.db_proxy import Counts, DbProxy, upstream_of
from switchboard.storage import Store
from tests.support.databases import POSTGRES_URL


def spent(proxy: DbProxy, before: Counts) -> int:
    """Round trips through `proxy` since `before` (a `proxy.counts()` reading)."""
    return (proxy.counts() - before).round_trips


@pytest.fixture(scope="module")
def wire_proxy() -> Iterator[DbProxy]:
    """A proxy in front of the test database that adds no delay and counts round trips."""
    with DbProxy(*upstream_of(POSTGRES_URL), 0.0) as running:
        yield running


@pytest.fixture
def wired_store(wire_proxy: DbProxy, pg_schema: str) -> Iterator[Store]:
    """A Store on the test's schema whose every statement goes through `wire_proxy`."""
    opened = Store.open(wire_proxy.url(POSTGRES_URL), schema=pg_schema)
    yield opened
    opened.close()
