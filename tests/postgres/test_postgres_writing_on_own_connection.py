"""A writing transaction on the caller's own connection (a reactor's, which also holds its lease):
the lock first, as on a pooled one, and the connection stays the caller's."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from postgres_server import connect, insert_note

import eventledger as el
from backends import PostgresBackend
from eventledger.store.postgres import PostgresEventStore
from events import noted


async def test_it_holds_readers_back_once_it_has_an_id_and_leaves_the_connection_open(
    backend: PostgresBackend,
) -> None:
    store = await backend.open()
    other = await backend.open()
    assert isinstance(store, PostgresEventStore)
    async with await connect(autocommit=True) as own:
        async with store.writing_transaction(own) as connection:
            assert connection is own
            # It takes an id before writing events (as a reactor's checkpoint update gives it
            # one): an append committed now is held back behind it, since it can still insert
            # events that belong before that append.
            await connection.execute("SELECT pg_current_xact_id()")
            committed = await other.append("s", [noted("meanwhile")], expected_version=el.NO_STREAM)
            status = await other.visibility_status()
            assert status.held_back_events == 1
            assert status.oldest_open_transaction is not None
            assert status.oldest_open_transaction.pid == own.info.backend_pid
            position = await insert_note(connection, backend.schema, "mine", 1, "in my transaction")
        # In the log, its event comes first: its transaction id is the older one.
        assert [r.position async for r in store.read_all()] == [position, committed.positions[0]]
        cursor = await own.execute("SELECT 1")
        assert await cursor.fetchone() == (1,)


async def test_errors_of_the_callers_own_sql_reach_it_untranslated_and_nothing_is_written(
    backend: PostgresBackend,
) -> None:
    store = await backend.open()
    assert isinstance(store, PostgresEventStore)
    async with await connect(autocommit=True) as own:
        with pytest.raises(psycopg.errors.DivisionByZero):
            async with store.writing_transaction(own) as connection:
                await insert_note(connection, backend.schema, "s", 1, "rolled back")
                await connection.execute("SELECT 1 / 0")
        assert await store.stream_version("s") == 0
        await asyncio.sleep(0)
        assert not own.closed
