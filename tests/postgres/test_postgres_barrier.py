"""The visibility barrier waits only for transactions that can still add events to this store.

A transaction holds back the readers of a store's global log only while it holds a lock on that
store's events table in a mode that can insert (an INSERT's ROW EXCLUSIVE, or stronger). Any other
open transaction on the server, in this database or another, with or without a transaction id,
reading the events or not, leaves readers alone. Every event writer must therefore take that lock
before its transaction gets an id: ``PostgresEventStore.writing_transaction()`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import psycopg
import pytest
from postgres_server import (
    RawConnection,
    connect,
    eventually,
    following,
    insert_note,
    read_until,
    settle,
)

import eventledger as el
from backends import PostgresBackend
from eventledger.store.postgres import PostgresEventStore, VisibilityStatus
from events import noted

OTHER_DATABASE = "postgresql://postgres@127.0.0.1:5432/postgres"


async def open_postgres(backend: PostgresBackend) -> PostgresEventStore:
    store = await backend.open()
    assert isinstance(store, PostgresEventStore)
    return store


def nothing_held_back(status: VisibilityStatus) -> bool:
    return status.held_back_events == 0 and status.oldest_open_transaction is None


async def assert_appends_are_read_while_it_stays_open(
    backend: PostgresBackend, blocker: RawConnection
) -> None:
    """Appends made while ``blocker``'s transaction is open are read and delivered."""
    writer = await backend.open()
    reader = await open_postgres(backend)
    async with following(reader) as delivered:
        await blocker.execute("SELECT pg_current_xact_id()")  # it has an id, and stays open
        results = [
            await writer.append(f"s{index}", [noted(str(index))], expected_version=0) for index in range(3)
        ]
        positions = [result.positions[0] for result in results]

        # The blocker stays open throughout: the old barrier would wait for it for ever.
        assert [r.position for r in await read_until(reader, 3)] == positions
        assert await settle(reader.head_position, lambda head: head == positions[-1]) == positions[-1]
        status = await settle(reader.visibility_status, nothing_held_back)
        assert (status.written_position, status.visible_position) == (positions[-1], positions[-1])
        assert status.oldest_held_back_at is None
        await eventually(lambda: len(delivered) == 3, within=10)
        assert [r.position for r in delivered] == positions


async def test_an_open_transaction_in_the_same_database_does_not_hold_readers_back(
    backend: PostgresBackend,
) -> None:
    async with await connect() as blocker:
        await assert_appends_are_read_while_it_stays_open(backend, blocker)


async def test_an_open_transaction_in_another_database_does_not_hold_readers_back(
    backend: PostgresBackend,
) -> None:
    async with await psycopg.AsyncConnection.connect(OTHER_DATABASE) as blocker:
        await assert_appends_are_read_while_it_stays_open(backend, blocker)


async def test_a_transaction_that_read_and_share_locked_the_events_does_not_hold_readers_back(
    backend: PostgresBackend,
) -> None:
    await backend.open()  # creates the schema
    async with await connect() as blocker:
        # ACCESS SHARE (a read) and ROW SHARE (FOR SHARE) cannot insert: they do not count.
        await blocker.execute(f'SELECT count(*) FROM "{backend.schema}".events'.encode())
        await blocker.execute(f'SELECT position FROM "{backend.schema}".events FOR SHARE'.encode())
        await assert_appends_are_read_while_it_stays_open(backend, blocker)


async def test_an_open_event_writer_holds_back_readers_and_visibility_status_names_it(
    backend: PostgresBackend,
) -> None:
    owner = await open_postgres(backend)
    writer = await backend.open()
    reader = await open_postgres(backend)
    first = await writer.append("first", [noted("first")], expected_version=0)
    async with owner.writing_transaction() as connection:
        await connection.execute("SELECT pg_current_xact_id()")
        later = await writer.append("later", [noted("later")], expected_version=0)
        recorded_at = [r.recorded_at async for r in writer.read_stream("later")]

        assert [r.position for r in await read_until(reader, 1)] == [first.positions[0]]
        status = await settle(
            reader.visibility_status, lambda status: status.oldest_open_transaction is not None
        )
        assert status.written_position == later.positions[0]
        assert status.visible_position == first.positions[0]
        assert status.held_back_events == 1
        assert [status.oldest_held_back_at] == recorded_at
        waited_for = status.oldest_open_transaction
        assert waited_for is not None
        assert (waited_for.pid, waited_for.database) == (connection.info.backend_pid, "test")
        assert waited_for.state == "idle in transaction"
        assert waited_for.age.total_seconds() >= 0

    assert [r.position for r in await read_until(reader, 2)] == [first.positions[0], later.positions[0]]
    status = await settle(reader.visibility_status, nothing_held_back)
    assert status.oldest_held_back_at is None


async def test_events_inserted_in_a_writing_transaction_are_committed_with_it_and_delivered(
    backend: PostgresBackend,
) -> None:
    store = await open_postgres(backend)
    async with following(store) as delivered:
        await asyncio.sleep(0.1)  # caught up, waiting
        async with store.writing_transaction() as connection:
            position = await insert_note(connection, backend.schema, "s", 1, "in a transaction")
        assert [r.position async for r in store.read_all()] == [position]
        await eventually(lambda: len(delivered) == 1, within=10)


