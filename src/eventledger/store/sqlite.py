"""The embedded event store: one SQLite file, stdlib ``sqlite3``, WAL mode.

Concurrency, and why it is safe:

- Every append is a single ``INSERT ... VALUES`` whose version is a scalar subquery: the next
  version after the stream's current maximum when that maximum is the expected version, else
  NULL, which the NOT NULL constraint refuses (reported as :class:`ConcurrencyError`). SQLite
  takes the database's one write lock before a write statement reads anything, so the check and
  the insert cannot be separated by another writer, in this process or another. A batch takes
  the write lock first (``BEGIN IMMEDIATE``) and inserts the rest of its events in that
  transaction.
- Positions are the table's ``INTEGER PRIMARY KEY``. SQLite has a single writer at a time and
  commits in the order writes happen, so positions become visible in order and a reader of the
  global log can never see position p+1 before p: the log never skips.
- The store's operations run on the event loop's thread (a thread hop per call would cost more
  than the insert itself). The busy timeout is short, so a lock held by another process never
  blocks the loop for long; instead the operation sleeps asynchronously and retries until
  ``lock_timeout`` seconds have passed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

from eventledger.errors import ConcurrencyError, StoreUnavailable
from eventledger.events import EncodedEvent, RecordedEvent
from eventledger.store.base import (
    ANY,
    STREAM_EXISTS,
    AppendResult,
    EventStore,
    ExpectedVersion,
    RawEvent,
    Snapshot,
    StreamInfo,
    decode_rows,
    expected_version_matches,
)

SCHEMA_VERSION: Final = 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_PREFIX_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_SYNCHRONOUS: Final = ("off", "normal", "full", "extra")
_T = TypeVar("_T")
# Bits of a random UUID that say "version 4, RFC 4122 variant": cleared, then set.
_UUID4_CLEAR: Final = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET: Final = (0x4000 << 64) | (0x8000 << 48)


def _new_event_id() -> str:
    """``str(uuid.uuid4())`` at half the cost: the text directly, without a UUID object."""
    text = f"{int.from_bytes(os.urandom(16)) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def validate_prefix(prefix: str) -> str:
    """Table-name prefixes are checked, never trusted: they end up inside SQL text."""
    if prefix and not _PREFIX_PATTERN.match(prefix):
        raise ValueError(
            f"table prefix {prefix!r} must match {_PREFIX_PATTERN.pattern} (lower-case letters, "
            "digits and underscores, starting with a letter)"
        )
    return prefix


def to_microseconds(moment: datetime) -> int:
    """A UTC datetime as integer microseconds since the Unix epoch (how SQLite stores times)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_microseconds(value: int) -> datetime:
    """Inverse of :func:`to_microseconds`, exact to the microsecond."""
    return _EPOCH + timedelta(microseconds=value)


