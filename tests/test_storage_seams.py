"""Storage keeps its mechanisms inside: only the Store is reached from outside the package,
the Store is built of named collaborators, and the package's own modules import one another
one way."""

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
# Attributes of the Store and its collaborators that lead to their connection and commit
# mechanics.
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


def _rows_classes(tree: ast.Module) -> list[ast.ClassDef]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.name.endswith("Rows")
    ]


def store_collaborators() -> dict[str, str]:
    """Class → the Store attribute its instance is kept under, from `Store.__init__`."""
    tree = ast.parse((PACKAGE / "storage" / "store.py").read_text("utf-8"))
    (store,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Store"]
    assert not store.bases, "the Store inherits nothing: it names its collaborators"
    (init,) = [n for n in store.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
    built: dict[str, str] = {}
    for node in ast.walk(init):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and isinstance(targets[0], ast.Attribute)
            ):
                built[value.func.id] = targets[0].attr
    return built


def test_the_store_builds_and_names_every_collaborator() -> None:
    """Each `…Rows` class of storage is built by the Store under a name of its own
    (`store.tasks`, `store.event_streams`, …), and none is a base of another class."""
    built = store_collaborators()
    assert built["TaskRows"] == "tasks" and built["EventStreamRows"] == "event_streams"
    violations = []
    for path in (PACKAGE / "storage").glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        violations += [
            f"{where(path, cls.lineno)}: {cls.name} is not built by the Store"
            for cls in _rows_classes(tree)
            if cls.name not in built
        ]
        violations += [
            f"{where(path, node.lineno)}: {node.name} stacks {base.id}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            for base in node.bases
            if isinstance(base, ast.Name) and base.id.endswith("Rows")
        ]
    assert not violations, "\n".join(violations)


def test_only_the_store_builds_its_collaborators() -> None:
    """Outside storage, a collaborator is reached through the Store (`store.tasks`), never
    imported and built on its own."""
    violations = [
        f"{where(path, node.lineno)}: imports {alias.name}"
        for path in modules()
        if layer_of(path) != "storage"
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("switchboard.storage")
        for alias in node.names
        if alias.name.endswith("Rows")
    ]
    assert not violations, "\n".join(violations)
