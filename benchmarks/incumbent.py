"""The incumbent, the `eventsourcing` library, as a contender, used the way its documentation shows.

We give it the most favourable fair usage we found:

- Its ``Application`` is configured by environment settings (``PERSISTENCE_MODULE``,
  ``SQLITE_DBNAME``, ``POSTGRES_*``), and the benchmark then talks to the application's
  **event store** (``app.events.put`` / ``app.events.get``, its documented persistence layer), not
  to aggregates through ``app.save`` and ``app.repository``: the event store is the layer that
  matches eventledger's ``append`` / ``read_stream``, and it skips the aggregate bookkeeping.
- The global log is read with its recorder's ``select_notifications`` in pages of 1,000 (the
  application's ``notification_log`` caps pages at 10) and each notification is decoded by the
  application's mapper, as its notification log readers do.
- Stream ids are UUIDs, its default and fastest id type.
- On SQLite its connections get the place's synchronous mode, the one eventledger and the raw
  driver use in the same run (FULL by default, eventledger's own default; see
  :mod:`benchmarks.raw_sqlite`), so the comparison is one of code, not of durability settings.
  The library would leave SQLite's default, FULL, and the mode travels to it as one more
  environment setting, ``SQLITE_SYNCHRONOUS``, read by a small subclass of its own
  ``SQLiteFactory``, named in ``PERSISTENCE_MODULE`` the way the library resolves factories.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.domain import event as event_method
from eventsourcing.sqlite import SQLiteConnection, SQLiteFactory

from benchmarks import bulk
from benchmarks.contender import SEED_BATCH, pair_of, stream_names
from benchmarks.payload import fields
from benchmarks.places import Place

_NAMESPACE = uuid.UUID("6f1c1d0e-8a9b-4c3d-9e2f-5a6b7c8d9e0f")


class ItemAdded(DomainEvent):
    """The benchmark event as an `eventsourcing` domain event (a frozen dataclass)."""

    order_id: str
    sku: str
    quantity: int
    unit_price: str
    note: str


class BenchOrder(Aggregate):
    """W2c's aggregate as the incumbent writes one: events declared by ``@event`` methods."""

    def __init__(self, name: str) -> None:
        self.items = 0
        self.quantity = 0

    @staticmethod
    def create_id(name: str) -> uuid.UUID:
        """The stream's UUID from its name, as :func:`stream_id` makes it."""
        return stream_id(name)

    @event_method("ItemAdded")
    def add_item(self, order_id: str, sku: str, quantity: int, unit_price: str, note: str) -> None:
        """Add an item (the method body applies the event)."""
        self.items += 1
        self.quantity += quantity


class BenchApplication(Application[uuid.UUID]):
    """A plain application: the benchmark uses its event store, mapper and recorder."""


class SynchronousSQLiteFactory(SQLiteFactory):
    """The library's SQLite factory, with the run's synchronous mode on every connection."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        mode = env.get("SQLITE_SYNCHRONOUS")
        if mode not in ("FULL", "NORMAL"):
            raise ValueError(f"SQLITE_SYNCHRONOUS must be FULL or NORMAL, not {mode!r}")
        pool = self.datastore.pool
        create: Callable[[], SQLiteConnection] = pool._create_connection

        def create_with_the_runs_mode() -> SQLiteConnection:
            connection = create()
            connection._sqlite_conn.execute(f"PRAGMA synchronous = {mode}")
            return connection

        pool._create_connection = create_with_the_runs_mode  # type: ignore[method-assign]


def environment(place: Place) -> dict[str, str]:
    """The application's environment settings for a place."""
    if place.backend == "sqlite":
        return {
            "PERSISTENCE_MODULE": f"{__name__}:SynchronousSQLiteFactory",
            "SQLITE_DBNAME": place.path,
            "SQLITE_SYNCHRONOUS": place.synchronous.upper(),
        }
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": place.dbname,
        "POSTGRES_HOST": place.host,
        "POSTGRES_PORT": str(place.port),
        "POSTGRES_USER": place.user,
        "POSTGRES_PASSWORD": place.password,
        "POSTGRES_SCHEMA": place.schema,
    }


