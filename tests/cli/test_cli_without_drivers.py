"""With only the ``cli`` extra installed, the command imports and works against SQLite.

Each test runs a real interpreter of its own whose ``import psycopg`` (and psycopg_pool, and
prometheus_client, which the ``cli`` extra does not bring either) fails exactly as it does when
the package is not installed: a finder placed first on ``sys.meta_path`` raises
``ModuleNotFoundError`` for them before any installed copy is found. That is cheaper and more
certain than a throwaway virtualenv (which would need the network and a minute to install
typer and pydantic), and it exercises the same import paths: every ``import psycopg`` in the
process, however deep, meets the missing package.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from parcels import append, registered

ROOT = Path(__file__).resolve().parents[2]

WITHOUT_DRIVERS = """
import sys

class Uninstalled:
    '''Makes the optional drivers look uninstalled.'''

    missing = {"psycopg", "psycopg_pool", "psycopg_binary", "psycopg_c", "asyncpg", "prometheus_client"}

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.missing:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Uninstalled())
"""


def run_without_drivers(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter where psycopg and prometheus_client cannot be imported."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_DRIVERS + code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        timeout=120,
        check=False,
    )


def test_the_drivers_really_are_missing_in_that_interpreter() -> None:
    result = run_without_drivers("import psycopg")

    assert result.returncode != 0
    assert "ModuleNotFoundError: No module named 'psycopg'" in result.stderr


def test_importing_the_cli_imports_no_optional_driver() -> None:
    result = run_without_drivers(
        "import eventledger.cli\n"
        "print(sorted(name for name in sys.modules if name.startswith(('psycopg', 'asyncpg', 'prometheus'))))"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_streams_lists_a_sqlite_store_without_psycopg(store_url: str) -> None:
    append(store_url, "parcel-1", registered("1"))

    result = run_without_drivers(
        f"from eventledger.cli import main\nmain(['--url', {store_url!r}, 'streams'])"
    )

    assert result.returncode == 0, result.stderr
    assert "parcel-1" in result.stdout


def test_a_postgresql_url_without_psycopg_is_one_line_naming_the_extra() -> None:
    url = "postgresql://postgres@127.0.0.1:5432/test"

    result = run_without_drivers(f"from eventledger.cli import main\nmain(['--url', {url!r}, 'streams'])")

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert "pip install 'eventledger[postgres]'" in line
