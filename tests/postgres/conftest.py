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
def scratch_primary() -> Iterator[LocalServer]:
    """A server of the suite's own: prepared transactions allowed, and nobody else's sessions."""
    with running_scratch_server({"max_prepared_transactions": "10"}) as running:
        yield running


@pytest.fixture(scope="session")
def standby(scratch_primary: LocalServer) -> Iterator[LocalServer]:
    """A streaming hot standby of ``scratch_primary``, started once per session when asked for."""
    with running_standby(scratch_primary) as running:
        yield running