def stream_id(name: str) -> uuid.UUID:
    """The UUID standing for a stream name."""
    return uuid.uuid5(_NAMESPACE, name)


def _event(originator: uuid.UUID, version: int, index: int, now: datetime) -> ItemAdded:
    return ItemAdded(originator_id=originator, originator_version=version, timestamp=now, **fields(index))


class IncumbentContender:
    """`eventsourcing` on one place."""

    name = "eventsourcing"

    def __init__(self, place: Place, *, create_tables: bool = True) -> None:
        self.place = place
        settings = environment(place)
        if not create_tables:
            settings["CREATE_TABLE"] = "false"
        self.app = BenchApplication(env=settings)

    def new_streams(self, count: int, first: int = 0) -> float:
        """W1: one ``put`` of one event per new stream."""
        now = ItemAdded.create_timestamp()
        events = [_event(stream_id(name), 1, index, now) for index, name in
                  enumerate(stream_names("new", count, first))]
        put = self.app.events.put
        started = time.perf_counter()
        for event in events:
            put([event])
        return time.perf_counter() - started

    def seed(self, prefix: str, streams: int, events_each: int, batch: int = SEED_BATCH) -> None:
        """Seed through ``app.events.put``, ``batch`` events at a time."""
        now = ItemAdded.create_timestamp()
        for name in stream_names(prefix, streams):
            originator = stream_id(name)
            for first in range(0, events_each, batch):
                size = min(batch, events_each - first)
                self.app.events.put(
                    [_event(originator, first + index + 1, first + index, now) for index in range(size)]
                )

    def append_exact(self, prefix: str, streams: int, count: int, current_version: int) -> float:
        """W2: the event's originator_version is the expected version + 1; the library's unique
        key refuses a stale writer."""
        originators = [stream_id(name) for name in stream_names(prefix, streams)]
        now = ItemAdded.create_timestamp()
        events = [
            _event(originators[index % streams], current_version + index // streams + 1, index, now)
            for index in range(count)
        ]
        put = self.app.events.put
        started = time.perf_counter()
        for event in events:
            put([event])
        return time.perf_counter() - started

    def seed_aggregates(self, prefix: str, streams: int, length: int) -> None:
        """W2c's orders through ``app.save``: a created event and ``length - 1`` items (the
        incumbent's aggregates start with an event of their own)."""
        for name in stream_names(prefix, streams):
            order = BenchOrder(name)
            for index in range(length - 1):
                order.add_item(**fields(index))
            self.app.save(order)

    def update_aggregates(self, prefix: str, streams: int, count: int, first: int = 0) -> float:
        """W2c: ``app.repository.get``, a command method, ``app.save`` (its optimistic check is
        the unique key on the next version)."""
        originators = [stream_id(name) for name in stream_names(prefix, streams)]
        data = [fields(number) for number in range(first, first + count)]
        get, save = self.app.repository.get, self.app.save
        started = time.perf_counter()
        for number, item in enumerate(data, first):
            order: BenchOrder = get(originators[number % streams])
            order.add_item(**item)
            save(order)
        return time.perf_counter() - started

    def append_batches(self, count: int, size: int, first: int = 0) -> float:
        """W3: one ``put`` of ``size`` events per new stream."""
        now = ItemAdded.create_timestamp()
        batches = []
        for index, name in enumerate(stream_names("batch", count, first)):
            originator = stream_id(name)
            batches.append(
                [_event(originator, offset + 1, index * size + offset, now) for offset in range(size)]
            )
        put = self.app.events.put
        started = time.perf_counter()
        for events in batches:
            put(events)
        return time.perf_counter() - started

    def append_multi(self, prefix: str, accounts: int, count: int, first: int = 0) -> float:
        """W4: one ``put`` of three events of three originators, which its recorder writes in one
        transaction (what ``app.save(a, b, c)`` does with three aggregates' pending events,
        without the aggregate bookkeeping); each event's originator_version is the expected
        version + 1, and the library's unique key refuses a stale writer."""
        now = ItemAdded.create_timestamp()
        batches = []
        for number in range(first, first + count):
            debit, credit, version = pair_of(prefix, accounts, number)
            base = 3 * number
            batches.append([
                _event(stream_id(debit), version + 1, base, now),
                _event(stream_id(credit), version + 1, base + 1, now),
                _event(stream_id(f"{prefix}-new-{number}"), 1, base + 2, now),
            ])
        put = self.app.events.put
        started = time.perf_counter()
        for events in batches:
            put(events)
        return time.perf_counter() - started

    def load_stream(self, name: str) -> tuple[float, int]:
        """R1: ``list(app.events.get(id))``."""
        originator = stream_id(name)
        started = time.perf_counter()
        loaded = list(self.app.events.get(originator))
        return time.perf_counter() - started, len(loaded)

    def read_log(self) -> tuple[float, int]:
        """R2 and M1: notifications in pages of 1,000, each decoded by the mapper."""
        select = self.app.recorder.select_notifications
        decode = self.app.mapper.to_domain_event
        count = 0
        start = 1
        started = time.perf_counter()
        while True:
            page = select(start=start, limit=1000)
            for notification in page:
                decode(notification)
            count += len(page)
            if len(page) < 1000:
                break
            start = page[-1].id + 1
        return time.perf_counter() - started, count

    def read_log_part(self, after: int, count: int) -> tuple[float, int, int]:
        """R2: notifications after id ``after`` in pages of up to 1,000, each decoded."""
        select = self.app.recorder.select_notifications
        decode = self.app.mapper.to_domain_event
        read = 0
        started = time.perf_counter()
        while read < count:
            page = select(start=after + 1, limit=min(1000, count - read))
            for notification in page:
                decode(notification)
            read += len(page)
            if not page:
                break
            after = page[-1].id
        return time.perf_counter() - started, read, after

    def bulk_load(self, total: int, stream_length: int, prefix: str = "m1") -> None:
        """A read workload's events in bulk into its ``stored_events`` table, each state encoded
        by its mapper with a timestamp of its own."""
        encode = self.app.mapper.to_stored_event
        topic = encode(_event(_NAMESPACE, 1, 0, ItemAdded.create_timestamp())).topic
        originators = [stream_id(name) for name in stream_names(prefix, -(-total // stream_length))]
        sqlite = self.place.backend == "sqlite"

        def rows() -> Iterator[tuple[Any, ...]]:
            for index, moment in enumerate(bulk.recorded_times(total)):
                stream, offset = divmod(index, stream_length)
                originator = originators[stream]
                state = encode(_event(originator, offset + 1, index, moment)).state
                yield (originator.hex if sqlite else originator, offset + 1, topic, state)

        if sqlite:
            statement = (
                "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
                "VALUES (?, ?, ?, ?)"
            )
            bulk.into_sqlite(self.place.path, statement, rows())
        else:
            columns = ("originator_id", "originator_version", "topic", "state")
            table = self.app.recorder.events_table_name  # type: ignore[attr-defined]
            bulk.into_postgres(self.place, table, columns, rows())

    def append_until(self, deadline: float, prefix: str, streams: int) -> int:
        """C1: single-event puts to this writer's own streams."""
        originators = [stream_id(name) for name in stream_names(prefix, streams)]
        versions = [0] * streams
        now = ItemAdded.create_timestamp()
        put = self.app.events.put
        count = 0
        while time.time() < deadline:
            slot = count % streams
            versions[slot] += 1
            put([_event(originators[slot], versions[slot], count, now)])
            count += 1
        return count

    def close(self) -> None:
        """Close the application's connections."""
        self.app.close()
