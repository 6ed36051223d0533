"""Generate docs/parity.md: every operation and parameter of Twilio's TaskRouter v1, whether
Switchboard serves and reads it, which tests call it, and where it deliberately differs.

    python tools/parity.py                  # print the table
    python tools/parity.py --write          # write docs/parity.md
    python tools/parity.py --check          # exit 1 when docs/parity.md is out of date
    python tools/parity.py --spec PATH ...  # read Twilio's OpenAPI description from PATH

Three sources:

- Twilio's OpenAPI description (shared/reference/twilio_taskrouter_v1.json). What the table
  needs of it, each operation's method, path and parameter names, is kept in
  tools/taskrouter_v1_operations.json beside this script, so the table and its test do not
  depend on a copy of shared/ being present. With the description at hand (--spec, else
  ../shared/reference/ beside the clone when it exists) that file is derived from it again.
- The route table (switchboard.api.TABLE): which operations are served, and by what. A
  parameter counts as read when its name is in the source of the handler or of what the
  handler uses from the api package (helpers, field tables); paging parameters when the
  handler pages; headers by their lower-case name.
- The test suite (tests/ and examples/): a test file calls an operation when it uses the
  SDK's call for it (`.workers(sid).fetch(`, `.workers.list(` …) or requests its path with
  raw HTTP. Calls through a variable bound to a resource are not seen, so a file may call
  more than it is credited with; never less.

Deliberate differences are written here (DIFFERENCES), each with the heading of
docs/decisions.md that gives the reason; a heading that no longer exists is an error.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = Path(__file__).with_name("taskrouter_v1_operations.json")
DOC = ROOT / "docs" / "parity.md"
DECISIONS = ROOT / "docs" / "decisions.md"
SPEC_NEAR = ROOT.parent / "shared" / "reference" / "twilio_taskrouter_v1.json"
PAGING = ("PageSize", "Page", "PageToken")

# (operation, parameter or None) → (what differs, the decisions.md heading that says why)
DIFFERENCES: dict[tuple[str, str | None], tuple[str, str]] = {
    ("ListWorker", "TargetWorkersExpression"): (
        "may also use `sid`, `friendly_name`, `activity_sid` and `activity_name`",
        "Worker and WorkerChannel",
    ),
    ("ListTaskQueue", "WorkerSid"): (
        "a worker that does not exist is a 404, not an empty list",
        "TaskQueue",
    ),
    ("CreateWorker", None): (
        "at most `max_workers_per_workspace` workers (15,000), a 400 with code 20001 beyond",
        "Worker and WorkerChannel",
    ),
    ("CreateTaskChannel", "UniqueName"): (
        "hyphens accepted, but only identifier names work in `worker.channel.<name>`",
        "TaskChannel",
    ),
    ("CreateWorkflow", "Configuration"): (
        "unknown keys (a misspelt `time_out`) are a 400 listing the allowed ones",
        "Workflows and routing",
    ),
    ("ListEvent", None): (
        "events older than the retention period (30 days, a setting) are deleted",
        "Events and event callbacks",
    ),
}


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # query, header or form


@dataclass(frozen=True)
class Operation:
    id: str
    method: str
    path: str
    parameters: tuple[Parameter, ...]

    @property
    def shape(self) -> str:
        return _shape(self.path)


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


# -- Twilio's description ---------------------------------------------------------------------


def operations_from_spec(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """What the table needs of the OpenAPI description, in a stable order."""
    found = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "delete"):
                continue
            params = [
                {"name": p["name"], "in": p["in"]}
                for p in op.get("parameters", [])
                if p["in"] != "path"
            ]
            for content in op.get("requestBody", {}).get("content", {}).values():
                for name in content.get("schema", {}).get("properties", {}):
                    params.append({"name": name, "in": "form"})
            found.append(
                {"id": op["operationId"], "method": method.upper(), "path": path,
                 "parameters": params}
            )  # fmt: skip
    return sorted(found, key=lambda o: (o["path"], o["method"]))


def load_operations(path: Path = OPERATIONS) -> list[Operation]:
    return [
        Operation(
            o["id"],
            o["method"],
            o["path"],
            tuple(Parameter(p["name"], p["in"]) for p in o["parameters"]),
        )
        for o in json.loads(path.read_text("utf-8"))
    ]


def derived_text(spec_path: Path) -> str:
    spec = json.loads(spec_path.read_text("utf-8"))
    return json.dumps(operations_from_spec(spec), indent=1) + "\n"


# -- Switchboard's routes ---------------------------------------------------------------------


def served() -> dict[tuple[str, str], Callable[..., Any]]:
    """(method, path shape) → the handler, from the route table."""
    api = importlib.import_module("switchboard.api")
    routes: dict[tuple[str, str], Callable[..., Any]] = {}
    for route in api.TABLE:
        for method in route.methods or ():
            if method != "HEAD":
                routes[(method, _shape(route.path))] = route.endpoint
    return routes


class SourceReader:
    """The source a handler runs: its own, and that of every function or constant of the
    api package it names, followed from module to module."""

    def __init__(self) -> None:
        self._modules: dict[str, tuple[ModuleType, ast.Module, list[str]]] = {}
        self._pieces: dict[tuple[str, str], tuple[str, list[tuple[str, str]]]] = {}

    def _module(self, name: str) -> tuple[ModuleType, ast.Module, list[str]]:
        if name not in self._modules:
            module = importlib.import_module(name)
            text = inspect.getsource(module)
            self._modules[name] = (module, ast.parse(text), text.splitlines())
        return self._modules[name]

    def _piece(self, key: tuple[str, str]) -> tuple[str, list[tuple[str, str]]]:
        """One top-level definition's text, and the definitions it names."""
        if key not in self._pieces:
            module, tree, lines = self._module(key[0])
            node = _top_level(tree, key[1])
            if node is None:
                self._pieces[key] = ("", [])
            else:
                text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                uses = [_defined_in(module, tree, name) for name in _names_in(node)]
                self._pieces[key] = (text, [u for u in uses if u is not None])
        return self._pieces[key]

    def source(self, handler: Callable[..., Any]) -> str:
        seen: set[tuple[str, str]] = set()
        todo = [(handler.__module__, handler.__name__)]
        parts = []
        while todo:
            key = todo.pop()
            if key in seen or not key[0].startswith("switchboard.api"):
                continue
            seen.add(key)
            text, uses = self._piece(key)
            parts.append(text)
            todo.extend(uses)
        return "\n".join(parts)


