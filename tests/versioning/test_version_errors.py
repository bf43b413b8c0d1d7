"""Stored versions that cannot reach the current class fail clearly, at read time, and lose nothing."""

from __future__ import annotations

import json

import pytest
from parcel_history import REGISTERED, ParcelRegistered, kilograms_to_grams, registered, v1, v2

import eventledger as el
from backends import Backend
from eventledger.errors import EventDecodeError, MissingUpcaster, StoredVersionTooNew
from eventledger.versioning import UpcasterRegistry, use_upcasters


def without_step_two() -> UpcasterRegistry:
    registry = UpcasterRegistry()
    registry.register(ParcelRegistered, 1, kilograms_to_grams)
    return registry


async def test_a_broken_chain_names_the_type_both_versions_and_the_position(
    backend: Backend, store: el.EventStore
) -> None:
    await store.append("p1", [registered("fine", 1)], expected_version=0)
    await backend.insert_raw("p1", 2, REGISTERED, 1, v1("old", 1.0))
    with use_upcasters(without_step_two()), pytest.raises(MissingUpcaster) as caught:
        [r async for r in store.read_stream("p1")]
    error = caught.value
    assert error.type_name == REGISTERED
    assert (error.stored_version, error.current_version, error.missing_from) == (1, 3, 2)
    assert error.stream_id == "p1"
    assert error.position == [row.position async for row in store.read_all_raw()][-1]
    message = str(error)
    assert f"'{REGISTERED}'" in message
    assert f"at position {error.position} in stream 'p1'" in message
    assert "from schema version 1 to 3" in message
    assert "no upcaster from version 2 to 3" in message


async def test_a_stored_version_newer_than_the_class_is_a_clear_error(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, REGISTERED, 4, '{"parcel_id": "p1", "weight_grams": 1, "carrier": "x"}')
    with pytest.raises(StoredVersionTooNew) as caught:
        [r async for r in store.read_all()]
    error = caught.value
    assert (error.type_name, error.stored_version, error.current_version) == (REGISTERED, 4, 3)
    assert error.position == [row.position async for row in store.read_all_raw()][-1]
    assert "newer than the class" in str(error)


async def test_data_that_does_not_fit_after_upcasting_says_it_was_upcast(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, REGISTERED, 2, json.dumps({"parcel_id": "p1", "weight_grams": "heavy"}))
    with pytest.raises(EventDecodeError) as caught:
        [r async for r in store.read_all()]
    assert "weight_grams" in caught.value.reason
    assert "after upcasting from version 2 to 3" in caught.value.reason


async def test_stored_data_that_is_not_a_json_object_cannot_be_upcast(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, REGISTERED, 1, "[1, 2]")
    with pytest.raises(EventDecodeError, match="not an object"):
        [r async for r in store.read_all()]


async def test_a_failed_read_loses_nothing(backend: Backend, store: el.EventStore) -> None:
    await backend.insert_raw("p1", 1, REGISTERED, 2, v2("a", 1))
    with use_upcasters(UpcasterRegistry()), pytest.raises(MissingUpcaster):
        [r async for r in store.read_all()]
    # Once the missing upcaster is deployed, the same row reads fine.
    with use_upcasters(without_step_two()) as registry:
        registry.register(ParcelRegistered, 2, lambda data: {**data, "carrier": "late"})
        assert [r.event async for r in store.read_all()] == [
            ParcelRegistered(parcel_id="a", weight_grams=1, carrier="late")
        ]
