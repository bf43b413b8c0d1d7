"""Fixtures of the synchronous API's tests: a store URL on a fresh SQLite file or PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from backends import POSTGRES_URL
from eventledger.sync import EventStore, open_store


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL on a database of its own: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}"
        return
    schema = f"test_sync_{uuid.uuid4().hex[:12]}"
    yield f"{POSTGRES_URL}?schema={schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    """A synchronous store on the URL's database, closed afterwards."""
    opened = open_store(store_url)
    if opened.async_store.__class__.__name__ == "PostgresEventStore":
        # Other sessions on the shared server may hold the visibility barrier for a moment.
        opened.async_store.own_writes_wait = 10.0  # type: ignore[attr-defined]
    yield opened
    opened.close()
