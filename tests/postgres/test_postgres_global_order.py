"""The global log never skips on PostgreSQL, even when transactions commit out of position order.

Positions are handed out at insert and become visible at commit. These tests drive real
connections so that a lower position commits after a higher one, and check that readers and
subscribers running in between still deliver every event exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random

from postgres_server import begin_writing, collect, connect, eventually, insert_note, read_until

import eventledger as el
from backends import PostgresBackend
from events import noted


async def test_a_lower_position_committed_after_a_higher_one_is_still_delivered_exactly_once(
    backend: PostgresBackend,
) -> None:
    reader = await backend.open()
    delivered: list[el.RecordedEvent] = []
    subscriber = asyncio.create_task(collect(reader.subscribe(), delivered))
    older = await connect()
    newer = await connect()
    try:
        # `older` has already written something, so its transaction id is the older one ...
        await older.execute("SELECT pg_current_xact_id()")
        # ... but `newer` inserts first and takes the lower position.
        low = await insert_note(newer, backend.schema, "newer", 1, "committed last")
        high = await insert_note(older, backend.schema, "older", 1, "committed first")
        assert low < high
        await older.commit()

        # Between the two commits: the higher position is readable, the lower one is not yet.
        between = await read_until(reader, 1)
        assert [r.position for r in between] == [high]
        await eventually(lambda: len(delivered) == 1)
        assert [r.position for r in delivered] == [high]

        await newer.commit()

        # A reader that stopped at `high` continues with `low`, which a `position > high`
        # reader would have skipped for ever.
        after_high = await read_until(reader, 1, after=high)
        assert [r.position for r in after_high] == [low]
        await eventually(lambda: len(delivered) == 2)
        await asyncio.sleep(0.2)  # time enough for a duplicate to show up, if there were one
        assert [r.position for r in delivered] == [high, low]
        assert [r.position async for r in reader.read_all()] == [high, low]
    finally:
        subscriber.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await subscriber
        await older.close()
        await newer.close()


async def test_read_all_after_any_delivered_position_continues_exactly_after_it_in_global_order(
    backend: PostgresBackend,
) -> None:
    store = await backend.open()
    first = await connect()
    second = await connect()
    try:
        await first.execute("SELECT pg_current_xact_id()")
        await insert_note(second, backend.schema, "b", 1, "b1")
        await insert_note(first, backend.schema, "a", 1, "a1")
        await insert_note(second, backend.schema, "b", 2, "b2")
        await insert_note(first, backend.schema, "a", 2, "a2")
        await second.commit()
        await first.commit()
        everything = await read_until(store, 4)
        # Grouped by transaction, in transaction order; positions interleave.
        assert [r.event.note for r in everything] == ["a1", "a2", "b1", "b2"]  # type: ignore[attr-defined]
        for index, recorded in enumerate(everything):
            rest = [r.event_id async for r in store.read_all(after=recorded.position)]
            assert rest == [r.event_id for r in everything[index + 1 :]]
    finally:
        await first.close()
        await second.close()


async def test_soak_concurrent_writers_and_a_live_subscriber_agree_with_read_all(
    backend: PostgresBackend,
) -> None:
    writers = [await backend.open() for _ in range(3)]
    reader = await backend.open()
    delivered: list[el.RecordedEvent] = []
    subscriber = asyncio.create_task(collect(reader.subscribe(), delivered))
    acknowledged: set[int] = set()
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + 3.0

    async def store_writer(store: el.EventStore, name: str) -> None:
        versions = dict.fromkeys(range(4), 0)
        while loop.time() < stop_at:
            stream = random.randrange(4)
            batch = [noted(f"{name}-{stream}-{versions[stream] + i}") for i in range(random.randint(1, 3))]
            expected: el.ExpectedVersion = versions[stream] if random.random() < 0.5 else el.ANY
            result = await store.append(f"{name}-{stream}", batch, expected_version=expected)
            versions[stream] = result.version
            acknowledged.update(result.positions)

    async def out_of_order_writer(name: str) -> None:
        # Takes its transaction id first and inserts later, so its event gets a higher position
        # than events of younger transactions that commit before it. Like every event writer,
        # it locks the events table before it takes an id (see begin_writing).
        connection = await connect()
        try:
            version = 0
            while loop.time() < stop_at:
                await begin_writing(connection, backend.schema)
                await asyncio.sleep(random.uniform(0, 0.01))
                position = await insert_note(connection, backend.schema, name, version + 1, name)
                await asyncio.sleep(random.uniform(0, 0.005))
                await connection.commit()
                version += 1
                acknowledged.add(position)
        finally:
            await connection.close()

    try:
        await asyncio.gather(
            *(store_writer(store, f"w{n}-{task}") for n, store in enumerate(writers) for task in range(2)),
            *(out_of_order_writer(f"slow-{index}") for index in range(2)),
        )
        await eventually(lambda: len(delivered) >= len(acknowledged), within=30)
        await asyncio.sleep(0.2)  # time enough for a duplicate to show up, if there were one
        everything = [r async for r in reader.read_all()]
    finally:
        subscriber.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await subscriber

    assert {r.position for r in everything} == acknowledged
    assert [r.event_id for r in delivered] == [r.event_id for r in everything]
    assert len({r.event_id for r in delivered}) == len(delivered)
    # The run really did commit out of position order (or it would prove nothing).
    assert any(later.position < earlier.position for earlier, later in itertools.pairwise(delivered))
