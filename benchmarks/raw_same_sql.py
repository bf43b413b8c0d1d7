"""The limit for eventledger's own SQL: asyncpg running the store's append statement by hand.

The issue's target for single-event writes is the fastest raw driver *doing the same SQL*. The
plain raw contenders insert into a lean table of their own (three indexes, no triggers, a plain
``INSERT ... VALUES``); eventledger's table also keeps each event's writing transaction id and
its index (what lets readers of the global log never skip an event), refuses UPDATE and DELETE
by trigger, and its append checks the expected version and returns the positions in the same
statement. This contender does exactly that SQL without the library: eventledger's schema
(created by opening a store once), the store's append statement for one event
(:data:`~eventledger.store.postgres_appends.APPEND_ONE_EXACT`) with ``$n`` placeholders, one
asyncpg connection, no pool, the JSON encoded with ``json.dumps`` and a fresh event id per event
inside the timed loop (the work eventledger does there too). The difference to eventledger is
then the library's own cost per append. It runs the single-event write workloads (W1, W2, C1)
on PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]

import eventledger as el
from benchmarks.contender import stream_names
from benchmarks.ledger import store_url
from benchmarks.payload import TYPE_NAME, fields
from benchmarks.places import Place
from eventledger.store.drivers.placeholders import to_numbered
from eventledger.store.postgres_appends import APPEND_ONE_EXACT

_T = TypeVar("_T")


class RawSameSQLContender:
    """asyncpg with eventledger's append statement on eventledger's table: single events only."""

    name = "raw-same-sql"

    def __init__(self, place: Place) -> None:
        self.place = place
        self._runner = asyncio.Runner()
        self.connection = self._run(self._connect(place))
        numbered = to_numbered(APPEND_ONE_EXACT.format(events=f'"{place.schema}".events'))
        self._append, self._names = numbered.text, numbered.names or ()

    @staticmethod
    async def _connect(place: Place) -> asyncpg.Connection:
        store = await el.open_store(store_url(place))  # eventledger's schema, created as it would be
        await store.close()
        return await asyncpg.connect(
            host=place.host, port=place.port, user=place.user, password=place.password or None,
            database=place.dbname,
        )

    def _run(self, work: Awaitable[_T]) -> _T:
        async def wrapped() -> _T:
            return await work

        return self._runner.run(wrapped())

    async def _insert(self, stream: str, expected: int, data: dict[str, Any]) -> None:
        values = {
            "stream": stream, "expected": expected, "event_id": uuid.uuid4(), "type": TYPE_NAME,
            "schema_version": 1, "data": json.dumps(data, separators=(",", ":")), "metadata": None,
        }
        rows = await self.connection.fetch(self._append, *[values[name] for name in self._names])
        if not rows:
            raise RuntimeError(f"stream {stream!r} is not at version {expected}")

    async def _appends(self, work: list[tuple[str, int]]) -> float:
        data = [fields(index) for index in range(len(work))]
        insert = self._insert
        started = time.perf_counter()
        for (name, expected), item in zip(work, data, strict=True):
            await insert(name, expected, item)
        return time.perf_counter() - started

    def new_streams(self, count: int, first: int = 0) -> float:
        """W1."""
        return self._run(self._appends([(name, 0) for name in stream_names("new", count, first)]))

    def seed(self, prefix: str, streams: int, events_each: int, batch: int = 0) -> None:
        """W2's streams, one event at a time (untimed)."""
        work = [(name, version) for name in stream_names(prefix, streams) for version in range(events_each)]
        self._run(self._appends(work))

    def append_exact(self, prefix: str, streams: int, count: int, current_version: int) -> float:
        """W2."""
        names = stream_names(prefix, streams)
        work = [(names[index % streams], current_version + index // streams) for index in range(count)]
        return self._run(self._appends(work))

    def append_until(self, deadline: float, prefix: str, streams: int) -> int:
        """C1."""
        return self._run(self._append_until(deadline, prefix, streams))

    async def _append_until(self, deadline: float, prefix: str, streams: int) -> int:
        names = stream_names(prefix, streams)
        versions = [0] * streams
        data = [fields(index) for index in range(1000)]
        count = 0
        while time.time() < deadline:
            slot = count % streams
            await self._insert(names[slot], versions[slot], data[count % 1000])
            versions[slot] += 1
            count += 1
        return count

    def _not_mine(self, *_: object) -> Any:
        raise NotImplementedError("raw-same-sql runs W1, W2 and C1 only")

    append_multi = seed_aggregates = update_aggregates = append_batches = _not_mine
    load_stream = read_log = read_log_part = bulk_load = _not_mine

    def close(self) -> None:
        """Close the connection and the loop."""
        self._run(self.connection.close())
        self._runner.close()
