"""Subscriptions: catch up on the past, then follow live appends, in global order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

import eventledger as el
from eventledger.errors import StoreClosed
from eventledger.testing.conformance.events import OrderCreated, created, noted
from eventledger.testing.conformance.fixtures import StoreFixtures
from eventledger.testing.conformance.subjects import OpenedStores


async def take(subscription: object, count: int) -> list[el.RecordedEvent]:
    got: list[el.RecordedEvent] = []
    async for recorded in subscription:  # type: ignore[attr-defined]
        got.append(recorded)
        if len(got) == count:
            break
    return got


async def until(condition: Callable[[], bool], what: str, within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {within}s")
        await asyncio.sleep(0.005)


class SubscribeSpecification(StoreFixtures):
    """Subscriptions: catch up on the past, then follow live appends, in global order."""

    async def test_subscribe_catches_up_then_receives_live_appends(self, store: el.EventStore) -> None:
        await store.append("s", [noted("old-1"), noted("old-2")], expected_version=0)
        reader = asyncio.create_task(asyncio.wait_for(take(store.subscribe(), 5), 10))
        await asyncio.sleep(0.1)
        await store.append("s", [noted("new-1")], expected_version=2)
        await store.append("t", [noted("new-2"), noted("new-3")], expected_version=0)
        got = await reader
        assert [r.event.note for r in got] == ["old-1", "old-2", "new-1", "new-2", "new-3"]  # type: ignore[attr-defined]
        assert [r.position for r in got] == sorted(r.position for r in got)

    async def test_subscribe_after_a_position_starts_after_it(self, store: el.EventStore) -> None:
        result = await store.append("s", [noted("a"), noted("b"), noted("c")], expected_version=0)
        got = await asyncio.wait_for(take(store.subscribe(after=result.positions[0]), 2), 10)
        assert [r.event.note for r in got] == ["b", "c"]  # type: ignore[attr-defined]

    async def test_subscribe_with_a_type_filter_delivers_only_those_types(self, store: el.EventStore) -> None:
        await store.append("s", [noted("a"), created("o1")], expected_version=0)
        reader = asyncio.create_task(asyncio.wait_for(take(store.subscribe(types=[OrderCreated]), 2), 10))
        await asyncio.sleep(0.05)
        await store.append("s", [noted("b"), created("o2")], expected_version=2)
        got = await reader
        assert [r.event.order_id for r in got] == ["o1", "o2"]  # type: ignore[attr-defined]

    async def test_subscriber_sees_appends_from_another_connection(self, stores: OpenedStores) -> None:
        reader_store = await stores.open()
        writer_store = await stores.open()
        try:
            reader = asyncio.create_task(asyncio.wait_for(take(reader_store.subscribe(), 3), 10))
            await asyncio.sleep(0.1)
            for index in range(3):
                await writer_store.append("s", [noted(str(index))], expected_version=index)
                await asyncio.sleep(0.02)
            got = await reader
            assert [r.version for r in got] == [1, 2, 3]
        finally:
            await reader_store.close()
            await writer_store.close()

    async def test_closing_the_store_ends_a_waiting_subscription_with_store_closed(
        self,
        stores: OpenedStores,
    ) -> None:
        store = await stores.open()
        reader = asyncio.create_task(take(store.subscribe(), 1))
        await asyncio.sleep(0.05)
        await store.close()
        with pytest.raises(StoreClosed):
            await asyncio.wait_for(reader, 5)

    @pytest.mark.parametrize("ticks", [0, 1, 2, 3])
    async def test_a_subscriber_cancelled_just_after_a_wake_up_stops(
        self, store: el.EventStore, ticks: int
    ) -> None:
        """Cancellation must win even when it lands while a wake-up is being delivered."""
        head = await store.head_position()

        async def consume() -> None:
            async for _ in store.subscribe(after=head + 10**9):
                pass

        loop = asyncio.get_running_loop()
        for _ in range(5):
            task = asyncio.create_task(consume())
            await asyncio.sleep(0.02)
            await store.append("wake", [noted("w")], expected_version=el.ANY)

            def cancel_later(remaining: int, task: asyncio.Task[None] = task) -> None:
                if remaining == 0:
                    task.cancel()
                else:
                    loop.call_soon(cancel_later, remaining - 1)

            cancel_later(ticks)
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)

    async def test_an_append_wakes_a_waiting_subscriber_of_the_same_store_long_before_its_next_poll(
        self,
        stores: OpenedStores,
    ) -> None:
        store = await stores.open_polling_every_minute()
        await store.append("s", [noted("first")], expected_version=el.NO_STREAM)
        # On PostgreSQL the first subscriber to wait starts the store's LISTEN connection, which
        # wakes every waiting subscriber once it is in place; get that over with first.
        warm_up = asyncio.create_task(take(store.subscribe(after=10**9), 1))
        await until(lambda: getattr(store, "listening", True), "the store listening", 10)
        warm_up.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await warm_up
        delivered: list[el.RecordedEvent] = []

        async def follow() -> None:
            async for recorded in store.subscribe():
                delivered.append(recorded)

        subscriber = asyncio.create_task(follow())
        try:
            await until(lambda: len(delivered) == 1, "catching up on the first event", 10)
            await asyncio.sleep(0.05)  # found an event, so now asleep for its full minute
            await store.append("s", [noted("second")], expected_version=1)
            await until(lambda: len(delivered) == 2, "the append waking the subscriber", 1.0)
        finally:
            subscriber.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await subscriber
        assert [r.event.note for r in delivered] == ["first", "second"]  # type: ignore[attr-defined]
