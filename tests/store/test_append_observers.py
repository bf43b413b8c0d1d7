"""Any number of instruments observe a store's appends, each told of every one.

A store used to have one observer slot, so a second instrumentation (another metrics instance,
tracing) silently replaced the first. Observers are now a list that each instrument joins.
"""

from __future__ import annotations

import pytest

import eventledger as el
from eventledger.metrics import EventLedgerMetrics
from eventledger.store.base import AppendObserver
from events import noted

Told = tuple[int, bool]


def recorder() -> tuple[list[Told], AppendObserver]:
    told: list[Told] = []

    def observe(events: int, seconds: float, conflicted: bool) -> None:
        assert seconds >= 0
        told.append((events, conflicted))

    return told, observe


async def test_every_observer_is_told_of_each_append(store: el.EventStore) -> None:
    first, observe_first = recorder()
    second, observe_second = recorder()
    store.add_append_observer(observe_first)
    store.add_append_observer(observe_second)

    await store.append("s", [noted("a"), noted("b")], expected_version=el.NO_STREAM)
    await store.append("s", [noted("c")], expected_version=2)

    assert first == second == [(2, False), (1, False)]


async def test_a_refused_append_is_told_to_every_observer_as_a_conflict(store: el.EventStore) -> None:
    first, observe_first = recorder()
    second, observe_second = recorder()
    store.add_append_observer(observe_first)
    store.add_append_observer(observe_second)

    with pytest.raises(el.ConcurrencyError):
        await store.append("s", [noted("a")], expected_version=3)

    assert first == second == [(0, True)]


async def test_a_removed_observer_is_told_nothing_more(store: el.EventStore) -> None:
    kept, observe_kept = recorder()
    removed, observe_removed = recorder()
    store.add_append_observer(observe_kept)
    store.add_append_observer(observe_removed)
    await store.append("s", [noted("a")], expected_version=el.NO_STREAM)

    store.remove_append_observer(observe_removed)
    await store.append("s", [noted("b")], expected_version=1)

    assert kept == [(1, False), (1, False)]
    assert removed == [(1, False)]


async def test_an_observer_added_twice_is_told_once(store: el.EventStore) -> None:
    told, observe = recorder()
    store.add_append_observer(observe)
    store.add_append_observer(observe)

    await store.append("s", [noted("a")], expected_version=el.NO_STREAM)

    assert told == [(1, False)]


async def test_two_metrics_instances_on_one_store_both_count_its_appends(store: el.EventStore) -> None:
    application, platform = EventLedgerMetrics(), EventLedgerMetrics()
    application.instrument_store(store, name="orders")
    platform.instrument_store(store, name="orders")

    await store.append("s", [noted("a"), noted("b")], expected_version=el.NO_STREAM)

    assert application.store_totals("orders").events == 2
    assert platform.store_totals("orders").events == 2


async def test_instrumenting_a_store_again_counts_its_appends_under_the_new_name_only(
    store: el.EventStore,
) -> None:
    metrics = EventLedgerMetrics()
    metrics.instrument_store(store, name="before")
    metrics.instrument_store(store, name="after")

    await store.append("s", [noted("a")], expected_version=el.NO_STREAM)

    assert metrics.store_totals("after").events == 1
    assert metrics.store_totals("before").events == 0


async def test_assigning_the_single_observer_slot_replaces_every_observer(store: el.EventStore) -> None:
    replaced, observe_replaced = recorder()
    assigned, observe_assigned = recorder()
    store.add_append_observer(observe_replaced)

    store.append_observer = observe_assigned
    await store.append("s", [noted("a")], expected_version=el.NO_STREAM)

    assert (replaced, assigned) == ([], [(1, False)])
    assert store.append_observers == (observe_assigned,)


async def test_metrics_count_a_multi_stream_append_as_one_append_of_all_its_events(
    store: el.EventStore,
) -> None:
    metrics = EventLedgerMetrics()
    metrics.instrument_store(store, name="ledger")

    await store.append_many(
        [
            el.AppendRequest("a", [noted("1"), noted("2")], expected_version=el.NO_STREAM),
            el.AppendRequest("b", [noted("3")], expected_version=el.NO_STREAM),
        ]
    )
    with pytest.raises(el.ConcurrencyError):
        await store.append_many(
            [
                el.AppendRequest("a", [noted("4")], expected_version=el.NO_STREAM),
                el.AppendRequest("c", [noted("5")], expected_version=el.NO_STREAM),
            ]
        )

    totals = metrics.store_totals("ledger")
    assert (totals.events, totals.appends, totals.conflicts) == (3, 2, 1)
