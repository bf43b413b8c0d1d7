"""This project's memory, SQLite and PostgreSQL stores run the conformance kit.

The specifications live in :mod:`eventledger.testing.conformance`, where third-party stores run
them too; this module only hands the kit each backend of ``tests/backends.py`` (a fresh
database per test, raw access to it, and the forms of rewrite its SQL has).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backends import BACKENDS, REWRITE_FORMS, Backend
from eventledger import EventStore, open_store
from eventledger.testing.conformance import RawStoreConformance, StoreUnderTest


class BackendUnderTest(StoreUnderTest):
    """A backend of the test suite as the kit sees it: stores to open, and raw access."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def open(self) -> EventStore:
        return await self.backend.open()

    async def open_polling_every_minute(self) -> EventStore:
        if self.backend.name == "sqlite":
            return await open_store(f"{self.backend.url}?poll_interval=60")
        if self.backend.name == "postgres":
            # No NOTIFY either, so that only the in-process wake-up can be quicker than a poll.
            return await open_store(self.backend.url, poll_interval=60, notify=False)
        return await super().open_polling_every_minute()

    async def insert_raw(
        self, stream_id: str, version: int, type_name: str, schema_version: int, data: str
    ) -> None:
        await self.backend.insert_raw(stream_id, version, type_name, schema_version, data)

    async def rewrite(self, form: str) -> Exception | None:
        return await self.backend.rewrite(form)


async def backend_under_test(name: str, tmp_path: Path) -> AsyncIterator[BackendUnderTest]:
    backend = BACKENDS[name](tmp_path)
    yield BackendUnderTest(backend)
    await backend.close()


class TestMemoryStore(RawStoreConformance):
    rewrite_forms = REWRITE_FORMS["memory"]
    refusals_name_immutability = False  # a frozen row refuses with Python's own message

    @pytest.fixture
    async def store_under_test(self, tmp_path: Path) -> AsyncIterator[BackendUnderTest]:
        async for made in backend_under_test("memory", tmp_path):
            yield made


class TestSQLiteStore(RawStoreConformance):
    rewrite_forms = REWRITE_FORMS["sqlite"]

    @pytest.fixture
    async def store_under_test(self, tmp_path: Path) -> AsyncIterator[BackendUnderTest]:
        async for made in backend_under_test("sqlite", tmp_path):
            yield made


class TestPostgresStore(RawStoreConformance):
    rewrite_forms = REWRITE_FORMS["postgres"]

    @pytest.fixture
    async def store_under_test(self, tmp_path: Path) -> AsyncIterator[BackendUnderTest]:
        async for made in backend_under_test("postgres", tmp_path):
            yield made
