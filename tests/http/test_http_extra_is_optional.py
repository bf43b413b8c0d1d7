"""The ``http`` extra stays optional: nothing outside ``eventledger.http`` needs FastAPI or httpx.

As in ``tests/cli/test_cli_without_drivers.py``, a fresh interpreter makes the packages look
uninstalled (a finder first on ``sys.meta_path`` raises ``ModuleNotFoundError`` for them).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WITHOUT_FASTAPI = """
import sys

class Uninstalled:
    missing = {"fastapi", "starlette", "httpx"}

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.missing:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Uninstalled())
"""


def run_without_fastapi(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_FASTAPI + code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )


def test_the_library_imports_without_fastapi() -> None:
    result = run_without_fastapi(
        "import eventledger, eventledger.cli, eventledger.testing, eventledger.projections\n"
        "import eventledger.operations, eventledger.metrics\n"
        "print(sorted(name for name in sys.modules if name.startswith(('fastapi', 'starlette', 'httpx'))))"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_importing_eventledger_http_without_fastapi_names_the_extra() -> None:
    result = run_without_fastapi("import eventledger.http")

    assert result.returncode != 0
    message = "ModuleNotFoundError: eventledger.http needs FastAPI: pip install 'eventledger[http]'"
    assert message in result.stderr
