from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from parcel_history import parcel_history

import eventledger as el


@pytest.fixture
async def history() -> AsyncIterator[el.UpcasterRegistry]:
    """The parcel history's registry, in force for the test (and the tasks it starts)."""
    with el.use_upcasters(parcel_history()) as registry:
        yield registry
