from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backends import BACKENDS, Backend
from eventledger import EventStore


@pytest.fixture(params=list(BACKENDS))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each backend in turn, on a fresh database of its own."""
    made = BACKENDS[request.param](tmp_path)
    yield made
    await made.close()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[EventStore]:
    """An open store on the backend's fresh database."""
    opened = await backend.open()
    yield opened
    await opened.close()
