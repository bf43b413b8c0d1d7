"""PostgreSQL-only tests: each test gets a fresh schema in the test database, dropped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from local_servers import LocalServer, running_scratch_server, running_standby

from backends import PostgresBackend, postgres_backend


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[PostgresBackend]:
    """A PostgreSQL backend on a schema of its own (overrides the all-backends fixture here)."""
    made = postgres_backend(tmp_path)
    assert isinstance(made, PostgresBackend)
    yield made
    await made.close()


@pytest.fixture(scope="session")
def standby() -> Iterator[LocalServer]:
    """A streaming hot standby of the test server, started once per session when a test asks."""
    with running_standby() as running:
        yield running


@pytest.fixture(scope="session")
def prepared_server() -> Iterator[LocalServer]:
    """A scratch server of its own that allows prepared transactions (the test server does not)."""
    with running_scratch_server({"max_prepared_transactions": "10"}) as running:
        yield running
