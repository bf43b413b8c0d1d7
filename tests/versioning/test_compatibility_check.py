"""``check_store``: every stored event that today's classes cannot read, grouped, changing nothing."""

from __future__ import annotations

from parcel_history import BOOKED, REGISTERED, WEIGHED, booked_v1, registered, v1, v2

import eventledger as el
from backends import Backend
from eventledger.compatibility import StoredVersion
from eventledger.versioning import UpcasterRegistry


async def test_a_store_whose_events_all_decode_is_ok(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, REGISTERED, 1, v1("a", 1.0))
    await backend.insert_raw("p1", 2, BOOKED, 1, booked_v1("b", 1.0))
    await store.append("p1", [registered("c", 3)], expected_version=2)
    report = await el.check_store(store)
    assert report.ok
    assert report.events_checked == 3
    assert report.last_position == [row.position async for row in store.read_all_raw()][-1]
    assert report.incompatible == ()
    assert "all decode" in report.render()


async def test_an_empty_store_is_ok(store: el.EventStore, history: UpcasterRegistry) -> None:
    report = await el.check_store(store)
    assert report.ok
    assert (report.events_checked, report.last_position) == (0, 0)


async def test_failures_are_grouped_by_type_and_version(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, REGISTERED, 2, v2("fine", 1))
    await backend.insert_raw("p1", 2, REGISTERED, 2, '{"parcel_id": "p1", "weight_grams": "heavy"}')
    await backend.insert_raw("p1", 3, REGISTERED, 9, v2("future", 1))
    await backend.insert_raw("p2", 1, "versioning.parcel-teleported", 1, "{}")
    await backend.insert_raw("p2", 2, "versioning.parcel-teleported", 1, "{}")
    await backend.insert_raw("p3", 1, REGISTERED, 9, v2("future", 2))

    report = await el.check_store(store)

    assert not report.ok
    assert report.incompatible_count == 5
    groups = {(group.type, group.schema_version): group for group in report.incompatible}
    assert set(groups) == {(REGISTERED, 2), (REGISTERED, 9), ("versioning.parcel-teleported", 1)}
    assert groups[(REGISTERED, 2)].count == 1
    assert groups[(REGISTERED, 2)].errors == ("EventDecodeError",)
    assert groups[(REGISTERED, 9)].count == 2
    assert groups[(REGISTERED, 9)].errors == ("StoredVersionTooNew",)
    assert [example.stream_id for example in groups[(REGISTERED, 9)].examples] == ["p1", "p3"]
    unknown = groups[("versioning.parcel-teleported", 1)]
    assert (unknown.count, unknown.errors) == (2, ("UnknownEventType",))
    assert [(example.stream_id, example.version) for example in unknown.examples] == [("p2", 1), ("p2", 2)]


async def test_the_inventory_counts_every_stored_type_and_version(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, REGISTERED, 1, v1("a", 1.0))
    await backend.insert_raw("p1", 2, REGISTERED, 1, v1("b", 1.0))
    await backend.insert_raw("p1", 3, WEIGHED, 1, "{}")
    await backend.insert_raw("p1", 4, REGISTERED, 2, "[]")
    report = await el.check_store(store)
    assert report.stored == (
        StoredVersion(REGISTERED, 1, count=2, incompatible=0, retired=0),
        StoredVersion(REGISTERED, 2, count=1, incompatible=1, retired=0),
        StoredVersion(WEIGHED, 1, count=1, incompatible=0, retired=1),
    )
    assert report.retired_types == (WEIGHED,)


async def test_a_missing_upcaster_is_reported_for_the_version_that_needs_it(
    backend: Backend, store: el.EventStore
) -> None:
    await backend.insert_raw("p1", 1, REGISTERED, 1, v1("a", 1.0))
    report = await el.check_store(store, upcasters=UpcasterRegistry())
    [group] = report.incompatible
    assert (group.type, group.schema_version, group.errors) == (REGISTERED, 1, ("MissingUpcaster",))
    assert "no upcaster from version 1 to 2" in group.examples[0].message


async def test_each_group_keeps_only_the_first_few_examples(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    for version in range(1, 8):
        await backend.insert_raw("p1", version, "versioning.parcel-teleported", 1, "{}")
    report = await el.check_store(store, examples=3)
    [group] = report.incompatible
    assert group.count == 7
    assert [example.version for example in group.examples] == [1, 2, 3]
    assert "... and 4 more" in report.render()


async def test_checking_changes_nothing(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, REGISTERED, 1, v1("a", 1.0))
    await backend.insert_raw("p1", 2, "versioning.parcel-teleported", 1, "{}")
    before = [row async for row in store.read_all_raw()]
    await el.check_store(store)
    assert [row async for row in store.read_all_raw()] == before
    assert await store.stream_version("p1") == 2


async def test_the_rendered_report_names_each_failing_group_and_an_example(
    backend: Backend, store: el.EventStore, history: UpcasterRegistry
) -> None:
    await backend.insert_raw("p1", 1, "versioning.parcel-teleported", 1, "{}")
    text = str(await el.check_store(store))
    assert "checked 1 events" in text
    assert "1 do not decode" in text
    assert "versioning.parcel-teleported v1: 1 incompatible" in text
    assert "UnknownEventType: unknown event type 'versioning.parcel-teleported' at position" in text
