"""The embedded event store: one SQLite file, stdlib ``sqlite3``, WAL mode.

Concurrency, and why it is safe:

- Every append is a single ``INSERT ... VALUES`` whose version is a scalar subquery that is
  NULL unless the stream is at the expected version; SQLite takes its one write lock before the
  statement reads anything, so the check and the insert cannot be separated by another writer.
  The statements and the reasons for their shapes are in
  :mod:`eventledger.store.sqlite_statements`.
- Positions are the table's ``INTEGER PRIMARY KEY``. SQLite has a single writer at a time and
  commits in the order writes happen, so positions become visible in order and a reader of the
  global log can never see position p+1 before p: the log never skips.
- The store's operations run on the event loop's thread (a thread hop per call would cost more
  than the insert itself). The busy timeout is short, so a lock held by another process never
  blocks the loop for long; instead the operation sleeps asynchronously and retries until
  ``lock_timeout`` seconds have passed (:class:`~eventledger.store.drivers.sqlite.LockWait`).

Durability: ``synchronous = FULL`` by default, so an acknowledged append survives power loss
(WAL mode with ``NORMAL`` syncs only at checkpoints: a crash of the process loses nothing, a
power cut can lose the last commits). ``?synchronous=normal`` is the documented faster choice.

Every ``sqlite3`` error leaves this module as a member of the library's family (see
:func:`eventledger.store.drivers.sqlite.store_error`): a lock held past ``lock_timeout`` and
I/O faults are :class:`StoreUnavailable`, a write through a read-only connection
:class:`ReadOnlyStore`, a refusal by the database (a trigger, a constraint that is not a
version conflict) :class:`StoreError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from eventledger.errors import ConcurrencyError, EventLedgerError, StoreSchemaError
from eventledger.events import EncodedEvent, RecordedEvent
from eventledger.store.appends import EncodedAppend, check_versions
from eventledger.store.base import (
    ANY,
    STREAM_EXISTS,
    EventStore,
    ExpectedVersion,
    expected_version_matches,
)
from eventledger.store.drivers.options import option, positive_seconds
from eventledger.store.drivers.sqlite import (
    DEFAULT_SYNCHRONOUS,
    LockWait,
    configure,
    connect,
    open_mode,
    store_error,
    store_prefix,
    synchronous_mode,
)
from eventledger.store.records import AppendResult, RawEvent, Snapshot, StreamInfo
from eventledger.store.rows import RowPage
from eventledger.store.sqlite_schema import (
    SCHEMA_VERSION,
    migrate,
    refuse_newer,
    refuse_outdated,
    stored_version,
)
from eventledger.store.sqlite_statements import SQLiteStatements

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# A multi-stream append reads its streams' versions this many at a time, well below SQLite's
# limit on a statement's parameters (999 before 3.32).
_STREAMS_PER_READ: Final = 500
# Bits of a random UUID that say "version 4, RFC 4122 variant": cleared, then set.
_UUID4_CLEAR: Final = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET: Final = (0x4000 << 64) | (0x8000 << 48)


def _new_event_id() -> str:
    """``str(uuid.uuid4())`` at half the cost: the text directly, without a UUID object."""
    text = f"{int.from_bytes(os.urandom(16)) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def to_microseconds(moment: datetime) -> int:
    """A UTC datetime as integer microseconds since the Unix epoch (how SQLite stores times)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_microseconds(value: int) -> datetime:
    """Inverse of :func:`to_microseconds`, exact to the microsecond."""
    # Positional: timedelta's keyword parsing costs more than the addition, on every event read.
    return _EPOCH + timedelta(0, 0, value)


