"""Imports run one way (DESIGN.md, "Layout"): read every module's imports and check them.

A layer is a top-level module (`cli`, `models`) or package (`api`, `engine`, `storage`,
`expressions`). An arrow A → B lets A import B and, through B, whatever B may import: layers
below, never above. Modules of one layer import each other freely.
"""

from __future__ import annotations

import ast
import sys
from functools import cache

import pytest

from tests.support.imports import (
    PACKAGE,
    imported_names,
    layer_of,
    modules,
    target_layer,
    where,
)

# The arrows of DESIGN.md's "Imports run one way" block, one line per layer. A new module
# (routing, statistics, callbacks, dashboard …) is allowed in by adding its line here.
# Lines marked "+" are not in that block; each comes from DESIGN.md's layout text.
LAYERS: dict[str, set[str]] = {
    "__main__": {"cli"},  # + `python -m switchboard` is the cli
    "cli": {"app"},
    "app": {
        "middleware",
        "api",
        "realtime",
        "timers",
        "outbound",
        "metrics",
        "logs",
        "console",
    },  # + app.py's lifespan runs them
    # + the app's one ASGI middleware: calls each concern's function (request ids, body
    # limit, answer after commit, unexpected errors, request metrics) in order
    "middleware": {"api", "logs", "metrics", "asyncio_bridge", "errors"},
    # + the test kit: builds the app (app.py) and drives its senders without its lifespan
    "testing": {"app", "config", "timers", "outbound", "storage"},
    # The worker SDK's side: its gateway calls the REST API in process (through the app it is
    # given, not by importing api), its push reads committed events (BackgroundLoop).
    "realtime": {
        "engine",
        "statistics",
        "storage",
        "models",
        "config",
        "fastjson",
        "background",
        "asyncio_bridge",
    },
    # + Prometheus metrics: state read through the Store, counters from committed events
    "metrics": {"storage", "events", "models", "errors"},
    # + the web console: pages over the Store and the routing index, live by commit listener
    "console": {"engine", "storage", "fastjson", "asyncio_bridge"},
    "api": {"engine", "statistics", "storage", "errors", "config", "fastjson", "asyncio_bridge"},
    "engine": {"routing", "expressions", "events", "models", "storage", "errors", "fastjson"},
    "routing": {"expressions", "models"},
    "expressions": set(),
    "storage": {"models", "errors"},
    "statistics": {"storage", "models", "errors"},
    "timers": {"engine", "background"},
    # + both callback senders, their HTTP poster and the webhook signature
    "outbound": {"storage", "events", "background"},
    "background": {"asyncio_bridge"},  # + the one background loop: passes, backoff, status
    "logs": set(),  # + request ids and the JSON log format: standard library only
    "asyncio_bridge": set(),  # + reaching the event loop from a commit on any thread
    "models": set(),
    "errors": set(),
    "events": set(),
    "config": set(),  # + the frozen Settings; like models, it imports nothing of ours
    "fastjson": set(),  # + compact JSON for responses and event data (orjson, with a fallback)
    "switchboard": set(),  # + the package itself (its __version__); everyone may import it
}
EVERYONE_MAY_IMPORT = {"switchboard"}

# Third-party (and driver) modules, and the only layers that may import them.
RESTRICTED = {
    "starlette": {"api", "app", "cli", "realtime", "metrics", "console"},
    "jinja2": {"console"},
    # realtime: uvicorn's websocket protocol, trimmed for idle agents (uvicorn_protocol.py)
    "uvicorn": {"api", "app", "cli", "testing", "realtime"},
    "psycopg": {"storage"},
    "orjson": {"fastjson"},
    "httpx": {"outbound", "app", "testing"},  # testing: the test kit routes callbacks in process
    "sqlite3": {"storage"},
    # The test kit is what users' tests import: the SDK it serves and the plugin's pytest.
    "twilio": {"testing"},
    "pytest": {"testing"},
    # Access Tokens are JWTs; API key secrets are sealed at rest (storage/secret_box.py).
    "jwt": {"realtime"},
    "cryptography": {"storage"},
    "prometheus_client": {"metrics"},
}
# Pure layers: nothing but the standard library, their own modules and other pure layers.
STDLIB_ONLY = {"expressions", "background", "asyncio_bridge", "logs"}
# config.py is the only reader of the environment.
ENVIRONMENT_READERS = {"config"}


@cache
def reachable(layer: str) -> frozenset[str]:
    """Every layer `layer` may import: its arrows, and theirs, all the way down."""
    seen: set[str] = set()
    todo = list(LAYERS.get(layer, ()))
    while todo:
        nxt = todo.pop()
        if nxt not in seen:
            seen.add(nxt)
            todo.extend(LAYERS.get(nxt, ()))
    return frozenset(seen | EVERYONE_MAY_IMPORT | {layer})


def test_the_table_itself_runs_one_way() -> None:
    for layer in LAYERS:
        below = reachable(layer) - {layer} - EVERYONE_MAY_IMPORT
        assert layer not in {up for down in below for up in reachable(down) - {down}}, layer


def test_every_module_belongs_to_a_layer() -> None:
    unknown = {layer_of(p) for p in modules()} - set(LAYERS)
    assert not unknown, f"add a line to LAYERS for {sorted(unknown)}"


def test_imports_run_one_way() -> None:
    violations = []
    for path in modules():
        layer = layer_of(path)
        for line, name in imported_names(path):
            target = target_layer(name)
            if target is not None and target not in reachable(layer):
                violations.append(f"{where(path, line)}: {layer} imports {name}")
    assert not violations, "\n".join(violations)


@pytest.mark.parametrize("top", sorted(RESTRICTED))
def test_restricted_libraries_stay_in_their_layers(top: str) -> None:
    violations = [
        f"{where(path, line)}: {name}"
        for path in modules()
        if layer_of(path) not in RESTRICTED[top]
        for line, name in imported_names(path)
        if name.split(".")[0] == top
    ]
    assert not violations, "\n".join(violations)


@pytest.mark.parametrize("layer", sorted(STDLIB_ONLY))
def test_pure_layers_import_only_the_standard_library(layer: str) -> None:
    violations = [
        f"{where(path, line)}: {name}"
        for path in modules()
        if layer_of(path) == layer
        for line, name in imported_names(path)
        if target_layer(name) not in STDLIB_ONLY | {layer}
        and name.split(".")[0] not in sys.stdlib_module_names
    ]
    assert not violations, "\n".join(violations)


def test_only_config_reads_the_environment() -> None:
    violations = []
    for path in modules():
        if layer_of(path) in ENVIRONMENT_READERS:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
                violations.append(where(path, node.lineno))
    assert not violations, "\n".join(violations)


def test_the_reader_sees_lazy_and_relative_imports() -> None:
    """Guards the checker itself: a blind reader would pass every rule."""
    cli = dict((name, line) for line, name in imported_names(PACKAGE / "cli.py"))
    assert "uvicorn" in cli and "switchboard.app" in cli
    parser = {name for _, name in imported_names(PACKAGE / "expressions" / "parser.py")}
    assert "switchboard.expressions.lexer" in parser
    api = {name for _, name in imported_names(PACKAGE / "api" / "activities.py")}
    assert "switchboard.api.render" in api
