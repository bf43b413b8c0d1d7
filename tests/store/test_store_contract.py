"""The store contract is written once: backends supply primitives and hooks, never their own loops."""

from __future__ import annotations

import pytest

from eventledger.store.base import EventStore
from eventledger.store.memory import MemoryEventStore
from eventledger.store.postgres import PostgresEventStore
from eventledger.store.sqlite import SQLiteEventStore

BACKENDS = [MemoryEventStore, SQLiteEventStore, PostgresEventStore]
SHARED = ["append", "read_stream", "read_all", "read_all_raw", "subscribe", "list_streams", "stream_version"]


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda backend: backend.__name__)
@pytest.mark.parametrize("method", SHARED)
def test_no_backend_overrides_the_shared_behaviour(backend: type[EventStore], method: str) -> None:
    assert method not in vars(backend), f"{backend.__name__} has its own {method}: supply a hook instead"


def test_a_backend_without_raw_reads_cannot_be_created() -> None:
    """Raw reads serve the store-wide compatibility check, so every backend must supply them."""
    primitives = {name: getattr(MemoryEventStore, name) for name in EventStore.__abstractmethods__}
    del primitives["_read_all_raw_page"]
    without_raw_reads = type("WithoutRawReads", (EventStore,), primitives)

    with pytest.raises(TypeError, match="_read_all_raw_page"):
        without_raw_reads()