def _top_level(tree: ast.Module, name: str) -> ast.stmt | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == name:
                return node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return node
    return None


def _names_in(node: ast.AST) -> set[str]:
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            names.add(f"{sub.value.id}.{sub.attr}")
    return names


def _defined_in(module: ModuleType, tree: ast.Module, name: str) -> tuple[str, str] | None:
    """Where a name used in `module` is defined: (module, top-level name)."""
    head, _, attr = name.partition(".")
    value = getattr(module, head, None)
    if attr and isinstance(value, ModuleType):
        return (value.__name__, attr)
    if attr:
        return None
    if _top_level(tree, head) is not None:
        return (module.__name__, head)
    origin = getattr(value, "__module__", None)
    if isinstance(origin, str) and callable(value):
        return (origin, getattr(value, "__name__", head))
    return None


def is_read(parameter: Parameter, source: str) -> bool:
    if parameter.where == "header":
        return parameter.name.lower() in source.lower()
    if parameter.name in PAGING:
        return ".paginate(" in source
    return f'"{parameter.name}"' in source


# -- the tests --------------------------------------------------------------------------------

_VERBS = {"list": r"(?:list|stream|page)", "create": "create", "fetch": "fetch",
          "update": "update", "delete": "delete"}  # fmt: skip
_SDK_NAMES = {"Channels": "worker_channels"}
_CALL = r"\((?:[^()]|\([^()]*\))*\)"  # a call, its arguments holding calls one deep


