"""Test backends: how the conformance suite opens each kind of store and reaches its raw rows.

Each backend gives the suite a way to open stores on one fresh database (several stores are
several real connections), to insert a row the way an older release would have written it, and
to attempt to change or remove a stored event behind the store's back, through a plain driver
connection that sets no option of ours (which the database must refuse), in every form of
:data:`REWRITES` its SQL has.
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
from eventledger.store.postgres_statements import barrier

REWRITES: dict[str, str] = {
    "update": "UPDATE the first stored event",
    "delete": "DELETE the first stored event",
    "delete every row": "DELETE FROM the table without WHERE (SQLite's truncate optimisation)",
    "truncate": "TRUNCATE the table",
    "replace the position": "REPLACE / INSERT OR REPLACE a row at the first event's position",
    "replace the event id": "REPLACE a row with the first event's event id",
    "replace the stream version": "INSERT OR REPLACE a row at the first event's stream and version",
    "upsert on the position": "INSERT ... ON CONFLICT (position) DO UPDATE",
    "upsert on the event id": "INSERT ... ON CONFLICT (event_id) DO UPDATE",
    "upsert on the stream version": "INSERT ... ON CONFLICT (stream_id, version) DO UPDATE",
    "merge": "MERGE ... WHEN MATCHED THEN UPDATE",
    "merge delete": "MERGE ... WHEN MATCHED THEN DELETE",
}
"""Every way a program can send SQL that would change or remove a stored event."""


class NotApplicable(Exception):
    """The backend's SQL has no such statement (REPLACE on PostgreSQL, TRUNCATE on SQLite)."""


@dataclass(frozen=True)
class FirstEvent:
    """The first stored event's keys, which a rewrite aims at."""

    position: int
    stream_id: str
    version: int
    event_id: str


# SQL templates per dialect; {table} and the FirstEvent's fields are filled in, {new_id} is a
# fresh UUID (so only the targeted key collides).
_SQLITE_COLUMNS = "stream_id, version, event_id, type, data, recorded_at"
_SQLITE_REWRITES = {
    "update": "UPDATE {table} SET type = 'Tampered' WHERE position = {position}",
    "delete": "DELETE FROM {table} WHERE position = {position}",
    "delete every row": "DELETE FROM {table}",
    "replace the position": "INSERT OR REPLACE INTO {table} (position, " + _SQLITE_COLUMNS + ") "
    "VALUES ({position}, 'intruder', 1, '{new_id}', 'Tampered', '{{}}', 0)",
    "replace the event id": "REPLACE INTO {table} (" + _SQLITE_COLUMNS + ") "
    "VALUES ('intruder', 1, '{event_id}', 'Tampered', '{{}}', 0)",
    "replace the stream version": "INSERT OR REPLACE INTO {table} (" + _SQLITE_COLUMNS + ") "
    "VALUES ('{stream_id}', {version}, '{new_id}', 'Tampered', '{{}}', 0)",
    "upsert on the position": "INSERT INTO {table} (position, " + _SQLITE_COLUMNS + ") "
    "VALUES ({position}, 'intruder', 1, '{new_id}', 'Tampered', '{{}}', 0) "
    "ON CONFLICT (position) DO UPDATE SET type = excluded.type",
    "upsert on the event id": "INSERT INTO {table} (" + _SQLITE_COLUMNS + ") "
    "VALUES ('intruder', 1, '{event_id}', 'Tampered', '{{}}', 0) "
    "ON CONFLICT (event_id) DO UPDATE SET type = excluded.type",
    "upsert on the stream version": "INSERT INTO {table} (" + _SQLITE_COLUMNS + ") "
    "VALUES ('{stream_id}', {version}, '{new_id}', 'Tampered', '{{}}', 0) "
    "ON CONFLICT (stream_id, version) DO UPDATE SET type = excluded.type",
}
_POSTGRES_COLUMNS = "stream_id, version, event_id, type, data"
_POSTGRES_REWRITES = {
    "update": "UPDATE {table} SET type = 'Tampered' WHERE position = {position}",
    "delete": "DELETE FROM {table} WHERE position = {position}",
    "delete every row": "DELETE FROM {table}",
    "truncate": "TRUNCATE {table}",
    "upsert on the position": "INSERT INTO {table} (position, " + _POSTGRES_COLUMNS + ") "
    "VALUES ({position}, 'intruder', 1, '{new_id}', 'Tampered', '{{}}') "
    "ON CONFLICT (position) DO UPDATE SET type = excluded.type",
    "upsert on the event id": "INSERT INTO {table} (" + _POSTGRES_COLUMNS + ") "
    "VALUES ('intruder', 1, '{event_id}', 'Tampered', '{{}}') "
    "ON CONFLICT (event_id) DO UPDATE SET type = excluded.type",
    "upsert on the stream version": "INSERT INTO {table} (" + _POSTGRES_COLUMNS + ") "
    "VALUES ('{stream_id}', {version}, '{new_id}', 'Tampered', '{{}}') "
    "ON CONFLICT (stream_id, version) DO UPDATE SET type = excluded.type",
    "merge": "MERGE INTO {table} AS stored USING (SELECT {position}::bigint AS position) AS target "
    "ON stored.position = target.position WHEN MATCHED THEN UPDATE SET type = 'Tampered'",
    "merge delete": "MERGE INTO {table} AS stored USING (SELECT {position}::bigint AS position) AS target "
    "ON stored.position = target.position WHEN MATCHED THEN DELETE",
}


