"""docs/parity.md is the table tools/parity.py makes from Twilio's description, the route
table and the tests as they are now."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def parity() -> ModuleType:
    spec = importlib.util.spec_from_file_location("parity", ROOT / "tools" / "parity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["parity"] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_the_table_is_up_to_date() -> None:
    tool = parity()
    table = tool.render(tool.load_operations())
    assert (ROOT / "docs" / "parity.md").read_text("utf-8") == table, (
        "docs/parity.md is out of date: run python tools/parity.py --write"
    )


def test_it_covers_every_operation_twilio_describes() -> None:
    operations = parity().load_operations()
    assert len(operations) == 61
    assert len({(o.method, o.path) for o in operations}) == 61


def test_the_kept_operations_are_twilios() -> None:
    """The committed extract matches the description, where a copy of shared/ lies beside
    the clone (CI's layout); elsewhere `tools/parity.py --spec PATH --check` does this."""
    tool = parity()
    if not tool.SPEC_NEAR.exists():
        pytest.skip(f"no {tool.SPEC_NEAR} here")
    assert tool.OPERATIONS.read_text("utf-8") == tool.derived_text(tool.SPEC_NEAR)
