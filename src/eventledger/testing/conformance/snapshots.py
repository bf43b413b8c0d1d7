"""Snapshots live beside the events; the newest one per stream wins."""

from __future__ import annotations

import eventledger as el
from eventledger.store import Snapshot
from eventledger.testing.conformance.fixtures import StoreFixtures


class SnapshotSpecification(StoreFixtures):
    """Snapshots live beside the events; the newest one per stream wins."""

    async def test_a_saved_snapshot_loads_back_equal(self, store: el.EventStore) -> None:
        snapshot = Snapshot("order-1", 100, "Order", 2, {"status": "pending", "total": "9.99"})
        await store.save_snapshot(snapshot)
        loaded = await store.load_snapshot("order-1")
        assert loaded is not None
        assert (loaded.stream_id, loaded.version, loaded.aggregate_type, loaded.schema_version) == (
            "order-1",
            100,
            "Order",
            2,
        )
        assert loaded.state == {"status": "pending", "total": "9.99"}
        assert loaded.recorded_at.tzinfo is not None

    async def test_loading_a_stream_without_a_snapshot_gives_none(self, store: el.EventStore) -> None:
        assert await store.load_snapshot("nothing") is None

    async def test_a_newer_snapshot_replaces_an_older_one_but_not_the_reverse(
        self,
        store: el.EventStore,
    ) -> None:
        await store.save_snapshot(Snapshot("s", 100, "Order", 1, {"n": 100}))
        await store.save_snapshot(Snapshot("s", 200, "Order", 1, {"n": 200}))
        await store.save_snapshot(Snapshot("s", 150, "Order", 1, {"n": 150}))
        loaded = await store.load_snapshot("s")
        assert loaded is not None
        assert (loaded.version, loaded.state) == (200, {"n": 200})
