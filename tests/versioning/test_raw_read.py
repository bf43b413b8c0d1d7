"""``read_all_raw``: every stored row undecoded, in global order, even rows nothing can decode."""

from __future__ import annotations

import json

from parcel_history import registered

import eventledger as el
from backends import Backend


def as_dict(data: object) -> object:
    # JSON text on SQLite and memory; PostgreSQL drivers hand JSONB back already decoded.
    return json.loads(data) if isinstance(data, str | bytes) else dict(data)  # type: ignore[call-overload]


async def test_raw_rows_include_types_no_class_knows(backend: Backend, store: el.EventStore) -> None:
    await store.append("p1", [registered("a", 1)], expected_version=0)
    await backend.insert_raw("p1", 2, "versioning.never-defined", 7, '{"anything": [1, 2]}')
    rows = [row async for row in store.read_all_raw()]
    assert [(row.stream_id, row.version, row.type, row.schema_version) for row in rows] == [
        ("p1", 1, "versioning.parcel-registered", 3),
        ("p1", 2, "versioning.never-defined", 7),
    ]
    assert as_dict(rows[1].data) == {"anything": [1, 2]}
    assert [row.position for row in rows] == sorted(row.position for row in rows)


async def test_raw_rows_page_through_the_whole_log_after_a_position(store: el.EventStore) -> None:
    store.page_size = 3
    for index in range(10):
        await store.append(f"s{index % 3}", [registered(str(index), index)], expected_version=el.ANY)
    everything = [row async for row in store.read_all_raw()]
    assert len(everything) == 10
    after_fourth = [row.position async for row in store.read_all_raw(after=everything[3].position)]
    assert after_fourth == [row.position for row in everything[4:]]
    first_four = [row.position async for row in store.read_all_raw(limit=4)]
    assert first_four == [row.position for row in everything[:4]]