_MEMORY_REWRITES = tuple(form for form in REWRITES if form not in ("merge", "merge delete", "truncate"))

REWRITE_FORMS: dict[str, tuple[str, ...]] = {
    "memory": _MEMORY_REWRITES,
    "sqlite": tuple(_SQLITE_REWRITES),
    "postgres": tuple(_POSTGRES_REWRITES),
}
"""The forms of :data:`REWRITES` each backend's SQL has (REPLACE is SQLite's; TRUNCATE and MERGE
PostgreSQL's; the memory store has neither)."""


def _rewrite_statement(templates: dict[str, str], form: str, table: str, first: FirstEvent) -> str:
    if form not in templates:
        raise NotApplicable(f"no {REWRITES[form]} in this SQL")
    return templates[form].format(
        table=table,
        position=first.position,
        stream_id=first.stream_id.replace("'", "''"),
        version=first.version,
        event_id=first.event_id,
        new_id=uuid.uuid4(),
    )


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
    #: Tries to change or remove the first stored event by a form of REWRITES, from a plain
    #: driver connection; returns the error the database raised (None: it was accepted).
    #: Raises NotApplicable for a form the backend's SQL does not have.
    rewrite: Callable[[str], Awaitable[Exception | None]]
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

    async def rewrite(form: str) -> Exception | None:
        # The memory store's analogue of SQL: change a stored row, drop rows from what it
        # hands out, or insert a row that collides with a stored one.
        if form in ("merge", "merge delete", "truncate"):
            raise NotApplicable(f"no {REWRITES[form]} in memory")
        rows = shared.stored_events()
        first = rows[0]
        collisions = {
            "position": dict(position=first.position, stream_id="intruder", version=1, event_id=uuid.uuid4()),
            "event id": dict(
                position=rows[-1].position + 1, stream_id="intruder", version=1, event_id=first.event_id
            ),
            "stream version": dict(
                position=rows[-1].position + 1,
                stream_id=first.stream_id,
                version=first.version,
                event_id=uuid.uuid4(),
            ),
        }
        try:
            if form == "update":
                rows[0].type = "Tampered"  # type: ignore[misc]
            elif form == "delete":
                del rows[0]  # type: ignore[attr-defined]
            elif form == "delete every row":
                rows.clear()  # type: ignore[attr-defined]
            else:
                key = form.removeprefix("replace the ").removeprefix("upsert on the ")
                shared.insert_stored_event(
                    StoredEvent(
                        type="Tampered",
                        schema_version=1,
                        data="{}",
                        metadata=None,
                        recorded_at=datetime.now(UTC),
                        **collisions[key],
                    )  # type: ignore[arg-type]
                )
        except Exception as error:
            return error
        return None

    return Backend("memory", "memory://", open_shared, insert_raw, tamper, rewrite)


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

    async def rewrite(form: str) -> Exception | None:
        with sqlite3.connect(path) as db:
            row = db.execute(
                "SELECT position, stream_id, version, event_id FROM events ORDER BY position LIMIT 1"
            ).fetchone()
        return await tamper(_rewrite_statement(_SQLITE_REWRITES, form, "events", FirstEvent(*row)))

    return Backend("sqlite", url, open_new, insert_raw, tamper, rewrite)


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
            # The test's stores read this row as they read their own appends: a read held back for
            # a moment below it (another session's transaction ending while the barrier is
            # computed, on this shared server) is read again instead of coming back without it.
            for opened in stores:
                own_writes = getattr(opened, "_own_writes", None)
                if own_writes is not None:
                    own_writes.wrote(int(str(row[0])))
            # Return once readers of the global log can see the row, as the test will read next:
            # the store's own barrier (which waits only for this table's writers) has passed it.
            reading_barrier = barrier(f'"{schema}".events')
            for _ in range(1000):
                cursor = await connection.execute(
                    f"SELECT {reading_barrier} > %s::text::xid8".encode(), (row[0],)
                )
                visible = await cursor.fetchone()
                if visible is not None and visible[0]:
                    return
                await asyncio.sleep(0.01)
            raise AssertionError(f"the raw row of stream {stream_id!r} never became visible to readers")

    async def tamper(statement: str) -> Exception | None:
        async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
            try:
                await connection.execute(statement.encode())
            except psycopg.Error as error:
                return error
        return None

    async def rewrite(form: str) -> Exception | None:
        async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
            cursor = await connection.execute(
                f"SELECT position, stream_id, version, event_id::text FROM {schema}.events "
                "ORDER BY position LIMIT 1".encode()
            )
            row = await cursor.fetchone()
        assert row is not None
        statement = _rewrite_statement(_POSTGRES_REWRITES, form, f"{schema}.events", FirstEvent(*row))
        return await tamper(statement)

    return PostgresBackend(
        "postgres", url, open_new, insert_raw, tamper, rewrite, f"{schema}.events", stores, schema=schema
    )


BACKENDS: dict[str, Callable[[Path], Backend]] = {
    "memory": memory_backend,
    "sqlite": sqlite_backend,
    "postgres": postgres_backend,
}
