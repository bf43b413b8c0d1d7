"""Test backends: how the conformance suite opens each kind of store and reaches its raw rows.

Each backend gives the suite a way to open stores on one fresh database (several stores are
several real connections), to insert a row the way an older release would have written it, and
to attempt a raw UPDATE or DELETE behind the store's back (which the database must refuse).
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from eventledger import EventStore, open_store
from eventledger.store.memory import MemoryEventStore, StoredEvent


@dataclass
class Backend:
    """One database under test, fresh for each test."""

    name: str
    url: str
    #: Opens another store (another connection) on the same database.
    open: Callable[[], Awaitable[EventStore]]
    #: Inserts a raw row (stream, version, type, schema version, JSON data) like an old release.
    insert_raw: Callable[[str, int, str, int, str], Awaitable[None]]
    #: Runs a raw statement against the events table; returns the error the database raised.
    tamper: Callable[[str], Awaitable[Exception | None]]
    #: The events table's name, for tamper statements.
    events_table: str = "events"
    stores: list[EventStore] = field(default_factory=list)

    async def close(self) -> None:
        for store in self.stores:
            await store.close()


def memory_backend(tmp_path: Path) -> Backend:
    shared = MemoryEventStore()

    async def open_shared() -> EventStore:
        # One process-local store: every "connection" sees the same events.
        return shared

    async def insert_raw(stream_id: str, version: int, type_name: str, schema: int, data: str) -> None:
        position = (shared.stored_events()[-1].position if shared.stored_events() else 0) + 1
        shared.insert_stored_event(
            StoredEvent(
                position,
                stream_id,
                version,
                uuid.uuid4(),
                type_name,
                schema,
                data,
                None,
                datetime.now(UTC),
            )
        )

    async def tamper(statement: str) -> Exception | None:
        rows = shared.stored_events()
        try:
            if statement.upper().startswith("UPDATE"):
                rows[0].type = "Tampered"  # type: ignore[misc]
            else:
                del rows[0]  # type: ignore[attr-defined]
        except Exception as error:
            return error
        return None

    return Backend("memory", "memory://", open_shared, insert_raw, tamper)


def sqlite_backend(tmp_path: Path) -> Backend:
    path = tmp_path / "events.db"
    url = f"sqlite:///{path}"

    async def open_new() -> EventStore:
        return await open_store(url)

    async def insert_raw(stream_id: str, version: int, type_name: str, schema: int, data: str) -> None:
        with sqlite3.connect(path) as db:
            db.execute(
                "INSERT INTO events (stream_id, version, event_id, type, schema_version, data, "
                "metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, NULL, 0)",
                (stream_id, version, str(uuid.uuid4()), type_name, schema, data),
            )

    async def tamper(statement: str) -> Exception | None:
        db = sqlite3.connect(path)
        try:
            db.execute(statement)
            db.commit()
        except sqlite3.Error as error:
            return error
        finally:
            db.close()
        return None

    return Backend("sqlite", url, open_new, insert_raw, tamper)


POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
"""The test server (trust auth); each PostgreSQL backend works in a schema of its own in it."""


@dataclass
class PostgresBackend(Backend):
    """A fresh schema in the test database, dropped (with everything in it) on close."""

    schema: str = ""

    async def close(self) -> None:
        await super().close()
        async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'.encode())


def postgres_backend(tmp_path: Path) -> Backend:
    schema = f"test_{uuid.uuid4().hex[:16]}"
    url = f"{POSTGRES_URL}?schema={schema}"
    stores: list[EventStore] = []

    async def open_new() -> EventStore:
        opened = await open_store(url)
        # Other sessions on the shared test server may hold the visibility barrier for a moment;
        # let the store's reads wait for its own appends longer than in production.
        opened.own_writes_wait = 10.0  # type: ignore[attr-defined]
        stores.append(opened)
        return opened

    async def insert_raw(
        stream_id: str, version: int, type_name: str, version_of_schema: int, data: str
    ) -> None:
        # Like an older release: a plain INSERT whose transaction id comes from the column default.
        async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
            cursor = await connection.execute(
                f'INSERT INTO "{schema}".events (stream_id, version, event_id, type, schema_version, data) '
                "VALUES (%s, %s, %s, %s, %s, %s::jsonb) RETURNING transaction_id::text".encode(),
                (stream_id, version, uuid.uuid4(), type_name, version_of_schema, data),
            )
            row = await cursor.fetchone()
            assert row is not None
            # Return once readers of the global log can see the row, as the test will read next.
            for _ in range(1000):
                cursor = await connection.execute(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot()) > %s::text::xid8", (row[0],)
                )
                visible = await cursor.fetchone()
                if visible is not None and visible[0]:
                    return
                await asyncio.sleep(0.01)

    async def tamper(statement: str) -> Exception | None:
        async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
            try:
                await connection.execute(statement.encode())
            except psycopg.Error as error:
                return error
        return None

    return PostgresBackend(
        "postgres", url, open_new, insert_raw, tamper, f"{schema}.events", stores, schema=schema
    )


BACKENDS: dict[str, Callable[[Path], Backend]] = {
    "memory": memory_backend,
    "sqlite": sqlite_backend,
    "postgres": postgres_backend,
}
