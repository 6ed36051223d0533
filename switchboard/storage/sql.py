"""Pieces of portable SQL text that several statements build alike.

Placeholders are `?` everywhere (the PostgreSQL connection rewrites them); a list of them is
written here only, so no statement counts its own.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any


def marks(n: int) -> str:
    """`n` placeholders, comma-separated: marks(3) is "?, ?, ?"."""
    return ", ".join("?" * n)


def column_count(columns: str) -> int:
    return columns.count(",") + 1


@functools.cache
def insert_sql(table: str, columns: str) -> str:
    """INSERT of one row of `columns` (a comma-separated list), values in that order. Cached:
    the same few statements are built for every write."""
    return f"INSERT INTO {table} ({columns}) VALUES ({marks(column_count(columns))})"


def qualified(alias: str, columns: str) -> str:
    """A comma-separated column list with each column named through a table alias, for
    SELECTs that join: qualified("t", "sid, version") is "t.sid, t.version"."""
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


def names(columns: str) -> tuple[str, ...]:
    """The column names of a comma-separated list."""
    return tuple(c.strip() for c in columns.split(","))


def where_equal(where: list[str], params: list[Any], conditions: Iterable[tuple[str, Any]]) -> None:
    """A list's optional filters: `column = ?` added to `where`, and its value to `params`,
    for each (column, value) whose value is not None."""
    for column, value in conditions:
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
