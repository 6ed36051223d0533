"""The repository's Python read as source: switchboard's modules, the layer each belongs to,
and what any module, the package's or the tests', imports. The import rules are checked on
this reading."""

from __future__ import annotations

import ast
from pathlib import Path

import switchboard

PACKAGE = Path(switchboard.__file__).parent
ROOT = PACKAGE.parent
# The packages of this repository whose modules an import can name (`from tests.support import
# wire` names the module tests.support.wire, `from switchboard.api import ROUTES` the package).
OWN_PACKAGES = {"switchboard", "tests"}


def layer_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts == ("__init__",):
        return "switchboard"
    return parts[0]


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth (lazy imports
    inside functions count too). `from a import b` yields a.b when b is a module, else a."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if _is_module(candidate) else base))
    return found


def _is_module(name: str) -> bool:
    if name.split(".")[0] not in OWN_PACKAGES:
        return False
    relative = Path(*name.split("."))
    return (ROOT / relative).with_suffix(".py").exists() or (ROOT / relative).is_dir()


def target_layer(name: str) -> str | None:
    """The layer of an imported switchboard module, or None for anything else."""
    if name == "switchboard":
        return "switchboard"
    if name.startswith("switchboard."):
        return name.split(".")[1]
    return None


def where(path: Path, line: int) -> str:
    """`path:line`, the path from the repository's root."""
    return f"{path.relative_to(ROOT)}:{line}"
