"""Subscriptions on PostgreSQL: NOTIFY wakes them, polling backs it up, dropped connections heal."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from postgres_server import backend_pids, begin_writing, collect, connect, eventually, terminate, wait_for

import eventledger as el
from backends import PostgresBackend
from eventledger.errors import StoreClosed
from events import noted


async def open_with(backend: PostgresBackend, options: str) -> el.EventStore:
    store = await el.open_store(f"{backend.url}&{options}")
    backend.stores.append(store)
    return store


async def test_a_notification_wakes_a_subscriber_in_another_store_long_before_its_next_poll(
    backend: PostgresBackend,
) -> None:
    reader = await open_with(backend, "poll_interval=60")
    silent_writer = await open_with(backend, "notify=false")
    writer = await backend.open()
    delivered: list[el.RecordedEvent] = []
    subscriber = asyncio.create_task(collect(reader.subscribe(), delivered))
    try:
        await eventually(lambda: reader.listening)  # type: ignore[attr-defined]
        # Found by the quick re-reads that follow the listener's first wake-up (no NOTIFY).
        await silent_writer.append("s", [noted("found")], expected_version=el.NO_STREAM)
        await eventually(lambda: len(delivered) == 1, within=20)
        # Having just found an event, the subscriber sleeps its full 60 s: only the NOTIFY
        # sent by the other store can wake it sooner.
        await asyncio.sleep(0.05)
        await writer.append("s", [noted("wake up")], expected_version=1)
        await eventually(lambda: len(delivered) == 2, within=5)
    finally:
        subscriber.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await subscriber
    assert [r.event.note for r in delivered] == ["found", "wake up"]  # type: ignore[attr-defined]


async def test_a_subscriber_receives_appends_that_sent_no_notification(backend: PostgresBackend) -> None:
    reader = await open_with(backend, "poll_interval=0.05")
    silent_writer = await open_with(backend, "notify=false")
    delivered: list[el.RecordedEvent] = []
    subscriber = asyncio.create_task(collect(reader.subscribe(), delivered))
    try:
        await asyncio.sleep(0.1)
        for index in range(3):
            await silent_writer.append("s", [noted(str(index))], expected_version=index)
        await eventually(lambda: len(delivered) == 3)
    finally:
        subscriber.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await subscriber
    assert [r.version for r in delivered] == [1, 2, 3]


async def test_a_subscriber_whose_connections_are_killed_reconnects_and_resumes_without_gaps(
    backend: PostgresBackend,
) -> None:
    name = f"subscriber-{uuid.uuid4().hex[:8]}"
    reader = await open_with(backend, f"application_name={name}&poll_interval=0.05")
    writer = await backend.open()
    delivered: list[el.RecordedEvent] = []
    subscriber = asyncio.create_task(collect(reader.subscribe(), delivered))
    try:
        await writer.append("s", [noted("1"), noted("2")], expected_version=el.NO_STREAM)
        await eventually(lambda: len(delivered) == 2 and reader.listening)  # type: ignore[attr-defined]
        killed = await backend_pids(name)
        assert len(killed) >= 2  # the pool's connection and the LISTEN connection
        await terminate(killed)

        await writer.append("s", [noted("3")], expected_version=2)
        await writer.append("s", [noted("4")], expected_version=3)
        await eventually(lambda: len(delivered) == 4)

        async def listening_again() -> bool:
            alive = set(await backend_pids(name))
            return bool(reader.listening and alive and not alive & set(killed))  # type: ignore[attr-defined]

        await wait_for(listening_again)
        await writer.append("s", [noted("5")], expected_version=4)
        await eventually(lambda: len(delivered) == 5)
        await asyncio.sleep(0.2)  # time enough for a duplicate to show up, if there were one
    finally:
        subscriber.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await subscriber
    assert [r.event.note for r in delivered] == ["1", "2", "3", "4", "5"]  # type: ignore[attr-defined]


async def test_closing_the_store_stops_its_listener_and_ends_the_subscription(
    backend: PostgresBackend,
) -> None:
    name = f"closing-{uuid.uuid4().hex[:8]}"
    reader = await open_with(backend, f"application_name={name}")
    subscription = reader.subscribe()
    waiting = asyncio.create_task(anext(subscription))
    await eventually(lambda: reader.listening)  # type: ignore[attr-defined]
    await reader.close()
    with pytest.raises(StoreClosed):
        await asyncio.wait_for(waiting, 5)

    async def no_connections_left() -> bool:
        return not await backend_pids(name)

    await wait_for(no_connections_left)


async def test_a_subscriber_cancelled_while_it_is_being_woken_stops(backend: PostgresBackend) -> None:
    store = await backend.open()
    loop = asyncio.get_running_loop()
    for ticks in range(6):
        task = asyncio.create_task(collect(store.subscribe(), []))
        await asyncio.sleep(0.05)  # caught up, asleep until woken
        await store.append(f"s{ticks}", [noted("wake")], expected_version=el.NO_STREAM)

        def cancel_after(remaining: int, task: asyncio.Task[None] = task) -> None:
            if remaining:
                loop.call_soon(cancel_after, remaining - 1)
            else:
                task.cancel()

        cancel_after(ticks)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), 5)


async def test_an_event_announced_while_another_transaction_holds_the_barrier_arrives_when_it_ends(
    backend: PostgresBackend,
) -> None:
    reader = await open_with(backend, "poll_interval=60")
    writer = await backend.open()
    delivered: list[el.RecordedEvent] = []
    subscriber = asyncio.create_task(collect(reader.subscribe(), delivered))
    blocker = await connect()
    try:
        await eventually(lambda: reader.listening)  # type: ignore[attr-defined]
        await begin_writing(blocker, backend.schema)  # an older event writer, still open
        await writer.append("s", [noted("held back")], expected_version=el.NO_STREAM)
        await asyncio.sleep(0.3)  # the notification came and went; the event is not visible yet
        assert delivered == []
        await blocker.commit()  # ends without writing an event: nobody sends a notification
        await eventually(lambda: len(delivered) == 1, within=5)  # long before the 60 s poll
    finally:
        await blocker.close()
        subscriber.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await subscriber


async def test_a_burst_of_appends_is_announced_with_a_few_notifications_not_one_each(
    backend: PostgresBackend,
) -> None:
    writer = await backend.open()
    async with await connect(autocommit=True) as listener:
        await listener.execute(f'LISTEN "eventledger.{backend.schema}"'.encode())
        for index in range(40):
            await writer.append("s", [noted(str(index))], expected_version=index)
        received = [notification async for notification in listener.notifies(timeout=0.5)]
    assert 1 <= len(received) < 40
