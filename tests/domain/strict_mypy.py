"""Run mypy --strict as a user would, with the project's configuration and the pydantic plugin."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def mypy_strict(paths: Sequence[Path], cache_dir: Path) -> subprocess.CompletedProcess[str]:
    """mypy --strict on ``paths`` (its errors one a line, with their codes, no summary)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache_dir),
            "--no-error-summary",
            "--show-error-codes",
            *(str(path) for path in paths),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