class SQLiteEventStore(EventStore):
    """The ``sqlite:///path.db`` store. Open it with :func:`eventledger.open_store`.

    Options (URL query or keyword arguments):

    - ``synchronous``: ``full`` by default (an acknowledged append survives power loss);
      ``normal`` is faster and survives a crash of the process, not of the machine.
    - ``lock_timeout``: seconds to wait for another connection's write lock (> 0).
    - ``poll_interval``: seconds between checks for other processes' appends while subscribed
      (> 0).
    - ``prefix``: for table names.
    - ``mode``: ``ro`` opens an existing, up-to-date store without ever writing the file:
      reads and subscriptions work, writes raise :class:`ReadOnlyStore`.

    A bad option raises :class:`~eventledger.errors.InvalidArgument` naming it.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = DEFAULT_SYNCHRONOUS,
        lock_timeout: float = 30.0,
        poll_interval: float = 0.05,
        prefix: str = "",
        mode: str = "rwc",
    ) -> None:
        super().__init__()
        self._synchronous = option("synchronous", synchronous, synchronous_mode)
        self.lock_timeout = option("lock_timeout", lock_timeout, positive_seconds)
        self.poll_interval = option("poll_interval", poll_interval, positive_seconds)
        self.prefix = option("prefix", prefix, store_prefix)
        self.read_only = option("mode", mode, open_mode) == "ro"
        self.path = Path(path)
        self.events_table = f"{prefix}events"
        self.snapshots_table = f"{prefix}snapshots"
        self.schema_table = f"{prefix}eventledger_schema"
        self._where = f"SQLite file {str(self.path)!r}"
        if self.read_only and not self.path.is_file():
            # Checked here, not left to SQLite: its "unable to open database file" would not say
            # that the file is missing rather than unreadable.
            raise StoreSchemaError(
                f"{self._where} does not exist, and a store opened with ?mode=ro never creates one; "
                "open it once without mode=ro (or run `eventledger migrate`)"
            )
        try:
            self._db = connect(self.path, read_only=self.read_only)
        except sqlite3.Error as error:
            raise self._store_error(error, "open the file") from error
        self._locks = LockWait(self.lock_timeout, self._where, self._store_error)
        self._sql = SQLiteStatements.for_prefix(self.prefix)

    def __repr__(self) -> str:
        return f"SQLiteEventStore({str(self.path)!r})"

    # ----------------------------------------------------------------- opening

    async def open(self) -> SQLiteEventStore:
        """Set WAL mode and create or migrate the schema (idempotent, safe across processes).

        A read-only store (``mode=ro``) writes nothing: it only checks that the schema is
        current and raises :class:`StoreSchemaError` when it is missing, older or newer.
        """
        await self._locks.run(self._configure, "configure the connection")
        await self._locks.run(self._check_or_migrate, "create or migrate the store schema")
        return self

    def _configure(self) -> None:
        configure(self._db, synchronous=self._synchronous, wal=not self.read_only, where=self._where)

    def _check_or_migrate(self) -> None:
        # A current schema is only read, so opening takes no write lock and a read-only file opens.
        current = stored_version(self._db, self.schema_table)
        refuse_newer(current, self._where)
        if current == SCHEMA_VERSION:
            return
        if self.read_only:
            refuse_outdated(current, self._where, "the store was opened with ?mode=ro")
        migrate(self._db, self.prefix, self.schema_table, self._where)

    async def schema_version(self) -> int:
        """The store schema version recorded in the file."""
        return await self._locks.run(
            lambda: stored_version(self._db, self.schema_table), "read the store schema version"
        )

    def _store_error(self, error: sqlite3.Error, doing: str) -> EventLedgerError:
        return store_error(error, self._where, doing, read_only=self.read_only, exists=self.path.is_file())

    # ----------------------------------------------------------------- writing

    async def _append(
        self,
        stream_id: str,
        events: list[EncodedEvent],
        expected: ExpectedVersion,
        metadata: str | None,
    ) -> AppendResult:
        self._check_open()
        return await self._locks.run(
            lambda: self._append_now(stream_id, events, expected, metadata), f"append to stream {stream_id!r}"
        )

    async def _append_many(self, requests: list[EncodedAppend]) -> list[AppendResult]:
        self._check_open()
        streams = ", ".join(repr(request.stream_id) for request in requests)
        return await self._locks.run(lambda: self._append_many_now(requests), f"append to streams {streams}")

    def _append_now(
        self,
        stream_id: str,
        events: list[EncodedEvent],
        expected: ExpectedVersion,
        metadata: str | None,
    ) -> AppendResult:
        db = self._db
        if len(events) == 1:
            # One statement, committed on its own: the version check and the insert are one step.
            return self._insert(stream_id, events, expected, metadata, time.time_ns() // 1000)
        # Take the write lock before reading the stream's version; one writer from here on.
        db.execute("BEGIN IMMEDIATE")
        try:
            result = self._insert(stream_id, events, expected, metadata, time.time_ns() // 1000)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return result

    def _append_many_now(self, requests: list[EncodedAppend]) -> list[AppendResult]:
        db = self._db
        # The write lock first: from here no other writer can move a stream we checked, so the
        # versions read below stay true until COMMIT, and every stream is checked before any
        # row is written (an append that fails names every stream that did not hold). Holding
        # the lock, the store numbers the rows itself, like a batch's later events.
        db.execute("BEGIN IMMEDIATE")
        try:
            results = self.append_in_transaction(db, requests)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return results

    def append_in_transaction(
        self, db: sqlite3.Connection, requests: list[EncodedAppend]
    ) -> list[AppendResult]:
        """Write ``requests`` on ``db`` (a connection to this store's file) in its open transaction,
        which must hold the file's write lock already (see :meth:`writing_transaction`).

        Every stream is checked before any row is written: if one does not hold, this raises
        :class:`ConcurrencyError` naming every such stream, having written nothing. The caller
        commits or rolls back.
        """
        # Holding the write lock, the store numbers the rows itself, like a batch's later events.
        head = 0
        actual: dict[str, int] = {}
        for first in range(0, len(requests), _STREAMS_PER_READ):
            streams = [request.stream_id for request in requests[first : first + _STREAMS_PER_READ]]
            rows = db.execute(self._sql.stream_versions(len(streams)), streams).fetchall()
            head = rows[0][1]
            actual.update(rows[1:])
        check_versions(requests, actual)
        now = time.time_ns() // 1000
        results: list[AppendResult] = []
        rows = []
        for request in requests:
            version = actual.get(request.stream_id, 0)
            for number, event in enumerate(request.events, 1):
                rows.append(
                    (
                        head + number,
                        request.stream_id,
                        version + number,
                        _new_event_id(),
                        event.type,
                        event.schema_version,
                        event.data,
                        request.metadata,
                        now,
                    )
                )
            count = len(request.events)
            results.append(
                AppendResult(request.stream_id, version + count, tuple(range(head + 1, head + count + 1)))
            )
            head += count
        db.executemany(self._sql.append_rest, rows)
        return results

    @contextlib.asynccontextmanager
    async def writing_transaction(
        self, connection: sqlite3.Connection | None = None
    ) -> AsyncIterator[sqlite3.Connection]:
        """A transaction of your own on this store's file that holds its write lock from the start.

        The SQLite counterpart of PostgreSQL's ``writing_transaction``: ``BEGIN IMMEDIATE``
        (waiting up to ``lock_timeout`` for another writer), so whatever the block reads stays
        true until it commits; write events in it with :meth:`append_in_transaction`, next to
        other tables of the file. It commits when the block ends (waking this store's
        subscribers) and rolls back if the block raises.

        ``connection``: a ``sqlite3`` connection of your own to this file, in autocommit mode
        (``isolation_level=None``); by default a new one is opened for the transaction. Never
        the store's own: other operations of the store would run inside this transaction.
        """
        self._check_open()
        db = connection if connection is not None else connect(self.path)
        try:
            if connection is None:
                configure(db, synchronous=self._synchronous, wal=False, where=self._where)
            await self._locks.run(lambda: db.execute("BEGIN IMMEDIATE"), "begin a writing transaction")
            try:
                yield db
                await self._locks.run(lambda: db.execute("COMMIT"), "commit a writing transaction")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        finally:
            if connection is None:
                db.close()
        self._wake_subscribers()

    def _insert(
        self,
        stream_id: str,
        events: list[EncodedEvent],
        expected: ExpectedVersion,
        metadata: str | None,
        now: int,
        db: sqlite3.Connection | None = None,
    ) -> AppendResult:
        """Insert a (non-empty) batch on ``db`` (the store's connection by default): alone, its
        first statement commits it; in a transaction, not."""
        db = self._db if db is None else db
        first = events[0]
        row = (_new_event_id(), first.type, first.schema_version, first.data, metadata, now)
        try:
            if expected is ANY or expected is STREAM_EXISTS:
                statement = self._sql.append_any if expected is ANY else self._sql.append_existing
                # fetchall() steps the statement to its end, which commits it in autocommit mode.
                position, version = db.execute(statement, (stream_id, stream_id, *row)).fetchall()[0]
            else:
                cursor = db.execute(self._sql.append_exact, (stream_id, expected, stream_id, *row))
                position, version = cursor.lastrowid, expected + 1
        except sqlite3.IntegrityError:
            actual = db.execute(self._sql.stream_version, (stream_id,)).fetchone()[0]
            if expected_version_matches(expected, actual):
                raise
            raise ConcurrencyError(stream_id, expected, actual) from None
        if len(events) > 1:
            db.executemany(
                self._sql.append_rest,
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
        count = len(events)
        positions = (position,) if count == 1 else tuple(range(position, position + count))
        return AppendResult(stream_id, version + count - 1, positions)

    # ----------------------------------------------------------------- reading

    async def _read_stream_page(
        self, stream_id: str, start: int | None, limit: int, backwards: bool
    ) -> Sequence[RecordedEvent]:
        self._check_open()
        if backwards:
            bound = start if start is not None else 2**62
            query, parameters = self._sql.read_stream_backwards, (stream_id, bound, limit)
        else:
            query, parameters = self._sql.read_stream_forwards, (stream_id, start or 1, limit)
        rows = await self._locks.run(
            lambda: self._db.execute(query, parameters).fetchall(), f"read stream {stream_id!r}"
        )
        return RowPage(rows, event_id=_uuid_from_text, recorded_at=from_microseconds)

    async def _read_all_page(
        self, after: int, limit: int, types: tuple[str, ...] | None
    ) -> Sequence[RecordedEvent]:
        self._check_open()
        parameters: tuple[Any, ...]
        if types is None:
            query, parameters = self._sql.read_all, (after, limit)
        elif not types:
            return []
        else:
            query, parameters = self._sql.read_all_of_types(len(types)), (after, *types, limit)
        rows = await self._locks.run(
            lambda: self._db.execute(query, parameters).fetchall(), "read the global log"
        )
        return RowPage(rows, event_id=_uuid_from_text, recorded_at=from_microseconds)

    async def _read_all_raw_page(self, after: int, limit: int) -> list[RawEvent]:
        self._check_open()
        rows = await self._locks.run(
            lambda: self._db.execute(self._sql.read_raw, (after, limit)).fetchall(), "read the global log"
        )
        return [RawEvent(*row) for row in rows]

    async def _stream_version(self, stream_id: str) -> int:
        """The stream's current version (0 when it has no events)."""
        self._check_open()
        row = await self._locks.run(
            lambda: self._db.execute(self._sql.stream_version, (stream_id,)).fetchone(),
            f"read the version of stream {stream_id!r}",
        )
        return int(row[0])

    async def head_position(self) -> int:
        """The position of the last committed event (0 for an empty store)."""
        self._check_open()
        row = await self._locks.run(
            lambda: self._db.execute(self._sql.head_position).fetchone(), "read the head position"
        )
        return int(row[0])

    async def _list_streams(self, after: str, limit: int) -> list[StreamInfo]:
        """Streams ordered by id, starting after ``after``."""
        self._check_open()
        rows = await self._locks.run(
            lambda: self._db.execute(self._sql.list_streams, (after or "", limit)).fetchall(), "list streams"
        )
        return [StreamInfo(row[0], row[1], from_microseconds(row[2])) for row in rows]

    # ----------------------------------------------------------------- snapshots

    async def _save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` unless a newer one of the stream is already stored."""
        self._check_open()
        state = json.dumps(snapshot.state, separators=(",", ":"))
        parameters = (
            snapshot.stream_id,
            snapshot.version,
            snapshot.aggregate_type,
            snapshot.schema_version,
            state,
            to_microseconds(snapshot.recorded_at),
        )
        await self._locks.run(
            lambda: self._db.execute(self._sql.save_snapshot, parameters),
            f"save a snapshot of stream {snapshot.stream_id!r}",
        )

    async def _load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of ``stream_id``, or None."""
        self._check_open()
        row = await self._locks.run(
            lambda: self._db.execute(self._sql.load_snapshot, (stream_id,)).fetchone(),
            f"load the snapshot of stream {stream_id!r}",
        )
        if row is None:
            return None
        return Snapshot(row[0], row[1], row[2], row[3], json.loads(row[4]), from_microseconds(row[5]))

    async def _close(self) -> None:
        self._db.close()


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
