"""The plugin ships with the package and stays inert until a test uses it."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points


def test_the_plugin_is_registered_with_pytest() -> None:
    found = {e.name: e.value for e in entry_points(group="pytest11")}
    assert found.get("switchboard") == "switchboard.testing.plugin"


def test_loading_the_plugin_loads_nothing_else() -> None:
    code = (
        "import sys, switchboard.testing.plugin;"
        "print(sorted(m for m in ('twilio', 'starlette', 'switchboard.app') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
