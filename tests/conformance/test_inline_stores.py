"""A store with an inline projection keeps the whole store contract: the conformance kit again,
on SQLite and PostgreSQL stores whose every append also applies an inline projection.

Every append then goes through the inline path (one transaction with the projection) instead
of the backend's own statements, so expected versions, results, errors, reads and subscriptions
are held to the same specifications as the plain stores in ``test_stores.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_stores import BackendUnderTest

from backends import BACKENDS, REWRITE_FORMS
from eventledger import Event, EventStore, RecordedEvent
from eventledger.projections import Projection, SQLiteTarget, SQLTransaction, Target, handles
from eventledger.projections.inline import run_inline
from eventledger.testing.conformance import RawStoreConformance


class EveryEvent(Projection[SQLTransaction], name="conformance-every-event"):
    """Counts every event by type, inline."""

    tables = ("seen",)

    async def setup(self, sql: SQLTransaction) -> None:
        await sql.execute(f"CREATE TABLE {sql.table('seen')} (position BIGINT PRIMARY KEY, type TEXT)")

    @handles(Event)
    async def any_event(self, event: Event, recorded: RecordedEvent, sql: SQLTransaction) -> None:
        seen = sql.table("seen")
        row = (recorded.position, recorded.type)
        await sql.execute(f"INSERT INTO {seen} (position, type) VALUES (%s, %s)", row)


class InlineBackendUnderTest(BackendUnderTest):
    """Each store the kit opens runs :class:`EveryEvent` inline."""

    async def open(self) -> EventStore:
        store = await self.backend.open()
        target: Target[Any]
        if self.backend.name == "sqlite":
            target = SQLiteTarget(self.backend.url.removeprefix("sqlite:///").split("?")[0])
        else:
            from eventledger.projections.targets.postgres import PostgresTarget

            target = PostgresTarget(self.backend.url)
        await run_inline(store, EveryEvent(target))
        return store


async def inline_backend(name: str, tmp_path: Path) -> AsyncIterator[InlineBackendUnderTest]:
    backend = BACKENDS[name](tmp_path)
    yield InlineBackendUnderTest(backend)
    await backend.close()


class TestSQLiteStoreWithAnInlineProjection(RawStoreConformance):
    rewrite_forms = REWRITE_FORMS["sqlite"]

    @pytest.fixture
    async def store_under_test(self, tmp_path: Path) -> AsyncIterator[InlineBackendUnderTest]:
        async for made in inline_backend("sqlite", tmp_path):
            yield made


class TestPostgresStoreWithAnInlineProjection(RawStoreConformance):
    rewrite_forms = REWRITE_FORMS["postgres"]

    @pytest.fixture
    async def store_under_test(self, tmp_path: Path) -> AsyncIterator[InlineBackendUnderTest]:
        async for made in inline_backend("postgres", tmp_path):
            yield made
