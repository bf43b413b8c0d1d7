"""This project's read-model targets (memory, SQLite, PostgreSQL, documents in the last two, and
SQLAlchemy engines sync and async on both databases) run the kit.

The specifications live in :mod:`eventledger.testing.conformance`; this module only hands the
kit a fresh read-model database of each kind per test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from backends import POSTGRES_URL
from eventledger.projections import SQLiteTarget
from eventledger.projections.targets.postgres import PostgresTarget
from eventledger.projections.targets.sqlalchemy_target import SQLAlchemyTarget
from eventledger.testing.conformance import (
    DocumentTargetUnderTest,
    MemoryTargetUnderTest,
    SQLTargetUnderTest,
    TargetConformance,
)
from eventledger.testing.conformance.sqlalchemy_subjects import SQLAlchemyTargetUnderTest


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


class TestSQLAlchemySQLiteTarget(TargetConformance):
    """A synchronous SQLAlchemy engine on a SQLite file."""

    @pytest.fixture
    def target_under_test(self, tmp_path: Path) -> Iterator[SQLAlchemyTargetUnderTest]:
        engine = create_engine(f"sqlite:///{tmp_path / 'read.db'}")
        yield SQLAlchemyTargetUnderTest(lambda metadata: SQLAlchemyTarget(engine, metadata))
        engine.dispose()


class TestSQLAlchemyAsyncSQLiteTarget(TargetConformance):
    """An async SQLAlchemy engine (aiosqlite) on a SQLite file."""

    @pytest.fixture
    async def target_under_test(self, tmp_path: Path) -> AsyncIterator[SQLAlchemyTargetUnderTest]:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'read.db'}")
        yield SQLAlchemyTargetUnderTest(lambda metadata: SQLAlchemyTarget(engine, metadata))
        await engine.dispose()


class TestSQLAlchemyPostgresTarget(TargetConformance):
    """A synchronous SQLAlchemy engine (psycopg) on a PostgreSQL schema of its own."""

    @pytest.fixture
    async def target_under_test(self) -> AsyncIterator[SQLAlchemyTargetUnderTest]:
        schema = f"test_sqlalchemy_{uuid.uuid4().hex[:12]}"
        engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
        yield SQLAlchemyTargetUnderTest(lambda metadata: SQLAlchemyTarget(engine, metadata, schema=schema))
        engine.dispose()
        async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


class TestSQLAlchemyAsyncPostgresTarget(TargetConformance):
    """An async SQLAlchemy engine (psycopg) on a PostgreSQL schema of its own."""

    @pytest.fixture
    async def target_under_test(self) -> AsyncIterator[SQLAlchemyTargetUnderTest]:
        schema = f"test_sqlalchemy_{uuid.uuid4().hex[:12]}"
        engine = create_async_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
        yield SQLAlchemyTargetUnderTest(lambda metadata: SQLAlchemyTarget(engine, metadata, schema=schema))
        await engine.dispose()
        async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())
