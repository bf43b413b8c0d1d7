"""This project's read-model targets (memory, SQLite, PostgreSQL, and documents in the last two) run the kit.

The specifications live in :mod:`eventledger.testing.conformance`; this module only hands the
kit a fresh read-model database of each kind per test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from backends import POSTGRES_URL
from eventledger.projections import SQLiteTarget
from eventledger.projections.targets.postgres import PostgresTarget
from eventledger.testing.conformance import (
    DocumentTargetUnderTest,
    MemoryTargetUnderTest,
    SQLTargetUnderTest,
    TargetConformance,
)


class TestMemoryTarget(TargetConformance):
    @pytest.fixture
    def target_under_test(self) -> MemoryTargetUnderTest:
        return MemoryTargetUnderTest()


class TestSQLiteTarget(TargetConformance):
    @pytest.fixture
    def target_under_test(self, tmp_path: Path) -> SQLTargetUnderTest:
        return SQLTargetUnderTest(lambda: SQLiteTarget(tmp_path / "read.db"))


class TestPostgresTarget(TargetConformance):
    @pytest.fixture
    async def target_under_test(self) -> AsyncIterator[SQLTargetUnderTest]:
        schema = f"test_target_{uuid.uuid4().hex[:12]}"
        yield SQLTargetUnderTest(lambda: PostgresTarget(f"{POSTGRES_URL}?schema={schema}"))
        async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


class TestSQLiteDocuments(TargetConformance):
    @pytest.fixture
    def target_under_test(self, tmp_path: Path) -> DocumentTargetUnderTest:
        return DocumentTargetUnderTest(lambda: SQLiteTarget(tmp_path / "read.db"))


class TestPostgresDocuments(TargetConformance):
    @pytest.fixture
    async def target_under_test(self) -> AsyncIterator[DocumentTargetUnderTest]:
        schema = f"test_documents_{uuid.uuid4().hex[:12]}"
        yield DocumentTargetUnderTest(lambda: PostgresTarget(f"{POSTGRES_URL}?schema={schema}"))
        async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())
