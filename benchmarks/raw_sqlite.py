"""The raw driver on SQLite: stdlib ``sqlite3`` and hand-written SQL, no library.

The table has eventledger's columns and its unique (stream_id, version); the connection is in WAL
mode with the place's synchronous mode. Optimistic concurrency is the plain
hand-written kind: insert version n+1 and let the unique key refuse a stale writer. Each event is
JSON-encoded with ``json.dumps`` on the way in and decoded with ``json.loads`` on the way out, so
the raw driver does the same essential work as the libraries, and nothing more.

Durability: every contender of a run commits with the same SQLite synchronous mode, the place's
(``Place.synchronous``, ``python -m benchmarks --sqlite-synchronous``): eventledger through its
URL, the raw driver and the incumbent through the pragma on their connections. The default is
FULL, eventledger's own default, because an append it acknowledges must survive power loss and
a comparison with contenders that skip the fsync would measure durability settings, not code.
NORMAL (eventledger's documented faster choice, and SQLite's usual WAL setting) is measured by
asking for it; each results file records the mode under ``settings.sqlite_synchronous``.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any

from benchmarks import bulk
from benchmarks.contender import SEED_BATCH, multi_stream_rows, stream_names
from benchmarks.payload import TYPE_NAME, fields
from benchmarks.places import Place

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY,
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT,
    recorded_at INTEGER NOT NULL,
    UNIQUE (stream_id, version)
)
"""
INSERT = (
    "INSERT INTO events (stream_id, version, event_id, type, schema_version, data, metadata, "
    "recorded_at) VALUES (?, ?, ?, ?, 1, ?, NULL, ?)"
)
BULK_INSERT = (
    "INSERT INTO events (stream_id, version, event_id, type, schema_version, data, recorded_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
COLUMNS = "position, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at"


def _decoded(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # The raw equivalent of a decoded event: the row's columns with the data parsed.
    return (row[0], row[1], row[2], row[3], row[4], json.loads(row[6]))


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


class RawSQLiteContender:
    """stdlib sqlite3 on one file."""

    name = "raw"

    def __init__(self, place: Place) -> None:
        self.path = place.path
        self.db = sqlite3.connect(place.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute(f"PRAGMA synchronous = {place.synchronous}")
        self.db.execute(SCHEMA)

    def _row(self, stream: str, version: int, data: dict[str, Any]) -> tuple[Any, ...]:
        return (stream, version, str(uuid.uuid4()), TYPE_NAME, _dump(data), time.time_ns() // 1000)

    def new_streams(self, count: int, first: int = 0) -> float:
        """W1: one autocommitted INSERT per stream."""
        names = stream_names("new", count, first)
        data = [fields(index) for index in range(count)]
        execute, row = self.db.execute, self._row
        started = time.perf_counter()
        for name, item in zip(names, data, strict=True):
            execute(INSERT, row(name, 1, item))
        return time.perf_counter() - started

    def seed(self, prefix: str, streams: int, events_each: int, batch: int = SEED_BATCH) -> None:
        """Seed with transactions of ``batch`` rows."""
        for name in stream_names(prefix, streams):
            for first in range(0, events_each, batch):
                size = min(batch, events_each - first)
                self._insert_batch(name, first, [fields(first + index) for index in range(size)])

    def _insert_batch(self, stream: str, current: int, data: list[dict[str, Any]]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                INSERT, [self._row(stream, current + index, item) for index, item in enumerate(data, 1)]
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def append_exact(self, prefix: str, streams: int, count: int, current_version: int) -> float:
        """W2: insert version n+1; the unique key is the concurrency check."""
        names = stream_names(prefix, streams)
        versions = [current_version] * streams
        data = [fields(index) for index in range(count)]
        execute, row = self.db.execute, self._row
        started = time.perf_counter()
        for index, item in enumerate(data):
            slot = index % streams
            version = versions[slot] + 1
            execute(INSERT, row(names[slot], version, item))
            versions[slot] = version
        return time.perf_counter() - started

    def seed_aggregates(self, prefix: str, streams: int, length: int) -> None:
        """W2c's streams as rows."""
        self.seed(prefix, streams, length)

    def update_aggregates(self, prefix: str, streams: int, count: int, first: int = 0) -> float:
        """W2c: select the stream's rows, decode and fold them (count the items, sum the
        quantities), insert version n+1; the unique key is the check."""
        names = stream_names(prefix, streams)
        data = [fields(number) for number in range(first, first + count)]
        query = f"SELECT {COLUMNS} FROM events WHERE stream_id = ? ORDER BY version"
        execute, row = self.db.execute, self._row
        started = time.perf_counter()
        for number, item in enumerate(data, first):
            name = names[number % streams]
            items = quantity = 0
            for loaded in execute(query, (name,)):
                items += 1
                quantity += _decoded(loaded)[5]["quantity"]
            execute(INSERT, row(name, items + 1, item))
        return time.perf_counter() - started

    def append_batches(self, count: int, size: int, first: int = 0) -> float:
        """W3: BEGIN IMMEDIATE, one executemany, COMMIT."""
        names = stream_names("batch", count, first)
        batches = [[fields(index * size + offset) for offset in range(size)] for index in range(count)]
        started = time.perf_counter()
        for name, data in zip(names, batches, strict=True):
            self._insert_batch(name, 0, data)
        return time.perf_counter() - started

    def append_multi(self, prefix: str, accounts: int, count: int, first: int = 0) -> float:
        """W4: BEGIN IMMEDIATE, three INSERTs (version n+1; the unique key is the check), COMMIT."""
        rows = multi_stream_rows(prefix, accounts, count, first, self._row)
        execute = self.db.execute
        started = time.perf_counter()
        for batch in rows:
            execute("BEGIN IMMEDIATE")
            try:
                for row in batch:
                    execute(INSERT, row)
            except BaseException:
                execute("ROLLBACK")
                raise
            execute("COMMIT")
        return time.perf_counter() - started

    def load_stream(self, name: str) -> tuple[float, int]:
        """R1."""
        query = f"SELECT {COLUMNS} FROM events WHERE stream_id = ? ORDER BY version"
        started = time.perf_counter()
        loaded = [_decoded(row) for row in self.db.execute(query, (name,))]
        return time.perf_counter() - started, len(loaded)

    def read_log(self) -> tuple[float, int]:
        """R2 and M1: one cursor over the whole table, which sqlite3 streams row by row."""
        count = 0
        started = time.perf_counter()
        for row in self.db.execute(f"SELECT {COLUMNS} FROM events ORDER BY position"):
            _decoded(row)
            count += 1
        return time.perf_counter() - started, count

    def read_log_part(self, after: int, count: int) -> tuple[float, int, int]:
        """R2: one cursor over the part, which sqlite3 streams row by row."""
        query = f"SELECT {COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
        read = 0
        started = time.perf_counter()
        for row in self.db.execute(query, (after, count)):
            _decoded(row)
            after = row[0]
            read += 1
        return time.perf_counter() - started, read, after

    def bulk_load(self, total: int, stream_length: int, prefix: str = "m1") -> None:
        """A read workload's events in one bulk transaction."""
        bulk.into_sqlite(self.path, BULK_INSERT, bulk.event_rows(total, stream_length, prefix, sqlite=True))

    def append_until(self, deadline: float, prefix: str, streams: int) -> int:
        """C1 (not run on SQLite, which has one writer at a time)."""
        names = stream_names(prefix, streams)
        versions = [0] * streams
        data = [fields(index) for index in range(1000)]
        count = 0
        while time.time() < deadline:
            slot = count % streams
            versions[slot] += 1
            self.db.execute(INSERT, self._row(names[slot], versions[slot], data[count % 1000]))
            count += 1
        return count

    def close(self) -> None:
        """Close the connection."""
        self.db.close()
