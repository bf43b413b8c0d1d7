"""Fixtures of the HTTP tests: a store URL of each real backend, on a database of the test's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite store in a file of the test's own."""
    return f"sqlite:///{tmp_path / 'carts.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL store in a schema of the test's own, dropped afterwards."""
    schema = f"http_{uuid.uuid4().hex[:10]}"
    yield f"{POSTGRES}?schema={schema}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each real backend in turn."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url
