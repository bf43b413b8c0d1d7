"""The visibility barrier's hazard, made observable: an open event writer holds back readers.

Appends always succeed; what waits is what readers may see. The store shows how far readers
lag (``head_position`` against ``visibility_status``) and which transaction holds them back,
and a store's own reads wait, briefly and only once per stuck transaction, for its own appends.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from postgres_server import begin_writing, connect, insert_note, read_until, settle

import eventledger as el
from backends import PostgresBackend
from eventledger.store.postgres import PostgresEventStore
from events import noted


async def test_an_open_older_transaction_holds_back_later_commits_and_the_store_shows_it(
    backend: PostgresBackend,
) -> None:
    writer = await backend.open()
    reader = await backend.open()
    assert isinstance(reader, PostgresEventStore)
    first = await writer.append("first", [noted("first")], expected_version=el.NO_STREAM)
    await read_until(reader, 1)
    blocker = await connect()
    try:
        low = await insert_note(blocker, backend.schema, "slow", 1, "slow")
        later = await writer.append("later", [noted("later")], expected_version=el.NO_STREAM)
        high = later.positions[0]

        assert [r.position for r in await read_until(reader, 1)] == [first.positions[0]]
        assert await settle(reader.head_position, lambda head: head > 0) == first.positions[0]
        status = await settle(
            reader.visibility_status, lambda found: found.oldest_open_transaction is not None
        )
        assert status.written_position == high
        assert status.visible_position == first.positions[0]
        assert status.held_back_events == 1
        assert status.oldest_open_transaction is not None
        assert status.oldest_open_transaction.pid == blocker.info.backend_pid
        assert status.oldest_open_transaction.database == "test"
        assert status.oldest_open_transaction.state == "idle in transaction"

        await blocker.commit()

        everything = await read_until(reader, 3)
        assert [r.position for r in everything] == [first.positions[0], low, high]
        assert await settle(reader.head_position, lambda head: head == high) == high
        status = await settle(reader.visibility_status, lambda found: found.held_back_events == 0)
        assert (status.visible_position, status.oldest_open_transaction) == (high, None)
    finally:
        await blocker.close()


async def test_a_store_reads_its_own_append_once_a_briefly_open_older_transaction_ends(
    backend: PostgresBackend,
) -> None:
    store = await backend.open()
    blocker = await connect()
    try:
        await begin_writing(blocker, backend.schema)
        result = await store.append("s", [noted("mine")], expected_version=el.NO_STREAM)

        async def end_blocker_soon() -> None:
            await asyncio.sleep(0.2)
            await blocker.commit()

        ending = asyncio.create_task(end_blocker_soon())
        assert [r.position async for r in store.read_all()] == list(result.positions)
        await ending
        assert await store.head_position() == result.positions[0]
    finally:
        await blocker.close()


async def test_a_long_open_transaction_makes_own_reads_wait_once_then_report_and_go_ahead(
    backend: PostgresBackend, caplog: pytest.LogCaptureFixture
) -> None:
    store = await backend.open()
    assert isinstance(store, PostgresEventStore)
    store.own_writes_wait = 0.2
    blocker = await connect()
    try:
        await begin_writing(blocker, backend.schema)
        await store.append("s", [noted("held back")], expected_version=el.NO_STREAM)
        with caplog.at_level(logging.WARNING, logger="eventledger.postgres"):
            assert [r async for r in store.read_all()] == []
            assert [r async for r in store.read_all()] == []
            assert await store.head_position() == 0
        warnings = [record for record in caplog.records if "holds back readers" in record.getMessage()]
        assert len(warnings) == 1
        assert "visibility_status" in warnings[0].getMessage()
        await blocker.commit()
        assert [r.event.note async for r in store.read_all()] == ["held back"]  # type: ignore[attr-defined]
    finally:
        await blocker.close()