def _migrations(prefix: str) -> list[str]:
    events = f"{prefix}events"
    snapshots = f"{prefix}snapshots"
    refuse = "eventledger: stored events are immutable; append a compensating event instead of "
    refuse_update = refuse + "updating"
    refuse_delete = refuse + "deleting"
    return [
        # Version 1: the events table, its immutability triggers, and snapshots.
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
            SELECT RAISE(ABORT, '{refuse_update}');
        END;
        CREATE TRIGGER IF NOT EXISTS {events}_refuse_delete BEFORE DELETE ON {events}
        BEGIN
            SELECT RAISE(ABORT, '{refuse_delete}');
        END;
        CREATE TABLE IF NOT EXISTS {snapshots} (
            stream_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            aggregate_type TEXT NOT NULL,
            schema_version INTEGER NOT NULL,
            state TEXT NOT NULL,
            recorded_at INTEGER NOT NULL
        );
        """,
    ]


class SQLiteEventStore(EventStore):
    """The ``sqlite:///path.db`` store. Open it with :func:`eventledger.open_store`.

    Options (URL query or keyword arguments): ``synchronous`` (``normal`` by default: an
    acknowledged append survives a crash of the process; ``full`` also survives power loss),
    ``lock_timeout`` (seconds to wait for another process's write lock), ``poll_interval``
    (seconds between checks for other processes' appends while subscribed) and ``prefix`` (for
    table names).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "normal",
        lock_timeout: float = 30.0,
        poll_interval: float = 0.05,
        prefix: str = "",
    ) -> None:
        super().__init__()
        if synchronous.lower() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}")
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.poll_interval = poll_interval
        self.prefix = validate_prefix(prefix)
        self.events_table = f"{prefix}events"
        self.snapshots_table = f"{prefix}snapshots"
        self.schema_table = f"{prefix}eventledger_schema"
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0.02)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"cannot open SQLite file {str(self.path)!r}: {error}") from error
        self._db.execute("PRAGMA busy_timeout = 20")
        self._synchronous = synchronous.lower()
        self._prepare_statements()

    def __repr__(self) -> str:
        return f"SQLiteEventStore({str(self.path)!r})"

    def _prepare_statements(self) -> None:
        events = self.events_table
        columns = "stream_id, version, event_id, type, schema_version, data, metadata, recorded_at"
        # The version is a scalar subquery inside VALUES, not INSERT ... SELECT: an INSERT whose
        # SELECT reads its own table makes SQLite stage the rows in a temporary table first,
        # which cost a quarter of a single-event append. A NULL version (no match) fails the
        # NOT NULL constraint, and the append is refused with nothing written.
        def insert(next_version: str) -> str:
            return (
                f"INSERT INTO {events} ({columns}) VALUES "
                f"(?, (SELECT {next_version} FROM {events} WHERE stream_id = ?), ?, ?, ?, ?, ?, ?)"
            )

        self._insert_exact = insert(
            "CASE WHEN coalesce(max(version), 0) = ? THEN coalesce(max(version), 0) + 1 END"
        )
        self._insert_any = insert("coalesce(max(version), 0) + 1") + " RETURNING position, version"
        self._insert_existing = insert("max(version) + 1") + " RETURNING position, version"
        self._insert_rest = f"INSERT INTO {events} (position, {columns}) VALUES (?,?,?,?,?,?,?,?,?)"
        selected = "position, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at"
        self._select_all = f"SELECT {selected} FROM {events} WHERE position > ? "
        self._select_stream_forwards = (
            f"SELECT {selected} FROM {events} WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ?"
        )
        self._select_stream_backwards = (
            f"SELECT {selected} FROM {events} WHERE stream_id = ? AND version <= ? "
            "ORDER BY version DESC LIMIT ?"
        )
        self._select_version = f"SELECT coalesce(max(version), 0) FROM {events} WHERE stream_id = ?"

    # ----------------------------------------------------------------- opening

    async def open(self) -> SQLiteEventStore:
        """Set WAL mode and create or migrate the schema (idempotent, safe across processes)."""
        await self._with_lock_retry(self._configure)
        await self._with_lock_retry(self._migrate)
        return self

    def _configure(self) -> None:
        mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreUnavailable(f"SQLite file {str(self.path)!r} refused WAL mode ({mode})")
        self._db.execute(f"PRAGMA synchronous = {self._synchronous}")

    def _migrate(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {self.schema_table} ("
                "component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            row = self._db.execute(
                f"SELECT version FROM {self.schema_table} WHERE component = 'store'"
            ).fetchone()
            current = row[0] if row else 0
            if current > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"SQLite file {str(self.path)!r} has store schema version {current}, newer "
                    f"than this eventledger's {SCHEMA_VERSION}; upgrade eventledger"
                )
            for version, script in enumerate(_migrations(self.prefix), start=1):
                if version > current:
                    for statement in _split_script(script):
                        self._db.execute(statement)
            self._db.execute(
                f"INSERT INTO {self.schema_table} (component, version) VALUES ('store', ?) "
                "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (SCHEMA_VERSION,),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    async def schema_version(self) -> int:
        """The store schema version recorded in the file."""
        row = await self._with_lock_retry(
            lambda: self._db.execute(
                f"SELECT version FROM {self.schema_table} WHERE component = 'store'"
            ).fetchone()
        )
        return int(row[0]) if row else 0

    async def _with_lock_retry(self, operation: Callable[[], _T]) -> _T:
        """Run ``operation``; while another process holds the lock, sleep (async) and retry."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.001
        while True:
            try:
                return operation()
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise StoreUnavailable(f"SQLite file {str(self.path)!r}: {error}") from error
                if time.monotonic() >= deadline:
                    raise StoreUnavailable(
                        f"SQLite file {str(self.path)!r} stayed locked by another connection "
                        f"for {self.lock_timeout}s"
                    ) from error
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    # ----------------------------------------------------------------- writing

    async def _append(
        self,
        stream_id: str,
        events: list[EncodedEvent],
        expected: ExpectedVersion,
        metadata: str | None,
    ) -> AppendResult:
        self._check_open()
        return await self._with_lock_retry(lambda: self._append_now(stream_id, events, expected, metadata))

    def _append_now(
        self,
        stream_id: str,
        events: list[EncodedEvent],
        expected: ExpectedVersion,
        metadata: str | None,
    ) -> AppendResult:
        db = self._db
        now = time.time_ns() // 1000
        first = events[0]
        row = (_new_event_id(), first.type, first.schema_version, first.data, metadata, now)
        batch = len(events) > 1
        if batch:
            # Take the write lock before reading the stream's version; one writer from here on.
            db.execute("BEGIN IMMEDIATE")
        try:
            try:
                if expected is ANY or expected is STREAM_EXISTS:
                    statement = self._insert_any if expected is ANY else self._insert_existing
                    # fetchall() steps the statement to its end, which commits it in autocommit mode.
                    position, version = db.execute(statement, (stream_id, stream_id, *row)).fetchall()[0]
                else:
                    cursor = db.execute(self._insert_exact, (stream_id, expected, stream_id, *row))
                    position, version = cursor.lastrowid, expected + 1
            except sqlite3.IntegrityError:
                actual = db.execute(self._select_version, (stream_id,)).fetchone()[0]
                if expected_version_matches(expected, actual):
                    raise
                raise ConcurrencyError(stream_id, expected, actual) from None
            if batch:
                db.executemany(
                    self._insert_rest,
                    [
                        (
                            position + index,
                            stream_id,
                            version + index,
                            _new_event_id(),
                            encoded.type,
                            encoded.schema_version,
                            encoded.data,
                            metadata,
                            now,
                        )
                        for index, encoded in enumerate(events[1:], start=1)
                    ],
                )
                db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        count = len(events)
        positions = (position,) if count == 1 else tuple(range(position, position + count))
        return AppendResult(stream_id, version + count - 1, positions)

    # ----------------------------------------------------------------- reading

    async def _read_stream_page(
        self, stream_id: str, start: int | None, limit: int, backwards: bool
    ) -> list[RecordedEvent]:
        self._check_open()
        if backwards:
            bound = start if start is not None else 2**62
            query, parameters = self._select_stream_backwards, (stream_id, bound, limit)
        else:
            query, parameters = self._select_stream_forwards, (stream_id, start or 1, limit)
        rows = await self._with_lock_retry(lambda: self._db.execute(query, parameters).fetchall())
        return _decode_rows(rows)

    async def _read_all_page(
        self, after: int, limit: int, types: tuple[str, ...] | None
    ) -> list[RecordedEvent]:
        self._check_open()
        query = self._select_all
        parameters: tuple[Any, ...] = (after,)
        if types is not None:
            if not types:
                return []
            query += f"AND type IN ({','.join('?' * len(types))}) "
            parameters += types
        query += "ORDER BY position LIMIT ?"
        parameters += (limit,)
        rows = await self._with_lock_retry(lambda: self._db.execute(query, parameters).fetchall())
        return _decode_rows(rows)

    async def _read_all_raw_page(self, after: int, limit: int) -> list[RawEvent]:
        self._check_open()
        query = (
            f"SELECT position, stream_id, version, type, schema_version, data FROM {self.events_table} "
            "WHERE position > ? ORDER BY position LIMIT ?"
        )
        rows = await self._with_lock_retry(lambda: self._db.execute(query, (after, limit)).fetchall())
        return [RawEvent(*row) for row in rows]

    async def _stream_version(self, stream_id: str) -> int:
        """The stream's current version (0 when it has no events)."""
        self._check_open()
        row = await self._with_lock_retry(
            lambda: self._db.execute(self._select_version, (stream_id,)).fetchone()
        )
        return int(row[0])

    async def head_position(self) -> int:
        """The position of the last committed event (0 for an empty store)."""
        self._check_open()
        row = await self._with_lock_retry(
            lambda: self._db.execute(f"SELECT coalesce(max(position), 0) FROM {self.events_table}").fetchone()
        )
        return int(row[0])

    async def _list_streams(self, after: str, limit: int) -> list[StreamInfo]:
        """Streams ordered by id, starting after ``after``."""
        self._check_open()
        query = (
            f"SELECT stream_id, max(version), max(recorded_at) FROM {self.events_table} "
            "WHERE stream_id > ? GROUP BY stream_id ORDER BY stream_id LIMIT ?"
        )
        rows = await self._with_lock_retry(lambda: self._db.execute(query, (after or "", limit)).fetchall())
        return [StreamInfo(row[0], row[1], from_microseconds(row[2])) for row in rows]

    # ----------------------------------------------------------------- snapshots

    async def _save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` unless a newer one of the stream is already stored."""
        self._check_open()
        state = json.dumps(snapshot.state, separators=(",", ":"))
        query = (
            f"INSERT INTO {self.snapshots_table} "
            "(stream_id, version, aggregate_type, schema_version, state, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (stream_id) DO UPDATE SET "
            "version = excluded.version, aggregate_type = excluded.aggregate_type, "
            "schema_version = excluded.schema_version, state = excluded.state, "
            "recorded_at = excluded.recorded_at WHERE excluded.version >= version"
        )
        parameters = (
            snapshot.stream_id,
            snapshot.version,
            snapshot.aggregate_type,
            snapshot.schema_version,
            state,
            to_microseconds(snapshot.recorded_at),
        )
        await self._with_lock_retry(lambda: self._db.execute(query, parameters))

    async def _load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of ``stream_id``, or None."""
        self._check_open()
        query = (
            "SELECT stream_id, version, aggregate_type, schema_version, state, recorded_at "
            f"FROM {self.snapshots_table} WHERE stream_id = ?"
        )
        row = await self._with_lock_retry(lambda: self._db.execute(query, (stream_id,)).fetchone())
        if row is None:
            return None
        return Snapshot(row[0], row[1], row[2], row[3], json.loads(row[4]), from_microseconds(row[5]))

    async def _close(self) -> None:
        self._db.close()


def _is_busy(error: sqlite3.OperationalError) -> bool:
    message = str(error).lower()
    return "locked" in message or "busy" in message


def _split_script(script: str) -> list[str]:
    # Triggers contain ';' inside BEGIN ... END, so split only where sqlite3 says a statement ends.
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    return statements


# uuid.UUID refuses attribute assignment; its slots' own descriptors set them directly.
_SET_UUID_INT: Final = uuid.UUID.__dict__["int"].__set__
_SET_UUID_IS_SAFE: Final = uuid.UUID.__dict__["is_safe"].__set__
_UUID_UNKNOWN_SAFETY: Final = uuid.SafeUUID.unknown


def _uuid_from_text(text: str) -> uuid.UUID:
    """``uuid.UUID(text)`` for the plain 36-character form the store writes, at a third of the cost.

    ``UUID.__init__`` strips prefixes and braces and checks keyword combinations on every call;
    this builds the same object from the same integer. Any other form goes to ``uuid.UUID``.
    """
    digits = text.replace("-", "")
    if len(digits) != 32 or len(text) != 36:
        return uuid.UUID(text)
    value = object.__new__(uuid.UUID)
    _SET_UUID_INT(value, int(digits, 16))
    _SET_UUID_IS_SAFE(value, _UUID_UNKNOWN_SAFETY)
    return value


def _decode_rows(rows: list[tuple[Any, ...]]) -> list[RecordedEvent]:
    return decode_rows(rows, event_id=_uuid_from_text, recorded_at=from_microseconds)
