"""Storage keeps its mechanisms inside: only the Store is reached from outside the package,
and the package's own modules import one another one way."""

from __future__ import annotations

import ast

from tests.support.imports import (
    PACKAGE,
    imported_names,
    layer_of,
    module_name,
    modules,
    where,
)

# Modules that hold a connection or what a connection does; only storage may import them.
CONNECTION_MODULES = {
    f"switchboard.storage.{name}"
    for name in (
        "database",
        "databases",
        "sqlite",
        "postgres",
        "held_rows",
        "checkpointer",
        "timed",
        "readers",
    )
}
# Attributes of the Store that lead to its connection and commit mechanics.
STORE_INSIDES = {"db", "held", "attribute_texts"}


def storage_imports() -> dict[str, set[str]]:
    """Each storage module → the storage modules it imports (at any depth, TYPE_CHECKING
    blocks included: a cycle there still ties the two modules together)."""
    graph: dict[str, set[str]] = {}
    for path in (PACKAGE / "storage").glob("*.py"):
        if path.name == "__init__.py":
            continue
        graph[module_name(path)] = {
            name
            for _, name in imported_names(path)
            if name.startswith("switchboard.storage.") and name != module_name(path)
        }
    return graph


def cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path of imports from `start` back to itself, if there is one."""
    todo = [(start, [start])]
    seen: set[str] = set()
    while todo:
        node, path = todo.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                return [*path, nxt]
            if nxt not in seen:
                seen.add(nxt)
                todo.append((nxt, [*path, nxt]))
    return None


def test_storage_modules_import_one_another_without_a_cycle() -> None:
    graph = storage_imports()
    assert "switchboard.storage.columns" in graph["switchboard.storage.held_rows"]
    cycles = [cycle for module in graph if (cycle := cycle_through(graph, module))]
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_cycle_finder_finds_cycles() -> None:
    """Guards the checker itself: a blind finder would pass the test above."""
    assert cycle_through({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a") == ["a", "b", "c", "a"]
    assert cycle_through({"a": {"b"}, "b": {"c"}, "c": set()}, "a") is None


def test_nothing_outside_storage_reaches_a_connection() -> None:
    violations = []
    for path in modules():
        if layer_of(path) == "storage":
            continue
        violations += [
            f"{where(path, line)}: imports {name}"
            for line, name in imported_names(path)
            if name in CONNECTION_MODULES
        ]
        violations += [
            f"{where(path, node.lineno)}: .{node.attr}"
            for node in ast.walk(ast.parse(path.read_text("utf-8")))
            if isinstance(node, ast.Attribute) and node.attr in STORE_INSIDES
        ]
    assert not violations, "\n".join(violations)
