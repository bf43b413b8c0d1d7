"""Raw access to the test server, behind the store's back: connections, inserts, killing backends."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import psycopg

import eventledger as el
from backends import POSTGRES_URL, PostgresBackend

RawConnection = psycopg.AsyncConnection[tuple[object, ...]]
_T = TypeVar("_T")


async def connect(*, autocommit: bool = False) -> RawConnection:
    """A connection of its own to the test database, outside any store."""
    return await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=autocommit)


async def insert_note(connection: RawConnection, schema: str, stream_id: str, version: int, note: str) -> int:
    """Insert a ``test.order-noted`` event in the connection's open transaction; return its position.

    The column defaults hand out the position and the transaction id, exactly as for the store's
    own appends.
    """
    cursor = await connection.execute(
        f'INSERT INTO "{schema}".events (stream_id, version, event_id, type, data) '
        "VALUES (%s, %s, gen_random_uuid(), 'test.order-noted', %s::jsonb) RETURNING position".encode(),
        (stream_id, version, json.dumps({"note": note})),
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(str(row[0]))


async def begin_writing(connection: RawConnection, schema: str) -> int:
    """Begin a transaction the way an event writer must: lock the events table, then take an id.

    Such a transaction can still insert events, so readers of the global log wait for it, as
    for ``PostgresEventStore.writing_transaction()``. Returns its transaction id.
    """
    await connection.execute(f'LOCK TABLE "{schema}".events IN ROW EXCLUSIVE MODE'.encode())
    cursor = await connection.execute("SELECT pg_current_xact_id()::text")
    row = await cursor.fetchone()
    assert row is not None
    return int(str(row[0]))


async def open_named(backend: PostgresBackend, application_name: str) -> el.EventStore:
    """A store whose connections introduce themselves, so a test can find and kill them."""
    store = await el.open_store(f"{backend.url}&application_name={application_name}")
    backend.stores.append(store)
    return store


async def waiting_on_a_lock(application_name: str) -> list[int]:
    async with await connect(autocommit=True) as connection:
        cursor = await connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            (application_name,),
        )
        return [int(str(row[0])) for row in await cursor.fetchall()]


async def backend_pids(application_name: str) -> list[int]:
    """Server process ids of the connections that introduced themselves as ``application_name``."""
    async with await connect(autocommit=True) as connection:
        cursor = await connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        )
        return [int(str(row[0])) for row in await cursor.fetchall()]


async def terminate(pids: list[int]) -> None:
    """Kill those server processes, as an administrator or a failing network would."""
    async with await connect(autocommit=True) as connection:
        for pid in pids:
            await connection.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``condition()`` holds; fail after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition still false after {within}s")
        await asyncio.sleep(0.01)


async def wait_for(probe: Callable[[], Awaitable[_T]], within: float = 10.0) -> _T:
    """Await ``probe()`` until it gives something truthy, and return that; fail after ``within`` s."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"nothing found after {within}s")
        await asyncio.sleep(0.01)


async def settle(
    probe: Callable[[], Awaitable[_T]], condition: Callable[[_T], bool], within: float = 10.0
) -> _T:
    """Await ``probe()`` until ``condition`` holds for what it gives, and return that.

    A read can be held back for a moment by a transaction of another session that ends while
    the read runs (it may have been an event writer: the barrier cannot know once it is gone);
    the next read no longer is. Fails after ``within`` seconds, showing the last value.
    """
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if condition(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still not as expected after {within}s: {value!r}")
        await asyncio.sleep(0.01)


async def collect(subscription: AsyncIterator[el.RecordedEvent], into: list[el.RecordedEvent]) -> None:
    """Append every event a subscription delivers to ``into`` (run it as a task; cancel to stop)."""
    async for recorded in subscription:
        into.append(recorded)


async def read_until(
    store: el.EventStore, count: int, *, after: int = 0, within: float = 10.0
) -> list[el.RecordedEvent]:
    """Re-read the global log until it holds ``count`` events after ``after`` (other sessions on
    the server may hold the visibility barrier for a moment); return what it holds then."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        got = [recorded async for recorded in store.read_all(after=after)]
        if len(got) >= count or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def following(store: el.EventStore) -> AsyncIterator[list[el.RecordedEvent]]:
    """A live subscription's deliveries, collected while the block runs."""
    delivered: list[el.RecordedEvent] = []
    task = asyncio.create_task(collect(store.subscribe(), delivered))
    try:
        yield delivered
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
