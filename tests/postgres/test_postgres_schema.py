"""The PostgreSQL store's schema: created idempotently, versioned, isolated, and immutable."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest
from postgres_server import connect

import eventledger as el
from backends import POSTGRES_URL, PostgresBackend
from eventledger.store.postgres_schema import SCHEMA_VERSION
from events import noted


async def test_opening_creates_the_schema_once_and_records_its_version(backend: PostgresBackend) -> None:
    first = await backend.open()
    await first.append("s", [noted("a")], expected_version=el.NO_STREAM)
    second = await backend.open()
    assert await second.schema_version() == SCHEMA_VERSION  # type: ignore[attr-defined]
    assert [r.event.note async for r in second.read_stream("s")] == ["a"]  # type: ignore[attr-defined]


async def test_many_processes_opening_a_new_schema_at_once_all_succeed(backend: PostgresBackend) -> None:
    stores = await asyncio.gather(*(backend.open() for _ in range(5)))
    results = await asyncio.gather(
        *(store.append(f"s{index}", [noted("x")], expected_version=0) for index, store in enumerate(stores))
    )
    assert len({result.positions[0] for result in results}) == 5


async def test_stores_in_different_schemas_of_one_database_do_not_see_each_other(
    backend: PostgresBackend,
) -> None:
    other_schema = f"test_{uuid.uuid4().hex[:16]}"
    store = await backend.open()
    other = await el.open_store(f"{POSTGRES_URL}?schema={other_schema}")
    try:
        await store.append("s", [noted("mine")], expected_version=el.NO_STREAM)
        await other.append("s", [noted("theirs")], expected_version=el.NO_STREAM)
        assert [r.event.note async for r in store.read_all()] == ["mine"]  # type: ignore[attr-defined]
        assert [r.event.note async for r in other.read_all()] == ["theirs"]  # type: ignore[attr-defined]
    finally:
        await other.close()
        async with await connect(autocommit=True) as connection:
            await connection.execute(f'DROP SCHEMA "{other_schema}" CASCADE'.encode())


async def test_the_postgres_scheme_and_keyword_options_open_the_same_store(backend: PostgresBackend) -> None:
    store = await backend.open()
    await store.append("s", [noted("a")], expected_version=el.NO_STREAM)
    alias = await el.open_store("postgres://postgres@127.0.0.1:5432/test", schema=backend.schema)
    try:
        assert await alias.stream_version("s") == 1
    finally:
        await alias.close()


async def test_events_are_stored_as_json_text_with_their_writing_transaction_id(
    backend: PostgresBackend,
) -> None:
    store = await backend.open()
    await store.append("s", [noted("a")], expected_version=el.NO_STREAM, metadata={"user": "ada"})
    async with await connect(autocommit=True) as connection:
        cursor = await connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'events'",
            (backend.schema,),
        )
        columns = dict(await cursor.fetchall())
        cursor = await connection.execute(
            f"SELECT data ->> 'note', metadata ->> 'user', transaction_id < pg_current_xact_id() "
            f'FROM "{backend.schema}".events'.encode()
        )
        row = await cursor.fetchone()
    assert columns["data"] == "json"  # the text as checked at append, not jsonb's rewrite of it
    assert columns["metadata"] == "json"
    assert columns["transaction_id"] == "xid8"
    assert columns["event_id"] == "uuid"
    assert columns["position"] == "bigint"
    assert row == ("a", "ada", True)


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE {table}",
        "UPDATE {table} SET data = '{{}}' WHERE false",
        "DELETE FROM {table} WHERE version = 1",
    ],
)
async def test_the_database_refuses_to_change_or_remove_stored_events(
    backend: PostgresBackend, statement: str
) -> None:
    store = await backend.open()
    await store.append("s", [noted("a")], expected_version=el.NO_STREAM)
    async with await connect(autocommit=True) as connection:
        with pytest.raises(psycopg.Error, match="immutable"):
            await connection.execute(statement.format(table=backend.events_table).encode())
    assert await store.stream_version("s") == 1


async def test_libpq_parameters_in_the_url_reach_the_server_intact(backend: PostgresBackend) -> None:
    name = f"ledger test {uuid.uuid4().hex[:8]}"
    store = await el.open_store(f"{backend.url}&application_name={name.replace(' ', '%20')}")
    try:
        await store.stream_version("s")
        async with await connect(autocommit=True) as connection:
            cursor = await connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
            )
            row = await cursor.fetchone()
        assert row is not None and int(str(row[0])) >= 1
    finally:
        await store.close()


async def test_a_version_1_schema_keeps_its_events_and_stores_floats_as_written_after_the_upgrade(
    backend: PostgresBackend,
) -> None:
    store = await backend.open()
    await store.append("s", [noted("before")], expected_version=el.NO_STREAM)
    await store.close()
    async with await connect(autocommit=True) as connection:
        # Put the tables back the way schema version 1 made them.
        await connection.execute(
            f'ALTER TABLE "{backend.schema}".events ALTER COLUMN data TYPE jsonb USING data::jsonb, '
            "ALTER COLUMN metadata TYPE jsonb USING metadata::jsonb".encode()
        )
        schema = backend.schema
        await connection.execute(
            f'ALTER TABLE "{schema}".snapshots ALTER COLUMN state TYPE jsonb USING state::jsonb'.encode()
        )
        await connection.execute(
            f"UPDATE \"{schema}\".eventledger_schema SET version = 1 WHERE component = 'store'".encode()
        )
    upgraded = await backend.open()
    assert await upgraded.schema_version() == SCHEMA_VERSION  # type: ignore[attr-defined]
    await upgraded.append("s", [Measured(value=6.868392014848651e16)], expected_version=1)
    assert [r.event async for r in upgraded.read_stream("s")][1:] == [Measured(value=6.868392014848651e16)]
    assert [r.event.note async for r in upgraded.read_stream("s", limit=1)] == ["before"]  # type: ignore[attr-defined]


class Measured(el.Event, type_name="test.postgres.measured"):
    """A float in an ``Any`` field: jsonb would give back the integer its digits spell."""

    value: Any
