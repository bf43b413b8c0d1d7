"""A reference, not a library: the raw SQL of raw_postgres.py through psycopg's *async* connection.

eventledger's PostgreSQL store is asyncio-native, and asyncio plus psycopg's async connection
cost client CPU per statement that a synchronous driver does not pay (an event-loop wake-up,
reader registration and a future per round trip). This contender shows that floor: the same
statements as the raw driver, one AsyncConnection, no pool, no library. It runs the
single-event write workloads (W1, W2, C1) on PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

import psycopg

from benchmarks.contender import SEED_BATCH, stream_names
from benchmarks.payload import fields
from benchmarks.places import Place
from benchmarks.raw_postgres import INSERT, SCHEMA, RawPostgresContender

_row = RawPostgresContender._row

_T = TypeVar("_T")


class RawPostgresAsyncContender:
    """psycopg 3's AsyncConnection on one schema: single-event appends only."""

    name = "raw-async"

    def __init__(self, place: Place) -> None:
        self.place = place
        self._runner = asyncio.Runner()
        self.connection_async = self._run(self._connect(place))

    @staticmethod
    async def _connect(place: Place) -> psycopg.AsyncConnection[tuple[object, ...]]:
        connection = await psycopg.AsyncConnection.connect(
            place.conninfo, autocommit=True, options=f"-c search_path={place.schema}"
        )
        await connection.execute(SCHEMA)
        return connection

    def _run(self, work: Awaitable[_T]) -> _T:
        async def wrapped() -> _T:
            return await work

        return self._runner.run(wrapped())

    def new_streams(self, count: int, first: int = 0) -> float:
        """W1."""
        return self._run(self._appends([(name, 1) for name in stream_names("new", count, first)]))

    def seed(self, prefix: str, streams: int, events_each: int, batch: int = SEED_BATCH) -> None:
        """Seed one event at a time (W2 seeds single-event streams)."""
        names = stream_names(prefix, streams)
        work = [(name, version) for name in names for version in range(1, events_each + 1)]
        self._run(self._appends(work))

    def append_exact(self, prefix: str, streams: int, count: int, current_version: int) -> float:
        """W2."""
        names = stream_names(prefix, streams)
        work = [(names[index % streams], current_version + index // streams + 1) for index in range(count)]
        return self._run(self._appends(work))

    async def _appends(self, work: list[tuple[str, int]]) -> float:
        data = [fields(index) for index in range(len(work))]
        cursor = self.connection_async.cursor()
        started = time.perf_counter()
        for (name, version), item in zip(work, data, strict=True):
            await cursor.execute(INSERT, _row(name, version, item))
        return time.perf_counter() - started

    def append_until(self, deadline: float, prefix: str, streams: int) -> int:
        """C1."""
        return self._run(self._append_until(deadline, prefix, streams))

    async def _append_until(self, deadline: float, prefix: str, streams: int) -> int:
        names = stream_names(prefix, streams)
        versions = [0] * streams
        data = [fields(index) for index in range(1000)]
        cursor = self.connection_async.cursor()
        count = 0
        while time.time() < deadline:
            slot = count % streams
            versions[slot] += 1
            await cursor.execute(INSERT, _row(names[slot], versions[slot], data[count % 1000]))
            count += 1
        return count

    def append_multi(self, prefix: str, accounts: int, count: int, first: int = 0) -> float:
        """Not a reference workload of this contender."""
        raise NotImplementedError("raw-async runs W1, W2 and C1 only")

    def seed_aggregates(self, prefix: str, streams: int, length: int) -> None:
        """Not a reference workload of this contender."""
        raise NotImplementedError("raw-async runs W1, W2 and C1 only")

    def update_aggregates(self, prefix: str, streams: int, count: int, first: int = 0) -> float:
        """Not a reference workload of this contender."""
        raise NotImplementedError("raw-async runs W1, W2 and C1 only")

    def append_batches(self, count: int, size: int, first: int = 0) -> float:
        """Not a reference workload of this contender."""
        raise NotImplementedError("raw-async runs W1, W2 and C1 only")

    def load_stream(self, name: str) -> tuple[float, int]:
        """Not a reference workload of this contender."""
        raise NotImplementedError("raw-async runs W1, W2 and C1 only")

    def read_log(self) -> tuple[float, int]:
        """Not a reference workload of this contender."""
        raise NotImplementedError("raw-async runs W1, W2 and C1 only")

    def read_log_part(self, after: int, count: int) -> tuple[float, int, int]:
        """Not a reference workload of this contender."""
        raise NotImplementedError("raw-async runs W1, W2 and C1 only")

    def bulk_load(self, total: int, stream_length: int, prefix: str = "m1") -> None:
        """Not a reference workload of this contender."""
        raise NotImplementedError("raw-async runs W1, W2 and C1 only")

    def close(self) -> None:
        """Close the connection and the loop."""
        self._run(self.connection_async.close())
        self._runner.close()
