"""PostgreSQL-only tests: each test gets a fresh schema in the test database, dropped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from standby_server import Standby, running_standby

from backends import PostgresBackend, postgres_backend


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[PostgresBackend]:
    """A PostgreSQL backend on a schema of its own (overrides the all-backends fixture here)."""
    made = postgres_backend(tmp_path)
    assert isinstance(made, PostgresBackend)
    yield made
    await made.close()


@pytest.fixture(scope="session")
def standby() -> Iterator[Standby]:
    """A streaming hot standby of the test server, started once per session when a test asks."""
    with running_standby() as running:
        yield running
