"""``Projection[Session, SomeTarget]`` keeps the target's concrete type for the type checker, and
``Projection[Session]`` still means any target of that session (user code under mypy --strict)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from domain.strict_mypy import mypy_strict
from eventledger.projections import SQLiteTarget

USER_CODE = Path(__file__).resolve().parent / "typed_projection_code"
WELL_TYPED = USER_CODE / "well_typed_projections.py"
BADLY_TYPED = USER_CODE / "badly_typed_projections.py"

ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


def planted_mistakes() -> list[tuple[str, int, str]]:
    planted = []
    for number, line in enumerate(BADLY_TYPED.read_text().splitlines(), start=1):
        marker = re.search(r"# expect: ([a-z-]+)$", line)
        if marker:
            planted.append((BADLY_TYPED.name, number, marker[1]))
    return planted


def test_mypy_passes_typed_targets_and_reports_exactly_the_planted_mistakes(tmp_path: Path) -> None:
    completed = mypy_strict([WELL_TYPED, BADLY_TYPED], tmp_path / "mypy-cache")
    reported = []
    for line in completed.stdout.splitlines():
        match = ERROR.match(line)
        assert match is not None, f"unexpected mypy output: {line}\n{completed.stderr}"
        reported.append((Path(match["path"]).name, int(match["line"]), match["code"]))

    planted = planted_mistakes()
    assert len(planted) == 7
    assert sorted(reported) == sorted(planted)


def test_both_spellings_of_a_projection_work_at_run_time(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("well_typed_projections", WELL_TYPED)
    assert spec is not None and spec.loader is not None
    user_code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(user_code)
    target = SQLiteTarget(tmp_path / "read.db")

    assert user_code.Totals(target).target is target
    assert user_code.AnySQLTotals(target).target is target
