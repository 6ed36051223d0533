"""Store.copy_in_memory, which gives every kit its own migrated database."""

from __future__ import annotations

import pytest

from switchboard.storage import Store


def test_a_copy_holds_the_rows_and_shares_nothing_after() -> None:
    original = Store.open("sqlite:///:memory:")
    original.set_meta_once("mark", "before")
    copy = original.copy_in_memory()
    original.db.execute("UPDATE meta SET value = 'after' WHERE key = 'mark'")
    assert copy.set_meta_once("mark", "ignored") == "before"
    assert original.set_meta_once("mark", "ignored") == "after"


def test_only_sqlite_is_copied(pg_schema: str) -> None:
    from tests.support import POSTGRES_URL

    store = Store.open(POSTGRES_URL, schema=pg_schema)
    try:
        with pytest.raises(ValueError, match="SQLite"):
            store.copy_in_memory()
    finally:
        store.close()
