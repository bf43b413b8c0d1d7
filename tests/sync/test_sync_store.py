"""The synchronous store: the async store's methods and errors, blocking, from any thread."""

from __future__ import annotations

import threading

import pytest

from eventledger import ANY, NO_STREAM, AppendRequest, ConcurrencyError, InvalidArgument
from eventledger.errors import InvalidStoreURL, StoreClosed, StoreError
from eventledger.sync import EventStore, open_store
from events import OrderConfirmed, OrderCreated, OrderNoted


def test_append_then_read_stream_gives_the_events_in_order(store: EventStore) -> None:
    events = [OrderCreated(order_id="1"), OrderNoted(note="a")]
    result = store.append("order-1", events, expected_version=NO_STREAM)

    read = list(store.read_stream("order-1"))

    assert result.version == 2
    assert [(recorded.version, type(recorded.event)) for recorded in read] == [
        (1, OrderCreated),
        (2, OrderNoted),
    ]


def test_a_stale_expected_version_raises_the_async_apis_concurrency_error(store: EventStore) -> None:
    store.append("order-1", [OrderCreated(order_id="1")], expected_version=NO_STREAM)

    with pytest.raises(ConcurrencyError) as raised:
        store.append("order-1", [OrderNoted(note="late")], expected_version=NO_STREAM)

    assert raised.value.stream_id == "order-1"
    assert store.stream_version("order-1") == 1


def test_an_invalid_argument_raises_invalid_argument(store: EventStore) -> None:
    with pytest.raises(InvalidArgument):
        list(store.read_stream("order-1", limit=-1))


def test_append_many_writes_every_stream_in_one_commit(store: EventStore) -> None:
    results = store.append_many(
        [
            AppendRequest("order-1", [OrderCreated(order_id="1")], expected_version=NO_STREAM),
            AppendRequest("order-2", [OrderCreated(order_id="2")], expected_version=ANY),
        ]
    )

    assert [result.version for result in results] == [1, 1]
    assert [recorded.stream_id for recorded in store.read_all()] == ["order-1", "order-2"]


def test_read_all_pages_through_more_events_than_the_buffer_holds(store: EventStore) -> None:
    store.buffer = 7
    store.append("order-1", [OrderNoted(note=str(n)) for n in range(50)], expected_version=NO_STREAM)

    notes = [recorded.event.note for recorded in store.read_all(types=[OrderNoted])]  # type: ignore[attr-defined]

    assert notes == [str(n) for n in range(50)]


def test_read_all_after_a_position_and_with_a_limit(store: EventStore) -> None:
    store.append("order-1", [OrderNoted(note=str(n)) for n in range(10)], expected_version=NO_STREAM)

    positions = [recorded.position for recorded in store.read_all(after=3, limit=4)]

    assert len(positions) == 4 and positions[0] > 3


def test_subscribe_delivers_events_appended_by_another_thread_while_it_waits(store: EventStore) -> None:
    store.append("order-1", [OrderCreated(order_id="1")], expected_version=NO_STREAM)
    subscription = store.subscribe()
    first = next(subscription)
    appender = threading.Thread(
        target=store.append, args=("order-1", [OrderConfirmed(order_id="1")]), kwargs={"expected_version": 1}
    )

    appender.start()
    second = next(subscription)
    appender.join()
    subscription.close()

    assert (type(first.event), type(second.event)) == (OrderCreated, OrderConfirmed)


def test_leaving_a_subscription_early_stops_its_read_and_the_store_stays_usable(store: EventStore) -> None:
    store.append("order-1", [OrderNoted(note=str(n)) for n in range(20)], expected_version=NO_STREAM)

    for recorded in store.subscribe():
        if recorded.version == 3:
            break

    assert store.stream_version("order-1") == 20


def test_closing_the_store_ends_a_waiting_subscription_with_store_closed(store_url: str) -> None:
    store = open_store(store_url)
    subscription = store.subscribe()
    outcome: list[BaseException] = []

    def consume() -> None:
        try:
            for _ in subscription:
                pass
        except BaseException as error:
            outcome.append(error)

    consumer = threading.Thread(target=consume)
    consumer.start()
    store.close()
    consumer.join(timeout=30)

    assert not consumer.is_alive(), "the subscriber was still waiting 30s after the store closed"
    assert [type(error) for error in outcome] == [StoreClosed]


def test_calls_after_close_raise_store_closed(store_url: str) -> None:
    store = open_store(store_url)
    store.close()
    store.close()  # idempotent

    assert store.closed
    with pytest.raises(StoreClosed):
        store.stream_version("order-1")


def test_the_context_manager_closes_the_store(store_url: str) -> None:
    with open_store(store_url) as store:
        store.append("order-1", [OrderCreated(order_id="1")], expected_version=NO_STREAM)

    assert store.closed


def test_a_bad_url_raises_invalid_store_url() -> None:
    with pytest.raises(InvalidStoreURL):
        open_store("nosuch://x")


def test_a_call_from_the_stores_own_loop_thread_raises_instead_of_hanging(store: EventStore) -> None:
    async def call_back_in() -> int:
        return store.stream_version("order-1")

    with pytest.raises(StoreError, match="its own event loop thread"):
        store.portal.call(call_back_in())


def test_many_threads_append_to_one_stream_and_every_event_is_stored_once(store: EventStore) -> None:
    store.append("counter", [OrderCreated(order_id="c")], expected_version=NO_STREAM)
    threads, per_thread = 8, 10
    conflicts = 0
    lock = threading.Lock()

    def append_some(worker: int) -> None:
        nonlocal conflicts
        written = 0
        while written < per_thread:
            version = store.stream_version("counter")
            try:
                store.append("counter", [OrderNoted(note=f"{worker}-{written}")], expected_version=version)
                written += 1
            except ConcurrencyError:
                with lock:
                    conflicts += 1

    workers = [threading.Thread(target=append_some, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    notes = [recorded.event.note for recorded in store.read_stream("counter", from_version=2)]  # type: ignore[attr-defined]
    assert sorted(notes) == sorted(f"{w}-{n}" for w in range(threads) for n in range(per_thread))
    assert [recorded.version for recorded in store.read_stream("counter")] == list(range(1, 82))
