"""The fixtures every store specification uses, built on the backend's one fixture.

A backend's test class provides ``store_under_test`` (a :class:`StoreUnderTest` on a fresh
database); these derive the rest from it. They are ``pytest_asyncio`` fixtures and the tests
carry the ``asyncio`` mark, so the kit runs under pytest-asyncio's strict and auto modes alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from eventledger.store import EventStore
from eventledger.testing.conformance.subjects import OpenedStores, RawAccess, StoreUnderTest


class StoreFixtures:
    """``stores``, ``store`` and ``raw``, from the ``store_under_test`` the subclass provides."""

    pytestmark = pytest.mark.asyncio

    @pytest_asyncio.fixture
    async def stores(self, store_under_test: StoreUnderTest) -> AsyncIterator[OpenedStores]:
        """Opens stores on the test's database, and closes them all after the test."""
        opened = OpenedStores(store_under_test)
        yield opened
        await opened.close_all()

    @pytest_asyncio.fixture
    async def store(self, stores: OpenedStores) -> EventStore:
        """An open store on the test's fresh database."""
        return await stores.open()

    @pytest.fixture
    def raw(self, store_under_test: StoreUnderTest) -> RawAccess:
        """Raw access to the test's database (only :class:`RawStoreConformance` asks for it)."""
        if not isinstance(store_under_test, RawAccess):
            raise TypeError(
                f"{type(store_under_test).__name__} does not implement RawAccess, which the "
                "specifications that write behind the store's back need: run StoreConformance "
                "instead of RawStoreConformance, or implement RawAccess"
            )
        return store_under_test
