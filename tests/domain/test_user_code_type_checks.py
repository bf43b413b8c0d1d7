"""User code type-checks under mypy --strict with no casts, and mypy still catches real mistakes.

Runs mypy (with the project's configuration and the pydantic plugin) on the order example's
domain, on the unique-values example, on a user-style module that uses every write-side entry
point, and on a module of deliberate mistakes, each marked ``# expect: <error code>`` on its line.
"""

from __future__ import annotations

import re
from pathlib import Path

from strict_mypy import ROOT, mypy_strict

USER_CODE = Path(__file__).resolve().parent / "typed_user_code"
WELL_TYPED = [
    ROOT / "examples" / "orders" / "domain.py",
    *sorted((ROOT / "examples" / "unique_values").glob("*.py")),
    USER_CODE / "well_typed_user_code.py",
]
BADLY_TYPED = USER_CODE / "badly_typed_user_code.py"

ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


def run_mypy(tmp_path: Path) -> list[tuple[str, int, str]]:
    completed = mypy_strict([*WELL_TYPED, BADLY_TYPED], tmp_path / "mypy-cache")
    errors = []
    for line in completed.stdout.splitlines():
        match = ERROR.match(line)
        assert match is not None, f"unexpected mypy output: {line}\n{completed.stderr}"
        errors.append((Path(match["path"]).name, int(match["line"]), match["code"]))
    return errors


def expected_errors() -> list[tuple[str, int, str]]:
    expected = []
    for number, line in enumerate(BADLY_TYPED.read_text().splitlines(), start=1):
        marker = re.search(r"# expect: ([a-z-]+)$", line)
        if marker:
            expected.append((BADLY_TYPED.name, number, marker[1]))
    return expected


def test_mypy_passes_user_code_and_reports_exactly_the_planted_mistakes(tmp_path: Path) -> None:
    expected = expected_errors()
    assert len(expected) == 12
    assert sorted(run_mypy(tmp_path)) == sorted(expected)
