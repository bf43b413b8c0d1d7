"""A PostgreSQL store opens on a connection that may not write, as long as its schema is up to date.

Two real ways to be read-only: a role granted only USAGE and SELECT, and a session with
``default_transaction_read_only=on`` (a hot standby is the third: see test_postgres_standby.py).
Reading, subscribing and checking work; writing raises ``ReadOnlyStore`` naming the cause; a
schema that would need creating or migrating raises ``StoreSchemaError`` saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from postgres_server import collect, connect, eventually, read_until, settle

import eventledger as el
from backends import POSTGRES_URL, PostgresBackend
from eventledger.errors import ReadOnlyStore, StoreSchemaError
from eventledger.store import Snapshot
from eventledger.store.postgres_schema import SCHEMA_VERSION
from events import noted

READ_ONLY_SETTING = "options=-c%20default_transaction_read_only%3Don"


@contextlib.asynccontextmanager
async def read_only_role(schema: str | None) -> AsyncIterator[str]:
    """A login role with a generated name that may only read ``schema``; dropped afterwards."""
    role = f"reader_{uuid.uuid4().hex[:12]}"
    async with await connect(autocommit=True) as admin:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN'.encode())
        try:
            if schema is not None:
                await admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'.encode())
                await admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'.encode())
            yield role
        finally:
            await admin.execute(f'DROP OWNED BY "{role}"'.encode())
            await admin.execute(f'DROP ROLE "{role}"'.encode())


@contextlib.asynccontextmanager
async def read_only_url(how: str, schema: str, *, grant: bool = True) -> AsyncIterator[str]:
    """A URL for ``schema`` that may not write: through a reading role, or a read-only session."""
    if how == "setting":
        yield f"{POSTGRES_URL}?schema={schema}&{READ_ONLY_SETTING}"
        return
    async with read_only_role(schema if grant else None) as role:
        yield f"postgresql://{role}@127.0.0.1:5432/test?schema={schema}"


READ_ONLY_WAYS = pytest.mark.parametrize("how", ["role", "setting"])


@READ_ONLY_WAYS
async def test_a_read_only_connection_opens_an_up_to_date_store_and_reads_subscribes_and_checks(
    backend: PostgresBackend, how: str
) -> None:
    writer = await backend.open()
    await writer.append("s", [noted("one"), noted("two")], expected_version=0)
    async with read_only_url(how, backend.schema) as url, await el.open_store(url) as reader:
        assert [r.event.note for r in await read_until(reader, 2)] == ["one", "two"]  # type: ignore[attr-defined]
        assert [r.version async for r in reader.read_stream("s")] == [1, 2]
        assert await settle(reader.head_position, lambda head: head == 2) == 2
        status = await settle(reader.visibility_status, lambda found: found.held_back_events == 0)
        assert status.written_position == 2
        report = await el.check_store(reader)
        assert report.ok and report.events_checked == 2

        delivered: list[el.RecordedEvent] = []
        subscriber = asyncio.create_task(collect(reader.subscribe(), delivered))
        try:
            await writer.append("s", [noted("three")], expected_version=2)
            await eventually(lambda: len(delivered) == 3, within=10)
        finally:
            subscriber.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await subscriber
        assert [r.event.note for r in delivered] == ["one", "two", "three"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("how", "cause"), [("role", "permission denied"), ("setting", "read-only transaction")]
)
async def test_writing_through_a_read_only_connection_raises_read_only_store_naming_the_cause(
    backend: PostgresBackend, how: str, cause: str
) -> None:
    await backend.open()
    async with read_only_url(how, backend.schema) as url, await el.open_store(url) as reader:
        with pytest.raises(ReadOnlyStore) as caught:
            await reader.append("s", [noted("refused")], expected_version=0)
        assert cause in caught.value.reason
        assert "append to stream 's'" in str(caught.value)
        assert not isinstance(caught.value, el.StoreUnavailable)
        with pytest.raises(ReadOnlyStore, match=cause):
            await reader.save_snapshot(Snapshot("s", 1, "Order", 1, {}, datetime.now(UTC)))
        with pytest.raises(ReadOnlyStore, match=cause):
            async with reader.writing_transaction():  # type: ignore[attr-defined]
                pass
        assert await reader.stream_version("s") == 0


@READ_ONLY_WAYS
async def test_opening_a_missing_schema_without_the_right_to_create_it_raises_store_schema_error(
    how: str,
) -> None:
    schema = f"test_{uuid.uuid4().hex[:16]}"
    async with read_only_url(how, schema, grant=False) as url:
        with pytest.raises(StoreSchemaError) as caught:
            await el.open_store(url)
    message = str(caught.value)
    assert f"schema {schema!r} does not exist" in message
    assert "cannot create it" in message
    async with await connect(autocommit=True) as connection:
        cursor = await connection.execute("SELECT to_regnamespace(%s)", (schema,))
        assert await cursor.fetchone() == (None,)


@READ_ONLY_WAYS
async def test_opening_an_outdated_schema_without_the_right_to_migrate_it_raises_store_schema_error(
    backend: PostgresBackend, how: str
) -> None:
    await backend.open()
    async with await connect(autocommit=True) as connection:
        table = f'"{backend.schema}".eventledger_schema'
        await connection.execute(f"UPDATE {table} SET version = 0 WHERE component = 'store'".encode())
    async with read_only_url(how, backend.schema) as url:
        with pytest.raises(StoreSchemaError) as caught:
            await el.open_store(url)
    assert "has store schema version 0" in str(caught.value)
    assert f"cannot migrate it to version {SCHEMA_VERSION}" in str(caught.value)


async def test_opening_a_schema_the_role_may_not_even_read_raises_store_schema_error(
    backend: PostgresBackend,
) -> None:
    await backend.open()
    async with read_only_url("role", backend.schema, grant=False) as url:
        with pytest.raises(StoreSchemaError) as caught:
            await el.open_store(url)
    assert f"cannot read schema {backend.schema!r}" in str(caught.value)
    assert "permission denied" in str(caught.value)
