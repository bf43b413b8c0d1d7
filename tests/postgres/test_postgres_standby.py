"""A store on a real hot standby: it reads, it follows the log by polling, it never skips, it refuses writes.

The standby streams from a scratch primary of the suite's own (see local_servers.py), so no
other program's transactions are involved. Its pg_locks do not show the primary's locks, so the
store there keeps the plain snapshot-xmin barrier, which on a standby counts every transaction
the primary has given an id as running until its end is replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psycopg
import pytest
from local_servers import LocalServer, replayed
from postgres_server import RawConnection, begin_writing, eventually, following, insert_note

import eventledger as el
from eventledger.errors import ReadOnlyStore, StoreSchemaError
from eventledger.store.postgres import PostgresEventStore
from events import noted

pytestmark = pytest.mark.timeout(300)  # the first test also makes the servers (initdb, base backup)


@dataclass
class Replicated:
    """A fresh schema on the scratch primary, its store there, and the way to the standby."""

    primary_server: LocalServer
    standby_server: LocalServer
    schema: str
    primary: el.EventStore

    async def connect(self) -> RawConnection:
        """A connection of its own to the primary."""
        return await psycopg.AsyncConnection.connect(self.primary_server.conninfo)

    async def replayed(self) -> None:
        await replayed(self.primary_server, self.standby_server)


@pytest.fixture
async def replicated(scratch_primary: LocalServer, standby: LocalServer) -> AsyncIterator[Replicated]:
    schema = f"test_{uuid.uuid4().hex[:16]}"
    primary = await el.open_store(scratch_primary.url(schema))
    try:
        yield Replicated(scratch_primary, standby, schema, primary)
    finally:
        await primary.close()
        async with await psycopg.AsyncConnection.connect(scratch_primary.conninfo, autocommit=True) as admin:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())


@contextlib.asynccontextmanager
async def on_standby(replicated: Replicated) -> AsyncIterator[PostgresEventStore]:
    """A store on the standby for the replicated schema."""
    await replicated.replayed()
    store = await el.open_store(replicated.standby_server.url(replicated.schema))
    assert isinstance(store, PostgresEventStore)
    try:
        yield store
    finally:
        await store.close()


async def test_a_store_on_a_standby_reads_and_follows_by_polling_without_warnings(
    replicated: Replicated, caplog: pytest.LogCaptureFixture
) -> None:
    primary = replicated.primary
    await primary.append("s", [noted("one"), noted("two")], expected_version=el.NO_STREAM)
    with caplog.at_level(logging.INFO, logger="eventledger"):
        async with on_standby(replicated) as reader:
            assert [r.event.note async for r in reader.read_all()] == ["one", "two"]  # type: ignore[attr-defined]
            assert [r.version async for r in reader.read_stream("s")] == [1, 2]
            assert await reader.head_position() == 2
            status = await reader.visibility_status()
            assert (status.written_position, status.visible_position, status.held_back_events) == (2, 2, 0)
            assert (await el.check_store(reader)).events_checked == 2

            async with following(reader) as delivered:
                await eventually(lambda: len(delivered) == 2)
                await primary.append("s", [noted("three")], expected_version=2)
                await primary.append("s", [noted("four")], expected_version=3)
                await eventually(lambda: len(delivered) == 4, within=10)
                assert not reader.listening
    assert [r.version for r in delivered] == [1, 2, 3, 4]
    noise = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert noise == []
    said = [record.getMessage() for record in caplog.records if "standby" in record.getMessage()]
    assert len(said) == 1  # one INFO line: subscribers poll there


async def test_a_late_commit_on_the_primary_is_never_skipped_by_a_reader_on_the_standby(
    replicated: Replicated,
) -> None:
    async with on_standby(replicated) as reader, following(reader) as delivered:
        older = await replicated.connect()
        newer = await replicated.connect()
        try:
            await begin_writing(older, replicated.schema)  # `older` has the older transaction id ...
            await begin_writing(newer, replicated.schema)
            # ... but `newer` inserts first and takes the lower position.
            low = await insert_note(newer, replicated.schema, "newer", 1, "committed last")
            high = await insert_note(older, replicated.schema, "older", 1, "committed first")
            assert low < high
            await older.commit()
            await replicated.replayed()

            # On the standby, between the two commits: `high` is readable, `low` not yet.
            assert [r.position async for r in reader.read_all()] == [high]
            await eventually(lambda: len(delivered) == 1, within=10)

            await newer.commit()
            await replicated.replayed()
            assert [r.position async for r in reader.read_all(after=high)] == [low]
            await eventually(lambda: len(delivered) == 2, within=10)
            await asyncio.sleep(0.2)  # time enough for a duplicate to show up, if there were one
        finally:
            await older.close()
            await newer.close()
    assert [r.position for r in delivered] == [high, low]
    assert [r.position async for r in replicated.primary.read_all()] == [high, low]


async def test_a_standby_reader_waits_for_an_older_transaction_that_has_written_nothing_yet(
    replicated: Replicated,
) -> None:
    """The standby learns of the older transaction only from the younger one's WAL (its id
    alone writes none); until the older one ends, the younger one's event must wait."""
    async with on_standby(replicated) as reader, following(reader) as delivered:
        older = await replicated.connect()
        newer = await replicated.connect()
        try:
            await begin_writing(older, replicated.schema)  # an id, and no WAL yet
            await begin_writing(newer, replicated.schema)
            first = await insert_note(newer, replicated.schema, "newer", 1, "younger, committed first")
            await newer.commit()
            await replicated.replayed()

            assert [r async for r in reader.read_all()] == []
            status = await reader.visibility_status()
            assert (status.written_position, status.visible_position) == (first, 0)
            assert status.held_back_events == 1
            await asyncio.sleep(0.3)  # several polls
            assert delivered == []

            second = await insert_note(older, replicated.schema, "older", 1, "older, committed last")
            await older.commit()
            await replicated.replayed()
            assert [r.position async for r in reader.read_all()] == [second, first]
            await eventually(lambda: len(delivered) == 2, within=10)
            await asyncio.sleep(0.2)  # time enough for a duplicate to show up, if there were one
        finally:
            await older.close()
            await newer.close()
    assert [r.position for r in delivered] == [second, first]


async def test_writing_through_a_store_on_a_standby_raises_read_only_store(
    replicated: Replicated,
) -> None:
    async with on_standby(replicated) as store:
        with pytest.raises(ReadOnlyStore) as caught:
            await store.append("s", [noted("refused")], expected_version=el.NO_STREAM)
        assert "read-only transaction" in caught.value.reason
        with pytest.raises(ReadOnlyStore):
            async with store.writing_transaction():
                pass
        assert await store.stream_version("s") == 0


async def test_opening_a_store_on_a_standby_where_its_schema_is_missing_raises_store_schema_error(
    standby: LocalServer,
) -> None:
    with pytest.raises(StoreSchemaError, match="does not exist and this connection cannot create it"):
        await el.open_store(standby.url(f"test_{uuid.uuid4().hex[:16]}"))
