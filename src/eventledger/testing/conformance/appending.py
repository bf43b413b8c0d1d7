"""Appending: the four expected-version forms, atomic batches, dense versions."""

from __future__ import annotations

import pytest

import eventledger as el
from eventledger.errors import InvalidExpectedVersion
from eventledger.testing.conformance.events import Opaque, OrderConfirmed, created, noted
from eventledger.testing.conformance.fixtures import StoreFixtures
from eventledger.testing.conformance.subjects import OpenedStores


async def all_events(store: el.EventStore) -> list[el.RecordedEvent]:
    return [recorded async for recorded in store.read_all()]


class AppendSpecification(StoreFixtures):
    """Appending: the four expected-version forms, atomic batches, dense versions."""

    async def test_append_with_no_stream_creates_the_stream_at_version_one(
        self, store: el.EventStore
    ) -> None:
        result = await store.append("order-1", [created()], expected_version=el.NO_STREAM)
        assert result.stream_id == "order-1"
        assert result.version == 1
        assert len(result.positions) == 1
        assert await store.stream_version("order-1") == 1

    async def test_append_with_zero_is_the_same_as_no_stream(self, store: el.EventStore) -> None:
        await store.append("order-1", [created()], expected_version=0)
        with pytest.raises(el.ConcurrencyError):
            await store.append("order-1", [created()], expected_version=0)

    async def test_append_with_no_stream_to_an_existing_stream_raises_concurrency_error(
        self,
        store: el.EventStore,
    ) -> None:
        await store.append("order-1", [created()], expected_version=el.NO_STREAM)
        with pytest.raises(el.ConcurrencyError) as caught:
            await store.append("order-1", [created()], expected_version=el.NO_STREAM)
        assert caught.value.stream_id == "order-1"
        assert caught.value.expected == 0
        assert caught.value.actual == 1

    async def test_append_with_the_current_version_succeeds(self, store: el.EventStore) -> None:
        await store.append("order-1", [created()], expected_version=el.NO_STREAM)
        result = await store.append("order-1", [OrderConfirmed(order_id="o1")], expected_version=1)
        assert result.version == 2

    async def test_append_with_stale_expected_version_raises_concurrency_error(
        self,
        store: el.EventStore,
    ) -> None:
        await store.append("order-1", [created(), noted("a"), noted("b")], expected_version=el.NO_STREAM)
        with pytest.raises(el.ConcurrencyError) as caught:
            await store.append("order-1", [noted("late")], expected_version=2)
        error = caught.value
        assert (error.stream_id, error.expected, error.actual) == ("order-1", 2, 3)
        assert "order-1" in str(error)
        assert "expected version 2" in str(error)
        assert "actual version 3" in str(error)
        assert await store.stream_version("order-1") == 3

    async def test_append_with_expected_version_ahead_of_the_stream_raises(
        self, store: el.EventStore
    ) -> None:
        await store.append("order-1", [created()], expected_version=el.NO_STREAM)
        with pytest.raises(el.ConcurrencyError) as caught:
            await store.append("order-1", [noted("gap")], expected_version=5)
        assert caught.value.actual == 1
        assert [r.version async for r in store.read_stream("order-1")] == [1]

    async def test_append_with_exact_version_to_a_missing_stream_raises(self, store: el.EventStore) -> None:
        with pytest.raises(el.ConcurrencyError) as caught:
            await store.append("nobody", [noted("x")], expected_version=1)
        assert caught.value.actual == 0

    async def test_append_with_any_creates_and_extends_streams(self, store: el.EventStore) -> None:
        first = await store.append("s", [noted("a")], expected_version=el.ANY)
        second = await store.append("s", [noted("b"), noted("c")], expected_version=el.ANY)
        assert (first.version, second.version) == (1, 3)

    async def test_append_with_stream_exists_to_a_missing_stream_raises(self, store: el.EventStore) -> None:
        with pytest.raises(el.ConcurrencyError) as caught:
            await store.append("s", [noted("a")], expected_version=el.STREAM_EXISTS)
        assert caught.value.expected is el.STREAM_EXISTS
        assert caught.value.actual == 0
        assert "stream exists" in str(caught.value)
        assert await store.stream_version("s") == 0

    async def test_append_with_stream_exists_to_an_existing_stream_succeeds(
        self, store: el.EventStore
    ) -> None:
        await store.append("s", [noted("a")], expected_version=el.NO_STREAM)
        result = await store.append("s", [noted("b")], expected_version=el.STREAM_EXISTS)
        assert result.version == 2

    @pytest.mark.parametrize("bad", [-1, -100, 1.5, "1", None, True])
    async def test_append_with_an_invalid_expected_version_raises_and_writes_nothing(
        self, store: el.EventStore, bad: object
    ) -> None:
        with pytest.raises(InvalidExpectedVersion) as caught:
            await store.append("s", [noted("a")], expected_version=bad)  # type: ignore[arg-type]
        assert "'s'" in str(caught.value)
        assert repr(bad) in str(caught.value)
        assert await store.head_position() == 0

    async def test_batch_gets_dense_versions_and_increasing_positions(self, store: el.EventStore) -> None:
        result = await store.append("s", [noted(str(i)) for i in range(5)], expected_version=el.NO_STREAM)
        assert result.version == 5
        assert list(result.positions) == sorted(set(result.positions))
        recorded = [r async for r in store.read_stream("s")]
        assert [r.version for r in recorded] == [1, 2, 3, 4, 5]
        assert tuple(r.position for r in recorded) == result.positions

    async def test_failed_batch_writes_nothing(self, store: el.EventStore) -> None:
        await store.append("s", [noted("a")], expected_version=el.NO_STREAM)
        head = await store.head_position()
        with pytest.raises(el.ConcurrencyError):
            await store.append("s", [noted("b"), noted("c"), noted("d")], expected_version=0)
        assert await store.stream_version("s") == 1
        assert await store.head_position() == head

    async def test_batch_with_an_unserialisable_event_raises_and_writes_nothing(
        self,
        store: el.EventStore,
    ) -> None:
        with pytest.raises(el.SerializationError) as caught:
            await store.append("s", [noted("fine"), Opaque(payload=object())], expected_version=el.NO_STREAM)
        assert "'s'" in str(caught.value)
        assert "Opaque" in str(caught.value)
        assert "nothing was written" in str(caught.value)
        assert await all_events(store) == []

    async def test_append_of_something_that_is_not_an_event_raises_serialization_error(
        self,
        store: el.EventStore,
    ) -> None:
        with pytest.raises(el.SerializationError) as caught:
            await store.append("s", [{"type": "Dict"}], expected_version=el.ANY)  # type: ignore[list-item]
        assert "dict" in str(caught.value)
        assert await store.head_position() == 0

    async def test_append_with_unserialisable_metadata_raises_and_writes_nothing(
        self,
        store: el.EventStore,
    ) -> None:
        with pytest.raises(el.SerializationError) as caught:
            await store.append("s", [noted("a")], expected_version=el.ANY, metadata={"x": object()})
        assert "metadata" in str(caught.value)
        assert await store.head_position() == 0

    async def test_empty_append_checks_the_version_and_writes_nothing(self, store: el.EventStore) -> None:
        await store.append("s", [noted("a")], expected_version=el.NO_STREAM)
        result = await store.append("s", [], expected_version=1)
        assert (result.version, result.positions) == (1, ())
        with pytest.raises(el.ConcurrencyError):
            await store.append("s", [], expected_version=0)

    async def test_empty_stream_id_is_refused(self, store: el.EventStore) -> None:
        with pytest.raises(ValueError, match="stream id"):
            await store.append("", [noted("a")], expected_version=el.ANY)

    async def test_positions_increase_across_streams(self, store: el.EventStore) -> None:
        positions: list[int] = []
        for index in range(6):
            result = await store.append(f"s-{index % 3}", [noted(str(index))], expected_version=el.ANY)
            positions.extend(result.positions)
        assert positions == sorted(positions)
        assert len(set(positions)) == 6
        assert await store.head_position() == positions[-1]

    async def test_many_appends_keep_versions_dense(self, store: el.EventStore) -> None:
        for version in range(20):
            await store.append("s", [noted(str(version))], expected_version=version)
        assert [r.version async for r in store.read_stream("s")] == list(range(1, 21))

    async def test_concurrent_writers_on_separate_connections_get_one_winner_per_version(
        self,
        stores: OpenedStores,
    ) -> None:
        import asyncio

        connections = [await stores.open() for _ in range(4)]
        acknowledged: list[tuple[int, str]] = []
        conflicts = 0

        async def writer(store: el.EventStore, name: str) -> None:
            nonlocal conflicts
            written = 0
            while written < 10:
                version = await store.stream_version("contended")
                await asyncio.sleep(0)
                try:
                    result = await store.append(
                        "contended", [noted(f"{name}-{written}")], expected_version=version
                    )
                except el.ConcurrencyError:
                    conflicts += 1
                    continue
                acknowledged.append((result.version, f"{name}-{written}"))
                written += 1

        try:
            await asyncio.gather(*(writer(s, f"w{i}") for i, s in enumerate(connections)))
            recorded = [r async for r in connections[0].read_stream("contended")]
        finally:
            for connection in connections:
                await connection.close()
        assert [r.version for r in recorded] == list(range(1, 41))
        assert sorted(acknowledged) == [
            (r.version, r.event.note)  # type: ignore[attr-defined]
            for r in recorded
        ]
        assert conflicts > 0
