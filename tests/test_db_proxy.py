"""The benchmark's database proxy counts what a client costs: statements and round trips."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from bench.db_proxy import DbProxy, FrontendReader, upstream_of
from tests.support import POSTGRES_URL


@pytest.fixture(scope="module")
def proxy() -> Iterator[DbProxy]:
    with DbProxy(*upstream_of(POSTGRES_URL), 0.0) as running:
        yield running


def test_each_awaited_statement_is_a_round_trip(proxy: DbProxy) -> None:
    with psycopg.connect(proxy.url(POSTGRES_URL), autocommit=True) as conn:
        before = proxy.counts()
        for i in range(3):
            conn.execute("SELECT %s", (i,)).fetchone()
        spent = proxy.counts() - before
    assert (spent.statements, spent.round_trips) == (3, 3)


def test_a_pipeline_is_one_round_trip(proxy: DbProxy) -> None:
    with psycopg.connect(proxy.url(POSTGRES_URL), autocommit=True) as conn:
        before = proxy.counts()
        with conn.pipeline():
            for i in range(5):
                conn.execute("SELECT %s", (i,))
        spent = proxy.counts() - before
    assert (spent.statements, spent.round_trips) == (5, 1)


def test_messages_split_across_reads_are_counted_once() -> None:
    startup = (16).to_bytes(4, "big") + (196608).to_bytes(4, "big") + b"user\0me\0"
    query = b"Q" + (13).to_bytes(4, "big") + b"SELECT 1\0"
    execute = b"E" + (9).to_bytes(4, "big") + b"\0" + (0).to_bytes(4, "big")
    stream = startup + query + execute + b"S" + (4).to_bytes(4, "big")
    reader = FrontendReader()
    assert sum(reader.feed(stream[i : i + 3]) for i in range(0, len(stream), 3)) == 2
