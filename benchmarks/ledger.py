"""eventledger as a contender: its public API only, on a store opened from a URL.

The store is async, so the contender keeps one event loop for its whole life (a PostgreSQL
store's connections belong to the loop that opened them) and times each workload inside it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from functools import partial
from typing import TypeVar
from urllib.parse import quote

import eventledger as el
from benchmarks import bulk
from benchmarks.contender import SEED_BATCH, pair_of, stream_names
from benchmarks.payload import BenchOrder, ledger_events
from benchmarks.places import Place
from benchmarks.raw_postgres import BULK_COLUMNS
from benchmarks.raw_sqlite import BULK_INSERT

_T = TypeVar("_T")


def store_url(place: Place) -> str:
    """The eventledger URL of a place."""
    if place.backend == "sqlite":
        # An absolute path gives the four-slash form, sqlite:////tmp/x.db. The synchronous mode
        # is named even when it is the default, so every contender's mode is the place's.
        return f"sqlite:///{place.path}?synchronous={place.synchronous}"
    credentials = place.user if not place.password else f"{place.user}:{quote(place.password)}"
    return (
        f"postgresql://{credentials}@{place.host}:{place.port}/{place.dbname}"
        f"?schema={place.schema}"
    )


class LedgerContender:
    """eventledger on one place."""

    name = "eventledger"

    def __init__(self, place: Place) -> None:
        self.place = place
        self._runner = asyncio.Runner()
        self.store: el.EventStore = self._run(self._open(store_url(place)))

    @staticmethod
    async def _open(url: str) -> el.EventStore:
        return await el.open_store(url)

    def _run(self, work: Awaitable[_T]) -> _T:
        async def wrapped() -> _T:
            return await work

        return self._runner.run(wrapped())

    def new_streams(self, count: int, first: int = 0) -> float:
        """W1."""
        return self._run(self._new_streams(count, first))

    async def _new_streams(self, count: int, first: int = 0) -> float:
        names = stream_names("new", count, first)
        events = ledger_events(count)
        append = self.store.append
        started = time.perf_counter()
        for name, event in zip(names, events, strict=True):
            await append(name, [event], expected_version=el.NO_STREAM)
        return time.perf_counter() - started

    def seed(self, prefix: str, streams: int, events_each: int, batch: int = SEED_BATCH) -> None:
        """Seed through the public append, ``batch`` events at a time."""
        self._run(self._seed(prefix, streams, events_each, batch))

    async def _seed(self, prefix: str, streams: int, events_each: int, batch: int) -> None:
        for name in stream_names(prefix, streams):
            version = 0
            while version < events_each:
                size = min(batch, events_each - version)
                result = await self.store.append(
                    name, ledger_events(size, version), expected_version=version
                )
                version = result.version

    def append_exact(self, prefix: str, streams: int, count: int, current_version: int) -> float:
        """W2."""
        return self._run(self._append_exact(prefix, streams, count, current_version))

    async def _append_exact(self, prefix: str, streams: int, count: int, current_version: int) -> float:
        names = stream_names(prefix, streams)
        versions = [current_version] * streams
        events = ledger_events(count)
        append = self.store.append
        started = time.perf_counter()
        for index, event in enumerate(events):
            slot = index % streams
            result = await append(names[slot], [event], expected_version=versions[slot])
            versions[slot] = result.version
        return time.perf_counter() - started

    def seed_aggregates(self, prefix: str, streams: int, length: int) -> None:
        """W2c's orders through ``Repository.save``."""
        self._run(self._seed_aggregates(prefix, streams, length))

    async def _seed_aggregates(self, prefix: str, streams: int, length: int) -> None:
        orders = el.Repository(self.store, BenchOrder)
        for name in stream_names(prefix, streams):
            order = BenchOrder.new(name)
            for index in range(length):
                order.add_item(index)
            await orders.save(order)

    def update_aggregates(self, prefix: str, streams: int, count: int, first: int = 0) -> float:
        """W2c: ``Repository.update`` (load, decide, save expecting the loaded version)."""
        return self._run(self._update_aggregates(prefix, streams, count, first))

    async def _update_aggregates(self, prefix: str, streams: int, count: int, first: int) -> float:
        names = stream_names(prefix, streams)
        update = el.Repository(self.store, BenchOrder).update
        started = time.perf_counter()
        for number in range(first, first + count):
            await update(names[number % streams], partial(BenchOrder.add_item, index=number))
        return time.perf_counter() - started

    def append_batches(self, count: int, size: int, first: int = 0) -> float:
        """W3."""
        return self._run(self._append_batches(count, size, first))

    async def _append_batches(self, count: int, size: int, first: int = 0) -> float:
        names = stream_names("batch", count, first)
        batches = [ledger_events(size, index * size) for index in range(count)]
        append = self.store.append
        started = time.perf_counter()
        for name, events in zip(names, batches, strict=True):
            await append(name, events, expected_version=el.NO_STREAM)
        return time.perf_counter() - started

    def append_multi(self, prefix: str, accounts: int, count: int, first: int = 0) -> float:
        """W4: ``append_many`` of three requests."""
        return self._run(self._append_multi(prefix, accounts, count, first))

    async def _append_multi(self, prefix: str, accounts: int, count: int, first: int) -> float:
        calls = []
        events = ledger_events(3 * count, 3 * first)
        for index, number in enumerate(range(first, first + count)):
            debit, credit, version = pair_of(prefix, accounts, number)
            new = f"{prefix}-new-{number}"
            calls.append([
                el.AppendRequest(debit, [events[3 * index]], expected_version=version),
                el.AppendRequest(credit, [events[3 * index + 1]], expected_version=version),
                el.AppendRequest(new, [events[3 * index + 2]], expected_version=el.NO_STREAM),
            ])
        append_many = self.store.append_many
        started = time.perf_counter()
        for requests in calls:
            await append_many(requests)
        return time.perf_counter() - started

    def load_stream(self, name: str) -> tuple[float, int]:
        """R1."""
        return self._run(self._load_stream(name))

    async def _load_stream(self, name: str) -> tuple[float, int]:
        started = time.perf_counter()
        loaded = [recorded async for recorded in self.store.read_stream(name)]
        return time.perf_counter() - started, len(loaded)

    def read_log(self) -> tuple[float, int]:
        """R2 and M1."""
        return self._run(self._read_log())

    async def _read_log(self) -> tuple[float, int]:
        count = 0
        started = time.perf_counter()
        async for _recorded in self.store.read_all():
            count += 1
        return time.perf_counter() - started, count

    def read_log_part(self, after: int, count: int) -> tuple[float, int, int]:
        """R2: ``read_all(after=..., limit=...)``."""
        return self._run(self._read_log_part(after, count))

    async def _read_log_part(self, after: int, count: int) -> tuple[float, int, int]:
        read = 0
        started = time.perf_counter()
        async for recorded in self.store.read_all(after=after, limit=count):
            after = recorded.position
            read += 1
        return time.perf_counter() - started, read, after

    def bulk_load(self, total: int, stream_length: int, prefix: str = "m1") -> None:
        """A read workload's events in bulk, into the table the store created (the raw layout is
        its own)."""
        rows = bulk.event_rows(total, stream_length, prefix, sqlite=self.place.backend == "sqlite")
        if self.place.backend == "sqlite":
            bulk.into_sqlite(self.place.path, BULK_INSERT, rows)
        else:
            bulk.into_postgres(self.place, "events", BULK_COLUMNS, rows)

    def append_until(self, deadline: float, prefix: str, streams: int) -> int:
        """C1."""
        return self._run(self._append_until(deadline, prefix, streams))

    async def _append_until(self, deadline: float, prefix: str, streams: int) -> int:
        names = stream_names(prefix, streams)
        versions = [0] * streams
        events = ledger_events(1000)
        append = self.store.append
        count = 0
        while time.time() < deadline:
            slot = count % streams
            result = await append(names[slot], [events[count % 1000]], expected_version=versions[slot])
            versions[slot] = result.version
            count += 1
        return count

    def close(self) -> None:
        """Close the store and the loop."""
        self._run(self.store.close())
        self._runner.close()
