"""On PostgreSQL a lower position can commit after a higher one; a projection still misses nothing.

The checkpoint is the position of the last event applied, and ``read_all(after=checkpoint)``
continues exactly after that event in the store's global order (transaction id, position), so
a projection that applied position ``high`` still receives the lower ``low`` committed later.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from projection_rig import POSTGRES_URL, Rig, make_rig
from waits import caught_up, eventually

import eventledger as el
from eventledger.projections import Projection, SQLTransaction, Target, handles
from events import OrderNoted

RawConnection = psycopg.AsyncConnection[tuple[object, ...]]


class NoteLog(Projection[SQLTransaction], name="note-log"):
    """Every note, in the order the projection applied them."""

    tables = ("notes",)

    async def setup(self, sql: SQLTransaction) -> None:
        await sql.execute(
            f"CREATE TABLE {sql.table('notes')} "
            "(applied_order BIGSERIAL, position BIGINT NOT NULL, note TEXT)"
        )

    @handles
    async def noted(self, event: OrderNoted, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        await sql.execute(
            f"INSERT INTO {sql.table('notes')} (position, note) VALUES (%s, %s)",
            (recorded.position, event.note),
        )


@pytest.fixture
async def postgres_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async for made in make_rig("postgres", tmp_path):
        yield made


async def applied(target: Target[SQLTransaction]) -> list[int]:
    async with target.read() as sql:  # type: ignore[attr-defined]
        rows = await sql.fetch_all(f"SELECT position FROM {sql.table('notes')} ORDER BY applied_order")
    return [int(row[0]) for row in rows]


async def insert_note(connection: RawConnection, schema: str, stream_id: str, version: int, note: str) -> int:
    """A note inserted in the connection's open transaction, the way the store appends; its position."""
    cursor = await connection.execute(
        f'INSERT INTO "{schema}".events (stream_id, version, event_id, type, data) '
        "VALUES (%s, %s, gen_random_uuid(), 'test.order-noted', %s::jsonb) RETURNING position".encode(),
        (stream_id, version, json.dumps({"note": note})),
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(str(row[0]))


async def begin_writing(connection: RawConnection, schema: str) -> None:
    """Begin as every event writer must: lock the events table, then take a transaction id.

    Readers wait only for transactions holding that lock (see ``PostgresEventStore.writing_transaction``).
    """
    await connection.execute(f'LOCK TABLE "{schema}".events IN ROW EXCLUSIVE MODE'.encode())
    await connection.execute("SELECT pg_current_xact_id()")


async def test_a_lower_position_committed_after_a_higher_one_is_still_projected_once(
    postgres_rig: Rig,
) -> None:
    target = postgres_rig.new_target()
    runner = el.ProjectionRunner(postgres_rig.store, [NoteLog(target)])
    running = asyncio.create_task(runner.run(handle_signals=False))
    older = await psycopg.AsyncConnection.connect(POSTGRES_URL)
    newer = await psycopg.AsyncConnection.connect(POSTGRES_URL)
    try:
        await caught_up(runner)
        # `older` takes its transaction id first (as an event writer must, after locking the events
        # table); `newer` then inserts first, taking the lower position.
        await begin_writing(older, postgres_rig.schema)
        low = await insert_note(newer, postgres_rig.schema, "newer", 1, "committed last")
        high = await insert_note(older, postgres_rig.schema, "older", 1, "committed first")
        assert low < high
        await older.commit()

        # The projection runs in between: it applies `high` and its checkpoint is `high`.
        await eventually(lambda: _equal(applied(target), [high]))
        assert (await runner.status_of("note-log")).checkpoint == high

        await newer.commit()

        # ... and `low` still arrives, once, although it is below the checkpoint's position.
        await eventually(lambda: _equal(applied(target), [high, low]))
        await asyncio.sleep(0.3)  # time enough for a duplicate to show, if there were one
        assert await applied(target) == [high, low]
        assert (await runner.status_of("note-log")).checkpoint == low
    finally:
        runner.stop()
        await running
        await older.close()
        await newer.close()


@pytest.mark.slow
async def test_soak_writers_committing_out_of_order_while_a_projection_follows(postgres_rig: Rig) -> None:
    target = postgres_rig.new_target()
    runner = el.ProjectionRunner(postgres_rig.store, [NoteLog(target)], batch_size=7)
    running = asyncio.create_task(runner.run(handle_signals=False))
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + 2.0
    written: set[int] = set()

    async def store_writer(name: str) -> None:
        store = await postgres_rig.open_store()
        version = 0
        while loop.time() < stop_at:
            result = await store.append(name, [OrderNoted(note=f"{name}-{version}")], expected_version=el.ANY)
            version = result.version
            written.update(result.positions)

    async def out_of_order_writer(name: str) -> None:
        connection = await psycopg.AsyncConnection.connect(POSTGRES_URL)
        try:
            version = 0
            while loop.time() < stop_at:
                await begin_writing(connection, postgres_rig.schema)
                await asyncio.sleep(random.uniform(0, 0.01))
                position = await insert_note(connection, postgres_rig.schema, name, version + 1, name)
                await asyncio.sleep(random.uniform(0, 0.005))
                await connection.commit()
                version += 1
                written.add(position)
        finally:
            await connection.close()

    try:
        await asyncio.gather(
            *(store_writer(f"writer-{index}") for index in range(2)),
            *(out_of_order_writer(f"slow-{index}") for index in range(2)),
        )
        await eventually(lambda: _count_at_least(applied(target), len(written)))
        await asyncio.sleep(0.3)
    finally:
        runner.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    order = await applied(target)
    assert sorted(order) == sorted(written)
    assert order == [recorded.position async for recorded in postgres_rig.store.read_all()]
    assert any(later < earlier for earlier, later in itertools.pairwise(order))


async def _equal(value: object, expected: object) -> bool:
    return (await value) == expected  # type: ignore[misc]


async def _count_at_least(value: object, count: int) -> bool:
    return len(await value) >= count  # type: ignore[misc]
