"""The SQLite store's tables, created and migrated on open, and refused when unusable.

The file records its store schema version in ``eventledger_schema``; each migration runs once,
inside one ``BEGIN IMMEDIATE`` transaction, so processes opening the same file together queue
on SQLite's write lock instead of racing. A file whose schema is already current is opened
without writing anything, which is also what lets a read-only store (``?mode=ro``) open it.

Why the events table is immutable against any SQL a program can send, not only ours:

- ``BEFORE UPDATE`` and ``BEFORE DELETE`` triggers refuse UPDATE and DELETE (an UPSERT's
  ``DO UPDATE`` is an UPDATE and meets the same trigger). A table with a DELETE trigger never
  gets SQLite's truncate optimisation, so ``DELETE FROM events`` is refused too.
- ``REPLACE`` / ``INSERT OR REPLACE`` (and ``UPDATE OR REPLACE``'s insert half) remove the row
  they conflict with *without* firing DELETE triggers, unless the connection turned on
  ``recursive_triggers``, which other programs do not. So version 2 adds a ``BEFORE INSERT``
  trigger that refuses any insert whose position, event id or (stream, version) is already
  stored. It runs before conflict resolution, so it sees the row REPLACE would have removed.
  Its cost is three index probes per inserted row, on pages the insert itself is about to
  touch: about 1-2 microseconds of CPU per row in isolation, and within the run-to-run noise of
  the W1/W2 benchmarks (eventledger/raw 0.74 -> 0.74 and 0.79 -> 0.77 with ``synchronous =
  NORMAL``, nothing measurable beside FULL's fsync). An ``INSERT OR IGNORE`` that collides is
  refused by it as well, instead of being silently dropped.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from eventledger.errors import StoreSchemaError

SCHEMA_VERSION: Final = 2
"""The store schema version this release creates and reads."""

_REFUSE: Final = "eventledger: stored events are immutable; append a compensating event instead of "


def migrations(prefix: str) -> list[str]:
    """The migration scripts for table-name ``prefix`` (already validated), oldest first."""
    events = f"{prefix}events"
    return [
        # Version 1: the events table, its UPDATE and DELETE triggers, and snapshots.
        f"""
        CREATE TABLE IF NOT EXISTS {events} (
            position INTEGER PRIMARY KEY,
            stream_id TEXT NOT NULL,
            version INTEGER NOT NULL CHECK (version > 0),
            event_id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            schema_version INTEGER NOT NULL DEFAULT 1,
            data TEXT NOT NULL,
            metadata TEXT,
            recorded_at INTEGER NOT NULL,
            UNIQUE (stream_id, version)
        );
        CREATE TRIGGER IF NOT EXISTS {events}_refuse_update BEFORE UPDATE ON {events}
        BEGIN
            SELECT RAISE(ABORT, '{_REFUSE}updating');
        END;
        CREATE TRIGGER IF NOT EXISTS {events}_refuse_delete BEFORE DELETE ON {events}
        BEGIN
            SELECT RAISE(ABORT, '{_REFUSE}deleting');
        END;
        CREATE TABLE IF NOT EXISTS {prefix}snapshots (
            stream_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            aggregate_type TEXT NOT NULL,
            schema_version INTEGER NOT NULL,
            state TEXT NOT NULL,
            recorded_at INTEGER NOT NULL
        );
        """,
        # Version 2: refuse REPLACE, INSERT OR REPLACE and colliding inserts (see the module
        # docstring). A WHEN clause rather than a WHERE in the body: when it is false, SQLite
        # skips the trigger program entirely. The position probe comes first: for our own
        # single-event appends NEW.position is -1 (not yet assigned) and the probe is a
        # descent to the table's first leaf.
        f"""
        CREATE TRIGGER IF NOT EXISTS {events}_refuse_replace BEFORE INSERT ON {events}
        WHEN EXISTS (SELECT 1 FROM {events} WHERE position = NEW.position)
            OR EXISTS (SELECT 1 FROM {events} WHERE event_id = NEW.event_id)
            OR EXISTS (SELECT 1 FROM {events} WHERE stream_id = NEW.stream_id AND version = NEW.version)
        BEGIN
            SELECT RAISE(ABORT, '{_REFUSE}replacing one (its position, event id or stream version is taken)');
        END;
        """,
    ]


def stored_version(db: sqlite3.Connection, schema_table: str) -> int:
    """The store schema version recorded in the file (0 when it has no eventledger tables)."""
    exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (schema_table,))
    if exists.fetchone() is None:
        return 0
    row = db.execute(f"SELECT version FROM {schema_table} WHERE component = 'store'").fetchone()
    return int(row[0]) if row else 0


def refuse_newer(version: int, where: str) -> None:
    """Raise :class:`StoreSchemaError` when the file was written by a newer eventledger."""
    if version > SCHEMA_VERSION:
        raise StoreSchemaError(
            f"{where} has store schema version {version}, newer than this eventledger's "
            f"{SCHEMA_VERSION}; upgrade eventledger"
        )


def refuse_outdated(version: int, where: str, why: str) -> None:
    """Raise :class:`StoreSchemaError` for a missing or older schema that may not be migrated."""
    found = "has no eventledger store" if version == 0 else f"has store schema version {version}"
    raise StoreSchemaError(
        f"{where} {found}, and this release needs version {SCHEMA_VERSION}; {why}, so it cannot be "
        "created or migrated here: open it once without ?mode=ro (or run `eventledger migrate`)"
    )


def migrate(db: sqlite3.Connection, prefix: str, schema_table: str, where: str) -> None:
    """Create or upgrade the schema in one ``BEGIN IMMEDIATE`` transaction (idempotent)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {schema_table} "
            "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        # Read again under the write lock: another process may have migrated meanwhile.
        current = stored_version(db, schema_table)
        refuse_newer(current, where)
        for version, script in enumerate(migrations(prefix), start=1):
            if version > current:
                for statement in split_script(script):
                    db.execute(statement)
        db.execute(
            f"INSERT INTO {schema_table} (component, version) VALUES ('store', ?) "
            "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            (SCHEMA_VERSION,),
        )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def split_script(script: str) -> list[str]:
    """The statements of ``script``, split where sqlite3 says a statement ends.

    Triggers contain ``;`` inside ``BEGIN ... END``, so a split on ``;`` would cut them.
    """
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    return statements