def _snake(segment: str) -> str:
    return _SDK_NAMES.get(segment) or re.sub(r"(?<!^)(?=[A-Z])", "_", segment).lower()


def _chain_start(segments: list[str]) -> int:
    """Where the SDK chain a test must show begins: the resource and its parent, since tests
    keep a workspace (or a worker) in a variable; the workspace itself only for its own
    statistics, which would otherwise read like a worker's or a queue's."""
    literal = [i for i, s in enumerate(segments) if not s.startswith("{")]
    start = literal[-2] if len(literal) >= 2 else literal[-1]
    if segments[start] == "Workspaces" and not segments[literal[-1]].endswith("Statistics"):
        start = literal[-1]
    return start


def call_patterns(op: Operation) -> list[re.Pattern[str]]:
    """How a test calls `op`: the SDK's chain for it, or its path over raw HTTP."""
    segments = op.path.removeprefix("/v1/").split("/")
    instance = segments[-1].startswith("{")
    literals = [s for s in segments if not s.startswith("{")]
    if op.method == "GET":
        verb = "fetch" if instance or literals[-1].endswith("Statistics") else "list"
    else:
        verb = {"POST": "update" if instance else "create", "DELETE": "delete"}[op.method]
    chain = ""
    for i, segment in enumerate(segments):
        if segment.startswith("{") or i < _chain_start(segments):
            continue
        called = i + 1 < len(segments) and segments[i + 1].startswith("{")
        chain += rf"\.{_snake(segment)}" + (_CALL if called else r"(?:\(\))?")
    sdk = re.compile(chain + rf"\.{_VERBS[verb]}\(")
    placeholder = r"(?:\{[^}]*\}|[A-Z]{2}[0-9a-fA-F]{32}|[A-Za-z_]\w*)"
    path = "/".join(placeholder if s.startswith("{") else re.escape(s) for s in segments)
    raw = re.compile(rf"\.{op.method.lower()}\(\s*f?[\"'](?:[^\"']*)?/v1/{path}[\"'?]")
    return [sdk, raw]


def suite_sources() -> dict[str, str]:
    files = sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "examples").rglob("test_*.py"))
    return {
        str(f.relative_to(ROOT)): re.sub(r"\s+", "", f.read_text("utf-8")).replace(",)", ")")
        for f in files
    }


def tests_calling(op: Operation, sources: dict[str, str]) -> list[str]:
    patterns = call_patterns(op)
    return [name for name, text in sources.items() if any(p.search(text) for p in patterns)]


# -- the table --------------------------------------------------------------------------------


