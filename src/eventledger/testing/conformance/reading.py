"""Reading streams and the global log: ranges, limits, direction, filters, round-trips."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

import eventledger as el
from eventledger.testing.conformance.events import (
    LineItem,
    OrderConfirmed,
    OrderCreated,
    OrderNoted,
    created,
    noted,
)
from eventledger.testing.conformance.fixtures import StoreFixtures


async def fill(store: el.EventStore, stream_id: str, count: int) -> None:
    await store.append(stream_id, [noted(str(i)) for i in range(1, count + 1)], expected_version=el.ANY)


async def versions(store: el.EventStore, stream_id: str, **options: object) -> list[int]:
    return [r.version async for r in store.read_stream(stream_id, **options)]  # type: ignore[arg-type]


class ReadSpecification(StoreFixtures):
    """Reading streams and the global log: ranges, limits, direction, filters, round-trips."""

    async def test_reading_a_missing_stream_yields_nothing(self, store: el.EventStore) -> None:
        assert await versions(store, "missing") == []
        assert await versions(store, "missing", backwards=True) == []
        assert await store.stream_version("missing") == 0

    async def test_read_stream_from_a_version(self, store: el.EventStore) -> None:
        await fill(store, "s", 10)
        assert await versions(store, "s", from_version=7) == [7, 8, 9, 10]

    async def test_read_stream_with_a_limit(self, store: el.EventStore) -> None:
        await fill(store, "s", 10)
        assert await versions(store, "s", from_version=3, limit=4) == [3, 4, 5, 6]
        assert await versions(store, "s", limit=0) == []

    async def test_read_stream_backwards_from_the_end(self, store: el.EventStore) -> None:
        await fill(store, "s", 5)
        assert await versions(store, "s", backwards=True) == [5, 4, 3, 2, 1]

    async def test_read_stream_backwards_from_a_version_with_a_limit(self, store: el.EventStore) -> None:
        await fill(store, "s", 10)
        assert await versions(store, "s", backwards=True, from_version=6, limit=3) == [6, 5, 4]
        assert await versions(store, "s", backwards=True, limit=1) == [10]

    async def test_read_stream_across_page_boundaries(self, store: el.EventStore) -> None:
        store.page_size = 3
        await fill(store, "s", 10)
        await fill(store, "other", 4)
        assert await versions(store, "s") == list(range(1, 11))
        assert await versions(store, "s", backwards=True) == list(range(10, 0, -1))
        assert await versions(store, "s", from_version=2, limit=7) == list(range(2, 9))
        assert len([r async for r in store.read_all()]) == 14

    async def test_read_stream_to_a_version_reads_the_stream_as_it_was_then(
        self, store: el.EventStore
    ) -> None:
        await fill(store, "s", 10)
        assert await versions(store, "s", to_version=4) == [1, 2, 3, 4]
        assert await versions(store, "s", to_version=1) == [1]

    async def test_read_stream_from_a_version_to_a_version_includes_both(self, store: el.EventStore) -> None:
        await fill(store, "s", 10)
        assert await versions(store, "s", from_version=3, to_version=6) == [3, 4, 5, 6]
        assert await versions(store, "s", from_version=5, to_version=5) == [5]

    async def test_read_stream_to_a_version_past_the_end_reads_to_the_end(self, store: el.EventStore) -> None:
        await fill(store, "s", 5)
        assert await versions(store, "s", to_version=9) == [1, 2, 3, 4, 5]
        assert await versions(store, "s", to_version=9, backwards=True) == [5, 4, 3, 2, 1]
        assert await versions(store, "missing", to_version=3) == []

    async def test_read_stream_to_version_zero_reads_nothing(self, store: el.EventStore) -> None:
        await fill(store, "s", 3)
        assert await versions(store, "s", to_version=0) == []
        assert await versions(store, "s", to_version=0, backwards=True) == []

    async def test_read_stream_to_a_version_with_a_limit_stops_at_whichever_comes_first(
        self, store: el.EventStore
    ) -> None:
        await fill(store, "s", 10)
        assert await versions(store, "s", from_version=2, to_version=8, limit=3) == [2, 3, 4]
        assert await versions(store, "s", from_version=2, to_version=4, limit=30) == [2, 3, 4]
        assert await versions(store, "s", to_version=7, limit=2, backwards=True) == [7, 6]

    async def test_read_stream_backwards_to_a_version_starts_there(self, store: el.EventStore) -> None:
        await fill(store, "s", 10)
        assert await versions(store, "s", to_version=4, backwards=True) == [4, 3, 2, 1]
        assert await versions(store, "s", from_version=9, to_version=4, backwards=True) == [4, 3, 2, 1]
        # Going backwards, to_version is still the upper bound: a lower from_version starts lower.
        assert await versions(store, "s", from_version=3, to_version=6, backwards=True) == [3, 2, 1]

    async def test_read_stream_to_a_version_across_page_boundaries(self, store: el.EventStore) -> None:
        store.page_size = 3
        await fill(store, "s", 10)
        assert await versions(store, "s", to_version=7) == [1, 2, 3, 4, 5, 6, 7]
        assert await versions(store, "s", from_version=2, to_version=9) == list(range(2, 10))
        assert await versions(store, "s", to_version=8, backwards=True) == list(range(8, 0, -1))

    async def test_read_stream_to_a_version_leaves_out_what_was_appended_after_it(
        self, store: el.EventStore
    ) -> None:
        await fill(store, "s", 3)
        await store.append("s", [noted("later")], expected_version=3)
        recorded = [r async for r in store.read_stream("s", to_version=3)]
        assert [r.event.note for r in recorded] == ["1", "2", "3"]  # type: ignore[attr-defined]

    async def test_read_stream_only_returns_that_stream(self, store: el.EventStore) -> None:
        await fill(store, "a", 2)
        await fill(store, "b", 3)
        assert {r.stream_id async for r in store.read_stream("b")} == {"b"}

    async def test_read_all_returns_every_event_in_position_order(self, store: el.EventStore) -> None:
        for index in range(6):
            await store.append(f"s{index % 2}", [noted(str(index))], expected_version=el.ANY)
        recorded = [r async for r in store.read_all()]
        assert [r.event.note for r in recorded] == [str(i) for i in range(6)]  # type: ignore[attr-defined]
        positions = [r.position for r in recorded]
        assert positions == sorted(positions)

    async def test_read_all_after_a_position_continues_exactly_after_it(self, store: el.EventStore) -> None:
        await fill(store, "s", 8)
        everything = [r async for r in store.read_all()]
        middle = everything[3].position
        assert [r.position async for r in store.read_all(after=middle)] == [
            r.position for r in everything[4:]
        ]
        assert [r async for r in store.read_all(after=everything[-1].position)] == []

    async def test_read_all_with_a_limit(self, store: el.EventStore) -> None:
        await fill(store, "s", 8)
        assert len([r async for r in store.read_all(limit=5)]) == 5

    async def test_read_all_filters_by_event_class_or_type_name(self, store: el.EventStore) -> None:
        await store.append("o", [created(), noted("n1"), OrderConfirmed(order_id="o1")], expected_version=0)
        by_class = [r.type async for r in store.read_all(types=[OrderConfirmed, OrderCreated])]
        by_name = [r.type async for r in store.read_all(types=["eventledger.conformance.order-noted"])]
        assert by_class == [
            "eventledger.conformance.order-created",
            "eventledger.conformance.order-confirmed",
        ]
        assert by_name == ["eventledger.conformance.order-noted"]
        assert [r async for r in store.read_all(types=[])] == []

    async def test_read_all_filter_pages_past_non_matching_events(self, store: el.EventStore) -> None:
        store.page_size = 2
        await store.append("o", [noted(str(i)) for i in range(7)] + [created()], expected_version=0)
        assert [r.type async for r in store.read_all(types=[OrderCreated])] == [
            "eventledger.conformance.order-created"
        ]

    async def test_negative_positions_and_limits_are_refused(self, store: el.EventStore) -> None:
        with pytest.raises(ValueError, match="after"):
            [r async for r in store.read_all(after=-1)]
        with pytest.raises(ValueError, match="limit"):
            [r async for r in store.read_stream("s", limit=-1)]

    async def test_events_round_trip_with_their_values(self, store: el.EventStore) -> None:
        moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
        original = [
            OrderCreated(order_id="o1", items=[LineItem(sku="a", quantity=3, unit_price=Decimal("1.10"))]),
            OrderConfirmed(order_id="o1", at=moment),
        ]
        await store.append("o1", original, expected_version=el.NO_STREAM)
        decoded = [r.event async for r in store.read_stream("o1")]
        assert decoded == original
        assert isinstance(decoded[0], OrderCreated)
        assert decoded[0].items[0].unit_price == Decimal("1.10")

    async def test_recorded_event_envelope_is_complete(self, store: el.EventStore) -> None:
        before = datetime.now(UTC) - timedelta(seconds=1)
        result = await store.append("o1", [created(), noted("x")], expected_version=el.NO_STREAM)
        recorded = [r async for r in store.read_stream("o1")]
        assert [r.type for r in recorded] == [
            "eventledger.conformance.order-created",
            "eventledger.conformance.order-noted",
        ]
        assert [r.stream_id for r in recorded] == ["o1", "o1"]
        assert tuple(r.position for r in recorded) == result.positions
        assert all(isinstance(r.event_id, uuid.UUID) for r in recorded)
        assert recorded[0].event_id != recorded[1].event_id
        for r in recorded:
            assert r.recorded_at.tzinfo is not None
            assert before <= r.recorded_at <= datetime.now(UTC) + timedelta(seconds=1)
        assert isinstance(recorded[1].event, OrderNoted)

    async def test_metadata_round_trips_on_every_event_of_the_batch(self, store: el.EventStore) -> None:
        metadata = {"correlation_id": "c-1", "causation_id": "cmd-9", "user": "ada", "n": 3}
        await store.append("o1", [created(), noted("x")], expected_version=0, metadata=metadata)
        recorded = [r async for r in store.read_all()]
        assert [r.metadata for r in recorded] == [metadata, metadata]
        assert recorded[0].correlation_id == "c-1"
        assert recorded[0].causation_id == "cmd-9"

    async def test_events_without_metadata_have_an_empty_dict(self, store: el.EventStore) -> None:
        await store.append("o1", [created()], expected_version=0)
        recorded = [r async for r in store.read_all()]
        assert recorded[0].metadata == {}
        assert recorded[0].correlation_id is None

    async def test_head_position_is_the_last_position(self, store: el.EventStore) -> None:
        assert await store.head_position() == 0
        result = await store.append("s", [noted("a"), noted("b")], expected_version=0)
        assert await store.head_position() == result.positions[-1]

    async def test_list_streams_pages_by_stream_id(self, store: el.EventStore) -> None:
        for name in ["b", "a", "c", "d"]:
            await store.append(name, [noted(name)] * (ord(name) - 96), expected_version=0)
        first = await store.list_streams(limit=2)
        assert [(s.stream_id, s.version) for s in first] == [("a", 1), ("b", 2)]
        rest = await store.list_streams(after="b", limit=10)
        assert [(s.stream_id, s.version) for s in rest] == [("c", 3), ("d", 4)]
        assert rest[0].last_recorded_at.tzinfo is not None
