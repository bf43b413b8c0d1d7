"""The fastest raw PostgreSQL driver measured here: asyncpg and the raw SQL of raw_postgres.py.

asyncpg speaks PostgreSQL's binary protocol from Cython and prepares every statement it runs
(a per-connection cache), so it spends less client CPU per statement than psycopg, sync or
async (measured: about 125 µs per single-row INSERT against 165 µs for psycopg's synchronous
connection and 240 µs for its async one, on the shared 2-core machine). It is therefore the
real limit for a Python store on PostgreSQL, and a contender of its own: the same table, the
same statements (``$n`` placeholders), data sent as JSON text encoded with ``json.dumps`` and
decoded with ``json.loads`` on read, one connection, no pool, no library.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]

from benchmarks import bulk
from benchmarks.contender import SEED_BATCH, multi_stream_rows, stream_names
from benchmarks.payload import TYPE_NAME, fields
from benchmarks.places import Place
from benchmarks.raw_postgres import BULK_COLUMNS, COLUMNS, PAGE, SCHEMA

_T = TypeVar("_T")

INSERT = (
    "INSERT INTO events (stream_id, version, event_id, type, schema_version, data) "
    "VALUES ($1, $2, $3, $4, 1, $5)"
)


def _row(stream: str, version: int, data: dict[str, Any]) -> tuple[Any, ...]:
    return (stream, version, uuid.uuid4(), TYPE_NAME, json.dumps(data, separators=(",", ":")))


def _decoded(row: asyncpg.Record) -> tuple[Any, ...]:
    # The raw equivalent of a decoded event: the row's columns with the data parsed.
    return (row[0], row[1], row[2], row[3], row[4], json.loads(row[6]), row[8])


class RawAsyncpgContender:
    """asyncpg on one schema."""

    name = "raw-asyncpg"

    def __init__(self, place: Place) -> None:
        self.place = place
        self._runner = asyncio.Runner()
        self.connection: asyncpg.Connection = self._run(self._connect(place))

    @staticmethod
    async def _connect(place: Place) -> asyncpg.Connection:
        connection = await asyncpg.connect(
            host=place.host, port=place.port, user=place.user, password=place.password or None,
            database=place.dbname, server_settings={"search_path": place.schema},
        )
        await connection.execute(SCHEMA)
        return connection

    def _run(self, work: Awaitable[_T]) -> _T:
        async def wrapped() -> _T:
            return await work

        return self._runner.run(wrapped())

    def new_streams(self, count: int, first: int = 0) -> float:
        """W1: one autocommitted INSERT per stream."""
        rows = [_row(name, 1, fields(index)) for index, name in enumerate(stream_names("new", count, first))]
        return self._run(self._each(rows))

    async def _each(self, rows: list[tuple[Any, ...]]) -> float:
        execute = self.connection.execute
        started = time.perf_counter()
        for row in rows:
            await execute(INSERT, *row)
        return time.perf_counter() - started

    def seed(self, prefix: str, streams: int, events_each: int, batch: int = SEED_BATCH) -> None:
        """Seed with transactions of ``batch`` rows."""
        self._run(self._seed(prefix, streams, events_each, batch))

    async def _seed(self, prefix: str, streams: int, events_each: int, batch: int) -> None:
        for name in stream_names(prefix, streams):
            for first in range(0, events_each, batch):
                size = min(batch, events_each - first)
                rows = [_row(name, first + index + 1, fields(first + index)) for index in range(size)]
                async with self.connection.transaction():
                    await self.connection.executemany(INSERT, rows)

    def append_exact(self, prefix: str, streams: int, count: int, current_version: int) -> float:
        """W2: insert version n+1; the unique key is the concurrency check."""
        names = stream_names(prefix, streams)
        rows = [
            _row(names[index % streams], current_version + index // streams + 1, fields(index))
            for index in range(count)
        ]
        return self._run(self._each(rows))

    def seed_aggregates(self, prefix: str, streams: int, length: int) -> None:
        """W2c's streams as rows."""
        self.seed(prefix, streams, length)

    def update_aggregates(self, prefix: str, streams: int, count: int, first: int = 0) -> float:
        """W2c: select the stream's rows, decode and fold them, insert version n+1."""
        return self._run(self._update_aggregates(prefix, streams, count, first))

    async def _update_aggregates(self, prefix: str, streams: int, count: int, first: int) -> float:
        names = stream_names(prefix, streams)
        data = [fields(number) for number in range(first, first + count)]
        query = f"SELECT {COLUMNS} FROM events WHERE stream_id = $1 ORDER BY version"
        fetch, execute = self.connection.fetch, self.connection.execute
        started = time.perf_counter()
        for number, item in enumerate(data, first):
            name = names[number % streams]
            items = quantity = 0
            for loaded in await fetch(query, name):
                items += 1
                quantity += _decoded(loaded)[5]["quantity"]
            await execute(INSERT, *_row(name, items + 1, item))
        return time.perf_counter() - started

    def append_batches(self, count: int, size: int, first: int = 0) -> float:
        """W3: one transaction with one executemany per batch."""
        names = stream_names("batch", count, first)
        batches = [
            [_row(name, offset + 1, fields(index * size + offset)) for offset in range(size)]
            for index, name in enumerate(names)
        ]
        return self._run(self._transactions(batches))

    async def _transactions(self, batches: list[list[tuple[Any, ...]]]) -> float:
        connection = self.connection
        started = time.perf_counter()
        for rows in batches:
            async with connection.transaction():
                await connection.executemany(INSERT, rows)
        return time.perf_counter() - started

    def append_multi(self, prefix: str, accounts: int, count: int, first: int = 0) -> float:
        """W4: one transaction with one executemany of three INSERTs (version n+1)."""
        return self._run(self._transactions(multi_stream_rows(prefix, accounts, count, first, _row)))

    def load_stream(self, name: str) -> tuple[float, int]:
        """R1."""
        return self._run(self._load_stream(name))

    async def _load_stream(self, name: str) -> tuple[float, int]:
        query = f"SELECT {COLUMNS} FROM events WHERE stream_id = $1 ORDER BY version"
        started = time.perf_counter()
        loaded = [_decoded(row) for row in await self.connection.fetch(query, name)]
        return time.perf_counter() - started, len(loaded)

    def read_log(self) -> tuple[float, int]:
        """M1: keyset pages of 1,000 rows, never more in memory."""
        seconds, count, _ = self._run(self._read_part(0, None))
        return seconds, count

    def read_log_part(self, after: int, count: int) -> tuple[float, int, int]:
        """R2: keyset pages of up to 1,000 rows."""
        return self._run(self._read_part(after, count))

    async def _read_part(self, after: int, count: int | None) -> tuple[float, int, int]:
        query = f"SELECT {COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2"
        fetch = self.connection.fetch
        read = 0
        started = time.perf_counter()
        while count is None or read < count:
            page = PAGE if count is None else min(PAGE, count - read)
            rows = await fetch(query, after, page)
            for row in rows:
                _decoded(row)
            read += len(rows)
            if len(rows) < page:
                break
            after = rows[-1][0]
        return time.perf_counter() - started, read, after

    def bulk_load(self, total: int, stream_length: int, prefix: str = "m1") -> None:
        """A read workload's events with one COPY (through psycopg: untimed)."""
        rows = bulk.event_rows(total, stream_length, prefix, sqlite=False)
        bulk.into_postgres(self.place, "events", BULK_COLUMNS, rows)

    def append_until(self, deadline: float, prefix: str, streams: int) -> int:
        """C1: autocommitted single-event INSERTs to this writer's own streams."""
        return self._run(self._append_until(deadline, prefix, streams))

    async def _append_until(self, deadline: float, prefix: str, streams: int) -> int:
        names = stream_names(prefix, streams)
        versions = [0] * streams
        data = [fields(index) for index in range(1000)]
        execute = self.connection.execute
        count = 0
        while time.time() < deadline:
            slot = count % streams
            versions[slot] += 1
            await execute(INSERT, *_row(names[slot], versions[slot], data[count % 1000]))
            count += 1
        return count

    def close(self) -> None:
        """Close the connection and the loop."""
        self._run(self.connection.close())
        self._runner.close()
