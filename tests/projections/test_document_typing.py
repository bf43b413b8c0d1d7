"""Document collections are typed by their model: mypy --strict passes correct code and catches mistakes.

Runs mypy (the project's configuration, the pydantic plugin) on a user-style module whose
mistakes are marked ``# expect: <error code>`` on their lines: storing another model, using a
possibly missing document, writing through a reader.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USER_CODE = Path(__file__).resolve().parent / "typed_documents" / "documents_user_code.py"
ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


@pytest.mark.slow
def test_mypy_reports_exactly_the_planted_mistakes_in_document_code(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--config-file", str(ROOT / "pyproject.toml"),
            "--cache-dir", str(tmp_path / "mypy-cache"), "--no-error-summary", "--show-error-codes",
            str(USER_CODE),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    found = []
    for line in completed.stdout.splitlines():
        match = ERROR.match(line)
        assert match is not None, f"unexpected mypy output: {line}\n{completed.stderr}"
        found.append((int(match["line"]), match["code"]))
    expected = [
        (number, marker[1])
        for number, line in enumerate(USER_CODE.read_text().splitlines(), start=1)
        if (marker := re.search(r"# expect: ([a-z-]+)$", line))
    ]

    assert len(expected) == 3
    assert sorted(found) == sorted(expected)
