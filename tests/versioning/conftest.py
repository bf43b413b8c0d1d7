from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from parcel_history import parcel_history

from eventledger.versioning import UpcasterRegistry, use_upcasters


@pytest.fixture
async def history() -> AsyncIterator[UpcasterRegistry]:
    """The parcel history's registry, in force for the test (and the tasks it starts)."""
    with use_upcasters(parcel_history()) as registry:
        yield registry
