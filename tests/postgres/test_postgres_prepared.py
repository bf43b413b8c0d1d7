"""Prepared transactions and the visibility barrier, on a scratch server that allows them.

A prepared transaction that holds the events table's writer lock can still commit events, so
readers wait for it, and ``visibility_status`` names it; one that never locked the events table
(here: in another database) leaves readers alone. The shared test server has
``max_prepared_transactions = 0``, so these tests run on a scratch server of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from local_servers import LocalServer
from postgres_server import begin_writing, insert_note

import eventledger as el
from eventledger.store.postgres import PostgresEventStore
from events import noted

pytestmark = pytest.mark.timeout(120)  # the first test also makes the server (initdb)


@pytest.fixture
async def store(scratch_primary: LocalServer) -> AsyncIterator[PostgresEventStore]:
    opened = await el.open_store(scratch_primary.url(f"test_{uuid.uuid4().hex[:16]}"))
    assert isinstance(opened, PostgresEventStore)
    yield opened
    await opened.close()


async def test_a_prepared_event_writer_holds_back_readers_until_it_commits_and_is_named(
    scratch_primary: LocalServer, store: PostgresEventStore
) -> None:
    gid = f"eventledger-{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(scratch_primary.conninfo) as writer:
        await begin_writing(writer, store.schema)
        prepared = await insert_note(writer, store.schema, "prepared", 1, "prepared")
        await writer.execute(f"PREPARE TRANSACTION '{gid}'".encode())
    try:
        later = await store.append("later", [noted("later")], expected_version=el.NO_STREAM)
        assert [r async for r in store.read_all()] == []
        status = await store.visibility_status()
        assert (status.written_position, status.held_back_events) == (later.positions[0], 1)
        waited_for = status.oldest_open_transaction
        assert waited_for is not None
        assert (waited_for.pid, waited_for.database) == (None, "test")
        assert waited_for.state == f"prepared transaction {gid}"
    finally:
        async with await psycopg.AsyncConnection.connect(scratch_primary.conninfo, autocommit=True) as admin:
            await admin.execute(f"COMMIT PREPARED '{gid}'".encode())
    assert [r.position async for r in store.read_all()] == [prepared, later.positions[0]]


async def test_a_prepared_transaction_in_another_database_does_not_hold_readers_back(
    scratch_primary: LocalServer, store: PostgresEventStore
) -> None:
    gid = f"eventledger-{uuid.uuid4().hex[:8]}"
    elsewhere = scratch_primary.conninfo.replace("dbname=test", "dbname=postgres")
    async with await psycopg.AsyncConnection.connect(elsewhere) as other:
        await other.execute("SELECT pg_current_xact_id()")
        await other.execute(f"PREPARE TRANSACTION '{gid}'".encode())
    try:
        result = await store.append("s", [noted("not held back")], expected_version=el.NO_STREAM)
        assert [r.position async for r in store.read_all()] == list(result.positions)
        assert (await store.visibility_status()).oldest_open_transaction is None
    finally:
        async with await psycopg.AsyncConnection.connect(elsewhere, autocommit=True) as admin:
            await admin.execute(f"ROLLBACK PREPARED '{gid}'".encode())
