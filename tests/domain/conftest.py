from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import eventledger as el
from backends import Backend


@pytest.fixture
async def rival(backend: Backend, store: el.EventStore) -> AsyncIterator[el.EventStore]:
    """Another store on the same database (another connection where the backend has them)."""
    opened = await backend.open()
    yield opened
    if opened is not store:
        await opened.close()
