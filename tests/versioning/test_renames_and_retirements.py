"""A renamed type reads as its current class; a retired type reads as a deliberate placeholder."""

from __future__ import annotations

import pytest
from parcel_history import BOOKED, REGISTERED, WEIGHED, ParcelRegistered, booked_v1, v2

import eventledger as el
from backends import Backend
from eventledger.errors import EventDecodeError, UnknownEventType
from eventledger.versioning import RetiredEvent, UpcasterRegistry, use_upcasters


async def test_events_stored_under_an_old_name_read_as_the_current_class(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, BOOKED, 1, booked_v1("p1", 0.75))
    [recorded] = [r async for r in store.read_stream("p1")]
    # The old name's own v1 -> v2 upcaster ran, then the current name's shared v2 -> v3.
    assert recorded.event == ParcelRegistered(parcel_id="p1", weight_grams=750, carrier="post")
    assert recorded.type == BOOKED


async def test_an_old_name_without_its_own_upcaster_uses_the_current_names(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, BOOKED, 2, v2("p1", 80))
    [recorded] = [r async for r in store.read_all()]
    assert recorded.event == ParcelRegistered(parcel_id="p1", weight_grams=80, carrier="post")


async def test_a_renamed_type_whose_class_is_not_imported_names_both_names(
    backend: Backend, store: el.EventStore
) -> None:
    registry = UpcasterRegistry()
    registry.rename("versioning.parcel-lost", to="versioning.parcel-misplaced")
    await backend.insert_raw("p1", 1, "versioning.parcel-lost", 1, "{}")
    with use_upcasters(registry), pytest.raises(EventDecodeError) as caught:
        [r async for r in store.read_stream("p1")]
    assert "'versioning.parcel-lost'" in str(caught.value)
    assert "renamed to 'versioning.parcel-misplaced'" in str(caught.value)


async def test_events_of_a_retired_type_read_as_retired_event_placeholders(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, WEIGHED, 2, '{"parcel_id": "p1", "grams": 12}')
    [recorded] = [r async for r in store.read_stream("p1")]
    assert recorded.type == WEIGHED
    assert recorded.event == RetiredEvent(
        type_name=WEIGHED,
        schema_version=2,
        data={"parcel_id": "p1", "grams": 12},
        reason="weights are now part of registration",
    )


async def test_a_consumer_that_dispatches_on_event_classes_skips_retired_events(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, REGISTERED, 2, v2("p1", 10))
    await backend.insert_raw("p1", 2, WEIGHED, 1, '{"parcel_id": "p1", "grams": 11}')
    await backend.insert_raw("p1", 3, REGISTERED, 2, v2("p2", 12))
    handlers = {ParcelRegistered: lambda event: event.parcel_id}
    seen = [
        handlers[type(r.event)](r.event)  # type: ignore[index]
        async for r in store.read_all()
        if type(r.event) in handlers
    ]
    assert seen == ["p1", "p2"]


async def test_a_type_that_is_neither_defined_renamed_nor_retired_is_still_unknown(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, "versioning.parcel-teleported", 1, "{}")
    with pytest.raises(UnknownEventType) as caught:
        [r async for r in store.read_all()]
    assert caught.value.type_name == "versioning.parcel-teleported"
    assert caught.value.position == [row.position async for row in store.read_all_raw()][-1]
