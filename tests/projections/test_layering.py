"""Where the read side's types live: the targets never need the projection module, so neither
imports the other, not even for type checking (a target asks only for a ReadModelSchema)."""

from __future__ import annotations

import ast
from pathlib import Path

import eventledger.projections

PROJECTIONS = Path(eventledger.projections.__file__).parent
PROJECTION_MODULE = "eventledger.projections.projection"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports anywhere (top level, functions, ``if TYPE_CHECKING:``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_target_imports_the_projection_module() -> None:
    targets = sorted((PROJECTIONS / "targets").glob("*.py"))
    assert targets
    for path in targets:
        assert PROJECTION_MODULE not in imported_modules(path), path.name


def test_the_types_both_need_live_below_both() -> None:
    for below in ("builds.py", "failures.py"):
        imported = imported_modules(PROJECTIONS / below)
        assert not {name for name in imported if name.startswith(("eventledger.projections.projection",
                                                                  "eventledger.projections.targets"))}, below