def decision_anchors() -> dict[str, str]:
    """decisions.md's headings → their anchors (GitHub's slugs)."""
    anchors = {}
    for line in DECISIONS.read_text("utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
            anchors[title] = slug
    return anchors


def _link(heading: str, anchors: dict[str, str]) -> str:
    if heading not in anchors:
        raise SystemExit(f"parity.py: docs/decisions.md has no heading {heading!r}")
    return f"[decisions: {heading}](decisions.md#{anchors[heading]})"


def render(operations: Iterable[Operation]) -> str:
    routes = served()
    reader = SourceReader()
    sources = suite_sources()
    anchors = decision_anchors()
    ops = sorted(operations, key=lambda o: o.id)
    rows, sections = [], []
    served_count = read_count = total_params = 0
    for op in ops:
        handler = routes.pop((op.method, op.shape), None)
        source = reader.source(handler) if handler else ""
        read = {p: handler is not None and is_read(p, source) for p in op.parameters}
        tests = tests_calling(op, sources)
        served_count += handler is not None
        read_count += sum(read.values())
        total_params += len(op.parameters)
        where = _name(handler) if handler else "**not served**"
        rows.append(
            f"| [{op.id}](#{op.id.lower()}) | `{op.method} {op.path}` "
            f"| {where} "
            f"| {sum(read.values())}/{len(op.parameters)} | {len(tests)} |"
        )
        sections.append(_section(op, handler is not None, read, tests, anchors))
    own = sorted(f"| `{method} {shape}` | {_name(h)} |" for (method, shape), h in routes.items())
    head = [
        "# Parity with Twilio's TaskRouter v1",
        "",
        "Generated by `python tools/parity.py --write` from Twilio's OpenAPI description",
        "(`tools/taskrouter_v1_operations.json`, derived from `twilio_taskrouter_v1.json`),",
        "Switchboard's route table (`switchboard/api/__init__.py`) and the test suite;",
        "`tests/testing/test_parity.py` fails when it is out of date. *Read* means the",
        "handler reads the parameter; *tests* counts the test files that call the operation",
        "through the SDK or its path (see the script for how they are found).",
        "",
        f"**{served_count} of {len(ops)} operations served; {read_count} of {total_params}"
        " parameters read.**",
        "",
        "| Operation | Request | Served by | Parameters read | Test files |",
        "| --- | --- | --- | --- | --- |",
    ]
    differences = [
        f"- **{op_id}**{f' `{param}`' if param else ''}: {what} ({_link(heading, anchors)})"
        for (op_id, param), (what, heading) in sorted(
            DIFFERENCES.items(), key=lambda item: (item[0][0], item[0][1] or "")
        )
    ]
    tail = [
        "",
        "## Deliberate differences",
        "",
        "Where Switchboard does not do what Twilio documents, on purpose; the reason is in",
        "the decision linked. (Points Twilio leaves open are decided there too.)",
        "",
        *differences,
        "",
        "## Switchboard's own endpoints",
        "",
        "Not part of Twilio's API: health, the manual clock, explanations and delivery state.",
        "",
        "| Request | Served by |",
        "| --- | --- |",
        *own,
        "",
    ]
    return "\n".join([*head, *rows, "", "## Operations", "", *sections, *tail])


def _name(handler: Callable[..., Any]) -> str:
    return f"`{handler.__module__.removeprefix('switchboard.')}.{handler.__name__}`"


def _section(
    op: Operation, is_served: bool, read: dict[Parameter, bool], tests: list[str],
    anchors: dict[str, str],
) -> str:  # fmt: skip
    lines = [
        f"### {op.id}",
        "",
        f"`{op.method} {op.path}`" + ("" if is_served else ": **not served**"),
    ]
    note = DIFFERENCES.get((op.id, None))
    if note:
        lines += ["", f"Differs: {note[0]} ({_link(note[1], anchors)})."]
    if op.parameters:
        lines += ["", "| Parameter | In | Read | Differs |", "| --- | --- | --- | --- |"]
        for p in op.parameters:
            differs = DIFFERENCES.get((op.id, p.name))
            text = f"{differs[0]} ({_link(differs[1], anchors)})" if differs else ""
            lines.append(f"| `{p.name}` | {p.where} | {'yes' if read[p] else '**no**'} | {text} |")
    listed = ", ".join(f"`{t}`" for t in tests) if tests else "none found"
    lines += ["", f"Tests: {listed}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, help="Twilio's twilio_taskrouter_v1.json")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="write docs/parity.md")
    action.add_argument("--check", action="store_true", help="fail when it is out of date")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    spec = args.spec or (SPEC_NEAR if SPEC_NEAR.exists() else None)
    if args.spec and not args.spec.exists():
        parser.error(f"no such file: {args.spec}")
    stale = []
    if spec is not None:
        derived = derived_text(spec)
        if OPERATIONS.read_text("utf-8") != derived:
            stale.append(str(OPERATIONS.relative_to(ROOT)))
            if args.write:
                OPERATIONS.write_text(derived, "utf-8")
    table = render(load_operations())
    if args.write:
        DOC.write_text(table, "utf-8")
        return 0
    if args.check:
        if DOC.read_text("utf-8") != table:
            stale.append(str(DOC.relative_to(ROOT)))
        for name in stale:
            print(f"{name} is out of date: run python tools/parity.py --write", file=sys.stderr)
        return 1 if stale else 0
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
