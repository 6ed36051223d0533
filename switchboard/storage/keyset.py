"""Keyset pagination in portable SQL: ORDER BY a list of fields and resume after a row.

Callers name fields as the records do (`date_created`, `sid`). Each list has a `Sortable`
saying which fields it may be sorted by and the SQL each stands for in the list's query (a
column through the alias its joins need), so no caller outside storage writes SQL, and a
field a list cannot sort by is refused rather than spliced into a statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from switchboard.storage.sql import marks, names

# (field, descending?), most significant first.
Order = Sequence[tuple[str, bool]]


@dataclass(frozen=True)
class Sortable:
    """The fields one list may be sorted by, each with the SQL it stands for."""

    columns: Mapping[str, str]

    @classmethod
    def of(cls, columns: str, alias: str = "") -> Sortable:
        """Every column of a comma-separated list, named through `alias` when the list's
        query joins other tables."""
        prefix = f"{alias}." if alias else ""
        return cls({name: f"{prefix}{name}" for name in names(columns)})

    def sql(self, order: Order) -> Order:
        """`order` with each field replaced by its SQL; ValueError for a field not sortable."""
        try:
            return [(self.columns[field], desc) for field, desc in order]
        except KeyError as error:
            raise ValueError(f"this list cannot be sorted by {error.args[0]!r}") from None

    def order_by(self, order: Order) -> str:
        return order_sql(self.sql(order))

    def after(self, order: Order, after: Sequence[Any]) -> tuple[str, list[Any]]:
        return after_sql(self.sql(order), after)

    def page(
        self, where: Sequence[str], params: Sequence[Any], order: Order, after: Sequence[Any] | None
    ) -> tuple[str, list[Any]]:
        """` WHERE … ORDER BY … LIMIT ?` for one page of rows sorting strictly after `after`
        (None: from the first), and its values; the caller appends the limit's value."""
        clauses, values = list(where), list(params)
        if after is not None:
            clause, extra = self.after(order, after)
            clauses.append(clause)
            values.extend(extra)
        sql = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return f"{sql} ORDER BY {self.order_by(order)} LIMIT ?", values


def order_sql(order: Order) -> str:
    """ORDER BY's list for SQL expressions."""
    return ", ".join(f"{column} {'DESC' if desc else 'ASC'}" for column, desc in order)


def after_sql(order: Order, after: Sequence[Any]) -> tuple[str, list[Any]]:
    """A condition true for rows that sort strictly after `after` (one value per column) in
    `order`, given in SQL expressions.

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
        op = "<" if directions.pop() else ">"
        return f"(({columns}) {op} ({marks(len(order))}))", list(after)
    clauses: list[str] = []
    params: list[Any] = []
    for i, (column, desc) in enumerate(order):
        parts = [f"{c} = ?" for c, _ in order[:i]]
        parts.append(f"{column} {'<' if desc else '>'} ?")
        clauses.append("(" + " AND ".join(parts) + ")")
        params.extend(after[:i])
        params.append(after[i])
    return "(" + " OR ".join(clauses) + ")", params
