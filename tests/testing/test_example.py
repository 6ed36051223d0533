"""The worked example of docs/testing.md: its tests pass when run as a project of its own
would run them (the plugin found through its entry point, no server started), and the
document shows the example's files as they are."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "testing.md"
EXAMPLE = ROOT / "examples" / "support_desk"


def test_the_example_tests_pass() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"\b3 passed\b", run.stdout), run.stdout


def test_the_guide_shows_the_example_as_it_is() -> None:
    text = GUIDE.read_text("utf-8")
    shown = re.findall(r"<!-- file: (\S+) -->\n```python\n(.*?)```\n", text, re.DOTALL)
    assert {name for name, _ in shown} == {
        "examples/support_desk/app.py",
        "examples/support_desk/test_app.py",
    }
    for name, code in shown:
        assert code == (ROOT / name).read_text("utf-8"), f"docs/testing.md shows an old {name}"
