"""The suite's own layout: what test modules share lives in tests/support, so a test module
imports from tests/support (and the pytest plugin in tests/conftest.py), never from another
test module, whose fixtures and helpers would otherwise come and go with its tests."""

from __future__ import annotations

from pathlib import Path

from tests.support.imports import ROOT, imported_names, where

TESTS = ROOT / "tests"
SHARED = ("tests.support", "tests.conftest")


def suite_modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "node_modules" not in p.parts)


def shared_wrongly(name: str) -> bool:
    """Whether importing the module `name` takes from the suite anything but what it shares."""
    if name != "tests" and not name.startswith("tests."):
        return False
    shared = any(name == s or name.startswith(f"{s}.") for s in SHARED)
    return not shared


def test_test_modules_import_only_what_the_suite_shares() -> None:
    violations = sorted(
        {
            f"{where(path, line)}: imports {name}"
            for path in suite_modules()
            for line, name in imported_names(path)
            if shared_wrongly(name)
        }
    )
    assert not violations, "move what is shared to tests/support:\n" + "\n".join(violations)


def test_the_rule_tells_shared_modules_from_test_modules() -> None:
    """Guards the check itself: a rule that let everything through would pass the test above."""
    assert shared_wrongly("tests.test_realtime")
    assert shared_wrongly("tests.api.test_tasks")
    assert shared_wrongly("tests")  # `from tests import test_x`, however it is read
    assert not shared_wrongly("tests.support")
    assert not shared_wrongly("tests.support.gateway")
    assert not shared_wrongly("tests.conftest")
    assert not shared_wrongly("switchboard.engine")
    assert not shared_wrongly("testsuite")


def test_the_reader_names_the_test_modules_imported() -> None:
    """`from tests.support import gateway` names the module, `from tests.support import Env`
    the package; a reader that stopped at `tests` would see no test module imported."""
    realtime = {name for _, name in imported_names(TESTS / "test_realtime.py")}
    assert {"tests.support", "tests.support.gateway", "tests.support.tcp_proxy"} <= realtime
    presence = {name for _, name in imported_names(TESTS / "test_realtime_presence.py")}
    assert "tests.support.gateway" in presence
