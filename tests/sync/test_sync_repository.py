"""The synchronous repository: load, save and update with retry, from many threads."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from examples.orders.domain import Order
from examples.orders.events import OrderItem

import eventledger as el
from eventledger import AggregateNotFound, ConcurrencyError, DomainError, RetryPolicy
from eventledger.sync import EventStore, Repository

ITEMS = [OrderItem(sku="book", quantity=1, unit_price=Decimal("9.99"))]


class Counted(el.Event, type_name="test.sync.counted"):
    by: str


class Counter(el.Aggregate, type_name="test.sync.counter"):
    counted_by: list[str] = []

    def count(self, by: str) -> None:
        self.record(Counted(by=by))

    @el.applies
    def _counted(self, event: Counted) -> None:
        self.counted_by = [*self.counted_by, event.by]


def test_a_saved_aggregate_loads_with_its_state_and_version(store: EventStore) -> None:
    orders = Repository(store, Order)
    orders.save(Order.create("order-1", ITEMS))

    loaded = orders.load("order-1")

    assert (loaded.version, loaded.status, loaded.total) == (1, "pending", Decimal("9.99"))


def test_loading_a_missing_aggregate_raises_aggregate_not_found(store: EventStore) -> None:
    with pytest.raises(AggregateNotFound):
        Repository(store, Order).load("nobody")


def test_a_stale_save_raises_concurrency_error_and_keeps_the_uncommitted_events(store: EventStore) -> None:
    orders = Repository(store, Order)
    orders.save(Order.create("order-1", ITEMS))
    first, second = orders.load("order-1"), orders.load("order-1")
    first.confirm()
    orders.save(first)
    second.cancel("too late")

    with pytest.raises(ConcurrencyError):
        orders.save(second)

    assert len(second.uncommitted_events) == 1


def test_update_runs_the_decision_and_saves(store: EventStore) -> None:
    orders = Repository(store, Order)
    orders.save(Order.create("order-1", ITEMS))

    updated = orders.update("order-1", lambda order: order.confirm())

    assert (updated.version, orders.load("order-1").status) == (2, "confirmed")


def test_update_propagates_a_broken_rule_at_once(store: EventStore) -> None:
    orders = Repository(store, Order)
    orders.save(Order.create("order-1", ITEMS))
    orders.update("order-1", lambda order: order.cancel())
    decisions = 0

    def confirm(order: Order) -> None:
        nonlocal decisions
        decisions += 1
        order.confirm()

    with pytest.raises(DomainError):
        orders.update("order-1", confirm)
    assert decisions == 1


def test_update_with_a_stale_expected_version_raises_at_once(store: EventStore) -> None:
    orders = Repository(store, Order)
    orders.save(Order.create("order-1", ITEMS))
    orders.update("order-1", lambda order: order.confirm())

    with pytest.raises(ConcurrencyError):
        orders.update("order-1", lambda order: order.cancel(), expected_version=1)


def test_updates_from_many_threads_retry_their_conflicts_and_none_is_lost(store: EventStore) -> None:
    counters = Repository(store, Counter, retry=RetryPolicy(attempts=100, first_delay=0.001, max_delay=0.01))
    first = Counter.new("counter-1")
    first.count("setup")
    counters.save(first)
    threads = 8
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def note(index: int) -> None:
        start.wait()
        try:
            counters.update("counter-1", lambda counter: counter.count(f"thread {index}"))
        except BaseException as error:
            failures.append(error)

    workers = [threading.Thread(target=note, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert failures == []
    counted = counters.load("counter-1")
    assert sorted(counted.counted_by) == sorted(["setup", *(f"thread {n}" for n in range(threads))])
