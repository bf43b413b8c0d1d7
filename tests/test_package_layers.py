"""The layers of the package import only the layers below them (docs/architecture.md).

Every import counts, at module level, inside functions and under ``if TYPE_CHECKING:``: a lower
layer that needs a higher one's type has the type in the wrong place.
"""

from __future__ import annotations

import ast
from pathlib import Path

import eventledger

PACKAGE = Path(eventledger.__file__).parent

LAYERS: dict[str, int] = {
    "errors": 0,
    "backoff": 1,
    "events": 2,
    "versioning": 2,
    "store": 3,
    "domain": 4,
    "projections": 5,
    "compatibility": 6,
    "metrics": 6,
    "tracing": 6,
    "operations": 6,
    "testing": 7,
    "cli": 7,
    "sync": 7,
    "console": 7,
    "http": 8,
}
"""The top-level modules and packages, lowest first; a module may import its own layer or below."""


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "eventledger":
        return None
    if len(parts) == 1:
        return LAYERS["testing"]  # the package's own __init__: what applications import
    return LAYERS[parts[1]]


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def test_every_top_level_module_has_a_layer() -> None:
    names = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir()}
    names = {name for name in names if not name.startswith(("_", ".")) and name != "py"}
    assert names == set(LAYERS)


def test_no_module_imports_a_higher_layer() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        own = layer_of(name)
        assert own is not None
        for imported in imports_of(path):
            theirs = layer_of(imported)
            if theirs is not None and theirs > own:
                wrong.append(f"{name} imports {imported}")
    assert wrong == []


def test_no_module_is_longer_than_five_hundred_lines() -> None:
    """Small modules with one job each: a module that grows past 500 lines is doing two."""
    lengths = {module_name(path): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    assert {name: lines for name, lines in lengths.items() if lines > 500} == {}
