"""Fixtures of the console tests: a store per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from console_rig import POSTGRES, Store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        yield Store(f"sqlite:///{tmp_path / 'events.db'}", str(tmp_path / "read.db"), tmp_path)
        return
    schema = f"console_{uuid.uuid4().hex[:10]}"
    url = f"{POSTGRES}?schema={schema}"
    yield Store(url, url, tmp_path)
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'events.db'}", str(tmp_path / "read.db"), tmp_path)


