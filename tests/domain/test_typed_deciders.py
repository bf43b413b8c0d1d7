"""Deciders typed with their event union: mypy --strict checks decide and evolve against it.

mypy (with the project's configuration and the pydantic plugin) runs once on three small
deciders: a correct one, one whose ``decide`` returns an event outside its union, and one whose
exhaustive ``evolve`` (a ``match`` ending in ``assert_never``) forgets an event. Each mistake is
marked ``# expect: <error code>`` on its line, and mypy must report exactly those. The README's
typed decider program runs, prints what its comments say and type-checks too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from strict_mypy import ROOT, mypy_strict
from typed_deciders.well_typed_decider import (
    Cart,
    CartCheckedOut,
    CartOpened,
    CheckOut,
    ItemAdded,
    cart_decider,
)

import eventledger as el
from eventledger.testing import FixedClock, given

DECIDERS = Path(__file__).resolve().parent / "typed_deciders"
WELL_TYPED = DECIDERS / "well_typed_decider.py"
OUTSIDE_THE_UNION = DECIDERS / "decide_outside_the_union.py"
MISSING_A_CASE = DECIDERS / "evolve_missing_a_case.py"

ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[int, str]]]:
    """What mypy --strict reports on the three deciders, by file name: (line, error code)."""
    cache = tmp_path_factory.mktemp("mypy-cache")
    completed = mypy_strict([WELL_TYPED, OUTSIDE_THE_UNION, MISSING_A_CASE], cache)
    errors: dict[str, list[tuple[int, str]]] = {path.name: [] for path in DECIDERS.glob("*.py")}
    for line in completed.stdout.splitlines():
        match = ERROR.match(line)
        assert match is not None, f"unexpected mypy output: {line}\n{completed.stderr}"
        errors[Path(match["path"]).name].append((int(match["line"]), match["code"]))
    return errors


def planted(path: Path) -> list[tuple[int, str]]:
    """The mistakes marked in ``path``: (line, the error code mypy must report there)."""
    marks = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        mark = re.search(r"# expect: ([a-z-]+)$", line)
        if mark:
            marks.append((number, mark[1]))
    return marks


def test_a_decider_typed_with_its_event_union_passes(reported: dict[str, list[tuple[int, str]]]) -> None:
    assert reported[WELL_TYPED.name] == []


def test_a_decide_returning_an_event_outside_the_union_is_rejected(
    reported: dict[str, list[tuple[int, str]]],
) -> None:
    assert len(planted(OUTSIDE_THE_UNION)) == 3
    assert sorted(reported[OUTSIDE_THE_UNION.name]) == planted(OUTSIDE_THE_UNION)


def test_an_exhaustive_evolve_missing_an_event_of_the_union_is_rejected(
    reported: dict[str, list[tuple[int, str]]],
) -> None:
    assert planted(MISSING_A_CASE) == [(32, "arg-type")]
    assert reported[MISSING_A_CASE.name] == planted(MISSING_A_CASE)


def test_the_typed_decider_runs_its_scenario_at_the_clocks_time() -> None:
    clock = FixedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    state = given(cart_decider, CartOpened(cart_id="c1"), ItemAdded(sku="tea"), clock=clock).when(
        CheckOut()
    ).then(CartCheckedOut(at=clock.now()))
    assert state == Cart(items=("tea",), checked_out=True)


def test_a_decider_without_an_event_parameter_still_takes_any_event() -> None:
    counter: el.Decider[str, int] = el.Decider(int, lambda total, event: total + 1, lambda command, total: [])
    assert counter.fold([CartOpened(cart_id="c1"), ItemAdded(sku="tea")]) == 2


def readme_programs() -> tuple[str, str]:
    """The README's typed decider program, and it with the scenario snippet in place of its run."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Deciders: typed events") : text.index("### Unit of work\n")]
    blocks = re.findall(r"```python\n(.*?)```\n", section, flags=re.DOTALL)
    [program] = [block for block in blocks if block.startswith("import asyncio")]
    [snippet] = [block for block in blocks if "given(" in block]
    definitions = program.replace("asyncio.run(main())\n", "")
    return program, f"{definitions}\nfrom eventledger.testing import given\n\n{snippet}"


def test_the_readme_decider_program_prints_what_its_comments_say(tmp_path: Path) -> None:
    program, with_scenario = readme_programs()
    printed = [match[1] for match in re.finditer(r"print\(.*\)\s+# (.+)$", program, flags=re.MULTILINE)]
    for name, text in [("program.py", program), ("scenario.py", with_scenario)]:
        (tmp_path / name).write_text(text)
        completed = subprocess.run(
            [sys.executable, str(tmp_path / name)], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.splitlines() == (printed if name == "program.py" else [])


def test_the_readme_decider_program_type_checks(tmp_path: Path) -> None:
    program, with_scenario = readme_programs()
    (tmp_path / "program.py").write_text(program)
    (tmp_path / "scenario.py").write_text(with_scenario)
    completed = mypy_strict([tmp_path / "program.py", tmp_path / "scenario.py"], tmp_path / "mypy-cache")
    assert completed.returncode == 0, completed.stdout + completed.stderr