async def test_a_writing_transaction_whose_block_raises_writes_nothing_and_passes_sql_errors_on(
    backend: PostgresBackend,
) -> None:
    store = await open_postgres(backend)
    with pytest.raises(psycopg.errors.DivisionByZero):
        async with store.writing_transaction() as connection:
            await insert_note(connection, backend.schema, "s", 1, "rolled back")
            await connection.execute("SELECT 1 / 0")
    assert await store.stream_version("s") == 0
    assert [r async for r in store.read_all()] == []


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_writing_transaction_that_writes_another_table_first_and_events_later_is_never_skipped(
    backend: PostgresBackend,
) -> None:
    """The trap the lock-first rule closes: a transaction with an id older than events that
    commit while it is open, appending only ten seconds later. A reader that kept going past
    those younger events would never come back for its events."""
    owner = await open_postgres(backend)
    others = await backend.open()
    reader = await backend.open()
    polled: list[el.RecordedEvent] = []
    stop = asyncio.Event()
    async with await connect(autocommit=True) as setup:
        await setup.execute(f'CREATE TABLE "{backend.schema}".side (note text)'.encode())

    async def keep_reading() -> None:
        cursor = 0
        while not stop.is_set():
            async for recorded in reader.read_all(after=cursor):
                polled.append(recorded)
                cursor = recorded.position
            await asyncio.sleep(0.02)

    async def keep_appending(count: list[int]) -> None:
        while not stop.is_set():
            await others.append("others", [noted(f"other-{count[0]}")], expected_version=el.ANY)
            count[0] += 1
            await asyncio.sleep(0.2)

    appended = [0]
    async with following(reader) as delivered:
        polling = asyncio.create_task(keep_reading())
        appending = asyncio.create_task(keep_appending(appended))
        try:
            async with owner.writing_transaction() as connection:
                await connection.execute(f"INSERT INTO \"{backend.schema}\".side VALUES ('first')".encode())
                had_id_after = appended[0]  # later appends get younger transaction ids
                await asyncio.sleep(10)
                late = [
                    await insert_note(connection, backend.schema, "late", version, f"late-{version}")
                    for version in (1, 2)
                ]
            await asyncio.sleep(0.5)
            stop.set()
            await appending
            await polling
            everything = await read_until(reader, appended[0] + 2)
            assert len(everything) == appended[0] + 2
            await eventually(lambda: len(delivered) >= len(everything), within=10)
            await asyncio.sleep(0.2)  # time enough for a duplicate to show up, if there were one
        finally:
            stop.set()
            for task in (polling, appending):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    order = [r.event_id for r in everything]
    assert [r.event_id for r in delivered] == order
    rest = [r.event_id async for r in reader.read_all(after=polled[-1].position)]
    assert [r.event_id for r in polled] + rest == order
    # The late events take their transaction's place in the global order: before every event
    # of a transaction that got its id after it did, although those committed first.
    notes = [r.event.note for r in everything]  # type: ignore[attr-defined]
    late_at = notes.index("late-1")
    assert notes[late_at : late_at + 2] == ["late-1", "late-2"]
    assert sorted(r.position for r in everything[late_at : late_at + 2]) == late
    younger = [f"other-{count}" for count in range(had_id_after + 1, appended[0])]
    assert len(younger) > 30  # others really did commit while it was open
    assert all(notes.index(note) > late_at for note in younger)


@pytest.mark.slow
async def test_readers_following_many_concurrent_appenders_miss_nothing(backend: PostgresBackend) -> None:
    """Writers commit all the time, so a reader's snapshot often catches one in the middle of
    committing, when it has let go of its table lock but not yet of its transaction id."""
    writers = [await backend.open() for _ in range(4)]
    readers = [await backend.open() for _ in range(3)]
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + 6.0

    written: list[int] = []
    writing = True

    async def append(store: el.EventStore, name: str) -> None:
        count = 0
        while loop.time() < stop_at:
            result = await store.append(name, [noted(str(count))], expected_version=el.ANY)
            written.extend(result.positions)
            count += 1

    async def follow(store: el.EventStore) -> list[uuid.UUID]:
        got: list[uuid.UUID] = []
        cursor = 0
        # Until the writers are done and it has read as many events as they wrote (bounded).
        while writing or (len(got) < len(written) and loop.time() < stop_at + 20):
            async for recorded in store.read_all(after=cursor):
                got.append(recorded.event_id)
                cursor = recorded.position
            await asyncio.sleep(0)
        return got

    async def all_appends() -> None:
        nonlocal writing
        await asyncio.gather(*(append(writers[index % 4], f"writer-{index}") for index in range(8)))
        writing = False

    followers = asyncio.gather(*(follow(readers[index % 3]) for index in range(6)))
    results, _ = await asyncio.gather(followers, all_appends())
    everything = [recorded.event_id for recorded in await read_until(readers[0], len(written))]
    assert len(everything) == len(written) > 1000
    missed = [len(set(everything) - set(got)) for got in results]
    assert missed == [0] * 6
    assert all(got == everything for got in results)
