"""Fixtures of the CLI tests: a SQLite store file per test and the command runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from parcels import Invoke
from typer.testing import CliRunner, Result

from eventledger.cli import app


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


@pytest.fixture
def store_url(store_path: Path) -> str:
    return f"sqlite:///{store_path}"


@pytest.fixture
def invoke(store_url: str) -> Invoke:
    """Run ``eventledger --url <the test's store> ARGS``; ``url=None`` leaves --url out."""

    def run(*arguments: str, url: str | None = store_url, env: dict[str, str] | None = None) -> Result:
        prefix = ["--url", url] if url is not None else []
        environment = {"EVENTLEDGER_URL": "", "EVENTLEDGER_IMPORT": "", "COLUMNS": "200", **(env or {})}
        return CliRunner().invoke(app, [*prefix, *arguments], env=environment)

    return run
