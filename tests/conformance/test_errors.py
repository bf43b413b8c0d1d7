"""Bad stored data and misuse give clear errors that name what was wrong."""

from __future__ import annotations

import pytest

import eventledger as el
from backends import Backend
from events import noted


async def test_unknown_stored_type_raises_unknown_event_type_with_name_and_position(
    backend: Backend, store: el.EventStore
) -> None:
    await store.append("s", [noted("ok")], expected_version=0)
    await backend.insert_raw("s", 2, "NeverDefined", 1, "{}")
    with pytest.raises(el.UnknownEventType) as caught:
        [r async for r in store.read_stream("s")]
    error = caught.value
    assert error.type_name == "NeverDefined"
    assert error.stream_id == "s"
    assert error.position == await store.head_position()
    assert "NeverDefined" in str(error)
    assert f"position {error.position}" in str(error)


async def test_data_that_does_not_fit_its_class_raises_event_decode_error(
    backend: Backend, store: el.EventStore
) -> None:
    await backend.insert_raw("s", 1, "test.order-noted", 1, '{"note": 42, "extra": true}')
    with pytest.raises(el.EventDecodeError) as caught:
        [r async for r in store.read_all()]
    error = caught.value
    assert error.type_name == "test.order-noted"
    assert error.stream_id == "s"
    assert "note" in error.reason
    assert "test.order-noted" in str(error)
    assert "position" in str(error)


async def test_a_closed_store_refuses_work(backend: Backend) -> None:
    store = await backend.open()
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(el.StoreClosed):
        await store.append("s", [noted("a")], expected_version=el.ANY)
    with pytest.raises(el.StoreClosed):
        [r async for r in store.read_all()]
