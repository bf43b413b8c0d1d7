"""The README's "Unit of work" and "Loads at a version" programs run and print what they say.

Each program runs in a Python process of its own (its event classes register once there) and is
type-checked with mypy --strict, as a user's code would be.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from strict_mypy import ROOT, mypy_strict


def readme_programs() -> dict[str, str]:
    """The complete programs of the two sections: the unit of work, and it with the loads' main."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Unit of work\n") : text.index("## Read side")]
    blocks = re.findall(r"```python\n(.*?)```\n", section, flags=re.DOTALL)
    [unit_of_work] = [block for block in blocks if block.startswith("import asyncio")]
    [loads] = [block for block in blocks if block.startswith("async def main()")]
    # The loads' program: the unit of work's definitions, with the loads' main instead of its own.
    definitions = unit_of_work[: unit_of_work.index("async def main()")]
    return {"unit of work": unit_of_work, "loads at a version": definitions + loads}


def printed_comments(program: str) -> list[str]:
    """What the program's ``print(...)  # 70 30`` lines say they print."""
    return [match[1] for match in re.finditer(r"print\(.*\)\s+# (.+)$", program, flags=re.MULTILINE)]


@pytest.mark.parametrize("name", ["unit of work", "loads at a version"])
def test_the_readme_program_prints_what_its_comments_say(name: str, tmp_path: Path) -> None:
    program = readme_programs()[name]
    path = tmp_path / "readme_program.py"
    path.write_text(program)
    completed = subprocess.run(
        [sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == printed_comments(program)


@pytest.mark.parametrize("name", ["unit of work", "loads at a version"])
def test_the_readme_program_type_checks(name: str, tmp_path: Path) -> None:
    path = tmp_path / "readme_program.py"
    path.write_text(readme_programs()[name])
    completed = mypy_strict([path], tmp_path / "mypy-cache")
    assert completed.returncode == 0, completed.stdout + completed.stderr
