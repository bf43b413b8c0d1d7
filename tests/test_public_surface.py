"""The public surface: a small top level, and the README's "Where everything lives" kept true.

The README lists the names at the top of ``eventledger`` and the module that holds each of the
others; these tests read those two tables and check them against the code, so that neither can
drift from the other.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import eventledger as el

README = Path(__file__).resolve().parents[1] / "README.md"


def table_rows(heading: str) -> list[list[str]]:
    """The rows (cells) of the first Markdown table after the text ``heading`` in the README."""
    text = README.read_text()
    start = text.index(heading)
    rows = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # past the header and the rule


def names_in(cell: str) -> list[str]:
    """The identifiers a cell names in backticks (``open_store``, ``stored_statuses(store, ...)``)."""
    return [match.group(1) for match in re.finditer(r"`([A-Za-z_][\w.]*)(?:\([^`]*\))?`", cell)]


def test_the_top_level_stays_small() -> None:
    assert len(el.__all__) <= 40


def test_every_top_level_name_exists_and_says_what_it_is() -> None:
    for name in el.__all__:
        value = getattr(el, name)
        documented = getattr(value, "__doc__", None) or not callable(value)
        assert documented, f"el.{name} has no docstring"


def test_the_readme_lists_exactly_the_top_level_names() -> None:
    listed = [name for _, names in table_rows("`import eventledger as el` gives") for name in names_in(names)]

    assert sorted(listed) == sorted(el.__all__)


def test_every_name_the_readme_places_in_a_module_is_there() -> None:
    missing = []
    for module_cell, names in table_rows("Everything else lives in the module that owns it"):
        [module_name] = names_in(module_cell)
        modules = [name for name in names_in(names) if name.startswith("eventledger.")]
        found: list[Any] = [importlib.import_module(name) for name in [module_name, *modules]]
        for name in names_in(names):
            if name in modules:
                continue
            owner = next((place for place in found if hasattr(place, name)), None)
            if owner is None:
                missing.append(f"{module_name}: {name}")
            else:
                found.append(getattr(owner, name))
    assert missing == []
