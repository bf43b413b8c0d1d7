"""A store's own reads of the global log find what it appended, even on a busy server.

A read is held below the visibility barrier for that one statement by any transaction that
commits while it runs (the barrier cannot tell whether it wrote events). Other programs commit
all the time on a shared server, so a store that appends and then reads must read again until
its own appends are below the barrier, never return a page without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

import psycopg

from backends import PostgresBackend
from events import noted

OTHER_DATABASE = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.asynccontextmanager
async def busy_server(connections: int = 6) -> AsyncIterator[None]:
    """Short transactions with transaction ids committing back to back, in another database."""

    async def commit_over_and_over(connection: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        # Each lives a few milliseconds, so some began before an append and end during the read
        # that follows it: those are the ones that hold a read back.
        while True:
            async with connection.transaction():
                await connection.execute("SELECT pg_current_xact_id()")
                await asyncio.sleep(random.uniform(0.001, 0.005))

    opened = [
        await psycopg.AsyncConnection.connect(OTHER_DATABASE, autocommit=True) for _ in range(connections)
    ]
    tasks = [asyncio.create_task(commit_over_and_over(connection)) for connection in opened]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for connection in opened:
            await connection.close()


async def test_every_read_right_after_an_append_includes_it_while_other_transactions_commit(
    backend: PostgresBackend,
) -> None:
    store = await backend.open()
    store.own_writes_wait = 10.0  # type: ignore[attr-defined]  # bounds the test, never reached
    missed: list[int] = []
    async with busy_server():
        for number in range(300):
            result = await store.append("mine", [noted(str(number))], expected_version=number)
            position = result.positions[0]
            found = [recorded.position async for recorded in store.read_all(after=position - 1, limit=1)]
            if found != [position]:
                missed.append(number)
    assert missed == []


async def test_the_head_right_after_an_append_is_at_least_its_position_while_other_transactions_commit(
    backend: PostgresBackend,
) -> None:
    store = await backend.open()
    store.own_writes_wait = 10.0  # type: ignore[attr-defined]
    behind: list[int] = []
    async with busy_server():
        for number in range(300):
            result = await store.append("mine", [noted(str(number))], expected_version=number)
            if await store.head_position() < result.positions[0]:
                behind.append(number)
    assert behind == []


async def test_a_subscriber_of_another_store_still_gets_every_event_from_a_busy_server(
    backend: PostgresBackend,
) -> None:
    writer, reader = await backend.open(), await backend.open()
    delivered: list[int] = []

    async def follow() -> None:
        async for recorded in reader.subscribe():
            delivered.append(recorded.position)
            if len(delivered) == 100:
                return

    following = asyncio.create_task(follow())
    written = []
    async with busy_server():
        for number in range(100):
            written.append(
                (await writer.append("s", [noted(str(number))], expected_version=number)).positions[0]
            )
        await asyncio.wait_for(following, 30)
    assert delivered == written


async def test_a_second_read_after_an_append_includes_it_too_while_other_transactions_commit(
    backend: PostgresBackend,
) -> None:
    # The store used to forget an append once a read had found it, so the next read could be
    # held below it for a moment and show less of the log than the read before it.
    store = await backend.open()
    store.own_writes_wait = 10.0  # type: ignore[attr-defined]
    missed: list[int] = []
    async with busy_server():
        for number in range(300):
            result = await store.append("mine", [noted(str(number))], expected_version=number)
            position = result.positions[0]
            for _read in range(2):
                found = [recorded.position async for recorded in store.read_all(after=position - 1, limit=1)]
                if found != [position]:
                    missed.append(number)
    assert missed == []
