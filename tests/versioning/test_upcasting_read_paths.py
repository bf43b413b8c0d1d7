"""Events an older release wrote load as today's classes through every read path, on every backend."""

from __future__ import annotations

import asyncio
import json

from parcel_history import ParcelRegistered, booked_v1, registered, v1, v2

import eventledger as el
from backends import Backend
from eventledger.versioning import UpcasterRegistry


async def write_history(backend: Backend, store: el.EventStore) -> None:
    """Stream "p1": v1, then v2 as older releases wrote them, then v3 appended by today's code."""
    await backend.insert_raw("p1", 1, ParcelRegistered.__event_type__, 1, v1("a", 1.5))
    await backend.insert_raw("p1", 2, ParcelRegistered.__event_type__, 2, v2("b", 250))
    await store.append("p1", [registered("c", 40, carrier="courier")], expected_version=2)


EXPECTED = [
    ParcelRegistered(parcel_id="a", weight_grams=1500, carrier="post"),
    ParcelRegistered(parcel_id="b", weight_grams=250, carrier="post"),
    ParcelRegistered(parcel_id="c", weight_grams=40, carrier="courier"),
]


async def test_read_stream_upcasts_v1_and_v2_events_to_v3(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await write_history(backend, store)
    assert [r.event async for r in store.read_stream("p1")] == EXPECTED


async def test_read_stream_backwards_upcasts_too(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await write_history(backend, store)
    assert [r.event async for r in store.read_stream("p1", backwards=True)] == EXPECTED[::-1]


async def test_read_all_upcasts_v1_and_v2_events_to_v3(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await write_history(backend, store)
    assert [r.event async for r in store.read_all()] == EXPECTED


async def test_subscribe_upcasts_stored_and_live_old_events(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await write_history(backend, store)
    subscription = store.subscribe()
    got = [await asyncio.wait_for(anext(subscription), 10) for _ in range(3)]
    # An older release still running beside this one writes while we follow.
    await backend.insert_raw("p2", 1, ParcelRegistered.__event_type__, 1, v1("d", 0.002))
    got.append(await asyncio.wait_for(anext(subscription), 10))
    await subscription.aclose()
    late = ParcelRegistered(parcel_id="d", weight_grams=2, carrier="post")
    assert [r.event for r in got] == [*EXPECTED, late]


async def test_recorded_event_keeps_the_stored_type_name_and_position(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await write_history(backend, store)
    first = await anext(store.read_stream("p1"))
    assert first.type == ParcelRegistered.__event_type__
    assert first.version == 1
    assert first.position == 1


async def test_a_type_filter_on_the_current_class_also_matches_its_old_name(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, "versioning.parcel-booked", 1, booked_v1("old", 2.0))
    await store.append("p1", [registered("new", 5)], expected_version=1)
    got = [r async for r in store.read_all(types=[ParcelRegistered])]
    assert [r.type for r in got] == ["versioning.parcel-booked", ParcelRegistered.__event_type__]
    assert [r.event.parcel_id for r in got] == ["old", "new"]  # type: ignore[attr-defined]


async def test_reading_never_rewrites_the_stored_rows(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await write_history(backend, store)
    before = [row async for row in store.read_all_raw()]
    [r async for r in store.read_all()]
    [r async for r in store.read_stream("p1")]
    after = [row async for row in store.read_all_raw()]
    assert after == before
    stored = [(row.schema_version, json.loads(row.data)) for row in after[:2]]  # type: ignore[arg-type]
    assert stored == [(1, json.loads(v1("a", 1.5))), (2, json.loads(v2("b", 250)))]


async def test_a_second_connection_reads_the_same_upcast_events(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await write_history(backend, store)
    other = await backend.open()
    try:
        assert [r.event async for r in other.read_all()] == EXPECTED
    finally:
        if other is not store:
            await other.close()
