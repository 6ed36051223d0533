"""Keyset pagination in portable SQL: ORDER BY a list of columns and resume after a row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# (column expression, descending?)
Order = Sequence[tuple[str, bool]]


def order_sql(order: Order) -> str:
    return ", ".join(f"{column} {'DESC' if desc else 'ASC'}" for column, desc in order)


def after_sql(order: Order, after: Sequence[Any]) -> tuple[str, list[Any]]:
    """A condition true for rows that sort strictly after `after` (one value per column).

    All columns in one direction: (c1, c2) > (v1, v2). Mixed directions: expanded as
    (c1 > v1) OR (c1 = v1 AND c2 > v2) OR …, flipping the comparison for descending columns.
    """
    if len(after) != len(order):
        raise ValueError("the resume key does not fit the ordering")
    directions = {desc for _, desc in order}
    if len(directions) == 1:
        # One direction: a row-value comparison, which both databases turn into an index
        # seek (the expanded OR form below makes SQLite scan from the first row).
        columns = ", ".join(column for column, _ in order)
        marks = ", ".join("?" for _ in order)
        op = "<" if directions.pop() else ">"
        return f"(({columns}) {op} ({marks}))", list(after)
    clauses: list[str] = []
    params: list[Any] = []
    for i, (column, desc) in enumerate(order):
        parts = [f"{c} = ?" for c, _ in order[:i]]
        parts.append(f"{column} {'<' if desc else '>'} ?")
        clauses.append("(" + " AND ".join(parts) + ")")
        params.extend(after[:i])
        params.append(after[i])
    return "(" + " OR ".join(clauses) + ")", params
