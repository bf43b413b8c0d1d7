"""SQLite's writing transaction: events written next to other tables, all committed or none, with
the file's write lock held from the first statement (what a reactor commits its reactions in)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import eventledger as el
from eventledger.store.appends import EncodedAppend, encode_requests
from eventledger.store.sqlite import SQLiteEventStore
from events import noted


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteEventStore]:
    opened = await el.open_store(f"sqlite:///{tmp_path / 'events.db'}")
    assert isinstance(opened, SQLiteEventStore)
    yield opened
    await opened.close()


def requests(*streams: str, expected: el.ExpectedVersion = el.ANY) -> list[EncodedAppend]:
    return encode_requests([el.AppendRequest(stream, [noted(stream)], expected) for stream in streams])


async def test_events_and_another_tables_row_commit_together_and_wake_the_stores_subscribers(
    store: SQLiteEventStore,
) -> None:
    store.poll_interval = 3600.0  # only a wake-up delivers within the bound

    async def first_event() -> el.RecordedEvent:
        async for recorded in store.subscribe():
            return recorded
        raise AssertionError("the subscription ended")

    listening = asyncio.create_task(first_event())
    await asyncio.sleep(0.05)
    async with store.writing_transaction() as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.execute("INSERT INTO notes VALUES ('beside the events')")
        [result] = store.append_in_transaction(db, requests("a"))
    recorded = await asyncio.wait_for(listening, 30)
    assert (recorded.stream_id, recorded.position) == ("a", result.positions[0])
    async with store.writing_transaction() as db:
        assert db.execute("SELECT text FROM notes").fetchall() == [("beside the events",)]


async def test_a_block_that_raises_writes_nothing(store: SQLiteEventStore) -> None:
    with pytest.raises(RuntimeError, match="changed my mind"):
        async with store.writing_transaction() as db:
            store.append_in_transaction(db, requests("a", "b"))
            raise RuntimeError("changed my mind")
    assert await store.head_position() == 0


async def test_a_refused_append_names_every_stream_that_did_not_hold_and_writes_none(
    store: SQLiteEventStore,
) -> None:
    await store.append("a", [noted("a")], expected_version=el.NO_STREAM)
    await store.append("b", [noted("b")], expected_version=el.NO_STREAM)
    async with store.writing_transaction() as db:
        with pytest.raises(el.ConcurrencyError) as refused:
            store.append_in_transaction(db, requests("a", "b", "c", expected=el.NO_STREAM))
    assert [conflict[0] for conflict in refused.value.conflicts] == ["a", "b"]
    assert await store.stream_version("c") == 0


async def test_another_writer_waits_until_the_writing_transaction_ends(store: SQLiteEventStore) -> None:
    async with await el.open_store(f"sqlite:///{store.path}") as other:
        async with store.writing_transaction() as db:
            store.append_in_transaction(db, requests("a"))
            waiting = asyncio.create_task(other.append("a", [noted("later")], expected_version=1))
            await asyncio.sleep(0.2)
            assert not waiting.done()  # it holds the file's write lock from its first statement
        assert (await asyncio.wait_for(waiting, 30)).version == 2
