"""The raw driver on PostgreSQL: psycopg 3 and hand-written SQL, no library.

The table has eventledger's columns (data as JSONB), its unique (stream_id, version) and an
identity position; the session keeps the server's defaults, as eventledger's store does.
Optimistic concurrency is the hand-written kind: insert version n+1 and let the unique key
refuse a stale writer. Single events are autocommitted INSERTs; a batch is one transaction with
``executemany`` (which psycopg pipelines). Data goes in through psycopg's ``Jsonb`` adapter and
comes back as dicts, so the driver does the JSON work both ways.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from benchmarks import bulk
from benchmarks.contender import SEED_BATCH, multi_stream_rows, stream_names
from benchmarks.payload import TYPE_NAME, fields
from benchmarks.places import Place

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id text NOT NULL,
    version bigint NOT NULL CHECK (version > 0),
    event_id uuid NOT NULL UNIQUE,
    type text NOT NULL,
    schema_version integer NOT NULL,
    data json NOT NULL,
    metadata json,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)
)
"""
INSERT = (
    "INSERT INTO events (stream_id, version, event_id, type, schema_version, data) "
    "VALUES (%s, %s, %s, %s, 1, %s)"
)
BULK_COLUMNS = ("stream_id", "version", "event_id", "type", "schema_version", "data", "recorded_at")
COLUMNS = "position, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at"
PAGE = 1000


class RawPostgresContender:
    """psycopg 3 on one schema."""

    name = "raw"

    def __init__(self, place: Place) -> None:
        self.place = place
        self.connection = psycopg.connect(
            place.conninfo, autocommit=True, options=f"-c search_path={place.schema}"
        )
        self.connection.execute(SCHEMA)

    @staticmethod
    def _row(stream: str, version: int, data: dict[str, Any]) -> tuple[Any, ...]:
        return (stream, version, uuid.uuid4(), TYPE_NAME, Jsonb(data))

    def new_streams(self, count: int, first: int = 0) -> float:
        """W1: one autocommitted INSERT per stream."""
        names = stream_names("new", count, first)
        data = [fields(index) for index in range(count)]
        execute, row = self.connection.execute, self._row
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
        with self.connection.transaction(), self.connection.cursor() as cursor:
            cursor.executemany(
                INSERT, [self._row(stream, current + index, item) for index, item in enumerate(data, 1)]
            )

    def append_exact(self, prefix: str, streams: int, count: int, current_version: int) -> float:
        """W2: insert version n+1; the unique key is the concurrency check."""
        names = stream_names(prefix, streams)
        versions = [current_version] * streams
        data = [fields(index) for index in range(count)]
        execute, row = self.connection.execute, self._row
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
        """W2c: select the stream's rows, fold them (count the items, sum the quantities), insert
        version n+1; the unique key is the check."""
        names = stream_names(prefix, streams)
        data = [fields(number) for number in range(first, first + count)]
        query = f"SELECT {COLUMNS} FROM events WHERE stream_id = %s ORDER BY version"
        execute, row = self.connection.execute, self._row
        started = time.perf_counter()
        for number, item in enumerate(data, first):
            name = names[number % streams]
            items = quantity = 0
            for loaded in execute(query, (name,)).fetchall():
                items += 1
                quantity += loaded[6]["quantity"]
            execute(INSERT, row(name, items + 1, item))
        return time.perf_counter() - started

    def append_batches(self, count: int, size: int, first: int = 0) -> float:
        """W3: one transaction with one pipelined executemany per batch."""
        names = stream_names("batch", count, first)
        batches = [[fields(index * size + offset) for offset in range(size)] for index in range(count)]
        started = time.perf_counter()
        for name, data in zip(names, batches, strict=True):
            self._insert_batch(name, 0, data)
        return time.perf_counter() - started

    def append_multi(self, prefix: str, accounts: int, count: int, first: int = 0) -> float:
        """W4: one transaction with one pipelined executemany of three INSERTs (version n+1; the
        unique key is the check)."""
        rows = multi_stream_rows(prefix, accounts, count, first, self._row)
        connection = self.connection
        started = time.perf_counter()
        for batch in rows:
            with connection.transaction(), connection.cursor() as cursor:
                cursor.executemany(INSERT, batch)
        return time.perf_counter() - started

    def load_stream(self, name: str) -> tuple[float, int]:
        """R1."""
        query = f"SELECT {COLUMNS} FROM events WHERE stream_id = %s ORDER BY version"
        started = time.perf_counter()
        loaded = self.connection.execute(query, (name,)).fetchall()
        return time.perf_counter() - started, len(loaded)

    def read_log(self) -> tuple[float, int]:
        """R2 and M1: keyset pages of 1,000 rows, never more in memory."""
        query = f"SELECT {COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT {PAGE}"
        count = 0
        after = 0
        started = time.perf_counter()
        while True:
            rows = self.connection.execute(query, (after,)).fetchall()
            count += len(rows)
            if len(rows) < PAGE:
                break
            after = rows[-1][0]
        return time.perf_counter() - started, count

    def read_log_part(self, after: int, count: int) -> tuple[float, int, int]:
        """R2: keyset pages of up to 1,000 rows."""
        query = f"SELECT {COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s"
        read = 0
        started = time.perf_counter()
        while read < count:
            rows = self.connection.execute(query, (after, min(PAGE, count - read))).fetchall()
            read += len(rows)
            if not rows:
                break
            after = rows[-1][0]
        return time.perf_counter() - started, read, after

    def bulk_load(self, total: int, stream_length: int, prefix: str = "m1") -> None:
        """A read workload's events with one COPY."""
        rows = bulk.event_rows(total, stream_length, prefix, sqlite=False)
        bulk.into_postgres(self.place, "events", BULK_COLUMNS, rows)

    def append_until(self, deadline: float, prefix: str, streams: int) -> int:
        """C1: autocommitted single-event INSERTs to this writer's own streams."""
        names = stream_names(prefix, streams)
        versions = [0] * streams
        data = [fields(index) for index in range(1000)]
        count = 0
        while time.time() < deadline:
            slot = count % streams
            versions[slot] += 1
            self.connection.execute(INSERT, self._row(names[slot], versions[slot], data[count % 1000]))
            count += 1
        return count

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()
