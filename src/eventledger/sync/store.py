"""The synchronous event store: the async store's API, callable from threads that have no event loop.

>>> from eventledger.sync import open_store
>>> with open_store("sqlite:///orders.db") as store:                   # doctest: +SKIP
...     store.append("order-1", [OrderPlaced(order_id="1")], expected_version=NO_STREAM)
...     for recorded in store.read_stream("order-1"):
...         print(recorded.version, recorded.type)

Each synchronous store owns a private event loop in a daemon thread (a :class:`Portal`) and the
async :class:`~eventledger.store.base.EventStore` that lives on it; every method runs the async
method of the same name there and blocks until it is done. So the arguments, results, checks and
errors are exactly the async API's, and one store may be shared by every thread of a WSGI server
or a thread pool. Open it once per process: a process forked after ``open_store`` (a Celery
prefork worker) must open its own, and calls on the inherited one raise
:class:`~eventledger.errors.StoreClosed` (see :mod:`eventledger.sync.portal`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from eventledger.events import Event, RecordedEvent
from eventledger.store import open_store as open_async_store
from eventledger.store.appends import AppendRequest
from eventledger.store.base import EventStore as AsyncEventStore
from eventledger.store.base import ExpectedVersion, TypeFilter
from eventledger.store.records import AppendResult, Snapshot, StreamInfo, VisibilityStatus
from eventledger.sync.iterators import BridgedIterator
from eventledger.sync.portal import Portal


def open_store(url: str, **options: Any) -> EventStore:
    """Open the event store ``url`` names, for synchronous code (a context manager too).

    Takes the URLs and options of :func:`eventledger.open_store` and raises the same errors
    (:class:`~eventledger.errors.InvalidStoreURL`, :class:`~eventledger.StoreUnavailable`, ...).
    """
    portal = Portal("eventledger synchronous store")
    try:
        store = portal.call(_open(url, options))
    except BaseException:
        portal.stop()
        raise
    portal.name = f"synchronous {store!r}"
    return EventStore(store, portal)


async def _open(url: str, options: dict[str, Any]) -> AsyncEventStore:
    return await open_async_store(url, **options)


class EventStore:
    """An event store for synchronous code; every method is the async store's, blocking.

    Safe to share between threads. Iterators (:meth:`read_stream`, :meth:`read_all`,
    :meth:`subscribe`) read ahead up to ``buffer`` events; leaving one early (``break``) stops
    its read. ``async_store`` and ``portal`` are for what builds on it (the synchronous
    :class:`~eventledger.sync.Repository` and :class:`~eventledger.sync.ProjectionRunner`).
    """

    #: Events an iterator holds for its consumer at most.
    buffer: int = 1000

    def __init__(self, async_store: AsyncEventStore, portal: Portal) -> None:
        self.async_store = async_store
        self.portal = portal

    def __repr__(self) -> str:
        return f"sync.EventStore({self.async_store!r})"

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the async store and stop its loop thread. Idempotent.

        In a process forked after the store was opened, it only marks this copy closed: the
        connections belong to the parent, which keeps using them.
        """
        if self.portal.forked:
            self.portal.stop()
            return
        try:
            if not self.async_store.closed:
                self.portal.call(self.async_store.close())
        finally:
            self.portal.stop()

    @property
    def closed(self) -> bool:
        """True after :meth:`close` (and in a process forked after the store was opened)."""
        return self.async_store.closed or self.portal.forked

    # ----------------------------------------------------------------- writing

    def append(
        self,
        stream_id: str,
        events: Sequence[Event],
        *,
        expected_version: ExpectedVersion,
        metadata: Mapping[str, Any] | None = None,
    ) -> AppendResult:
        """Append ``events`` to ``stream_id`` atomically (see :meth:`AsyncEventStore.append`)."""
        return self.portal.call(
            self.async_store.append(stream_id, events, expected_version=expected_version, metadata=metadata)
        )

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        """Append to several streams in one commit (see :meth:`AsyncEventStore.append_many`)."""
        return self.portal.call(self.async_store.append_many(requests))

    # ----------------------------------------------------------------- reading

    def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        to_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
    ) -> BridgedIterator[RecordedEvent]:
        """A stream's events in version order (see :meth:`AsyncEventStore.read_stream`)."""
        return BridgedIterator(
            self.portal,
            lambda: self.async_store.read_stream(
                stream_id, from_version=from_version, to_version=to_version, limit=limit, backwards=backwards
            ),
            self.buffer,
        )

    def read_all(
        self, *, after: int = 0, limit: int | None = None, types: TypeFilter = None
    ) -> BridgedIterator[RecordedEvent]:
        """The global log after position ``after`` (see :meth:`AsyncEventStore.read_all`)."""
        return BridgedIterator(
            self.portal, lambda: self.async_store.read_all(after=after, limit=limit, types=types), self.buffer
        )

    def subscribe(self, *, after: int = 0, types: TypeFilter = None) -> BridgedIterator[RecordedEvent]:
        """Catch up after ``after``, then follow new events live; ends only when the caller stops.

        Each event is handed over as soon as the async subscription yields it. Stop with
        ``break`` or ``close()`` on the iterator (or by closing the store, which ends the
        iteration with :class:`~eventledger.errors.StoreClosed`).
        """
        return BridgedIterator(
            self.portal, lambda: self.async_store.subscribe(after=after, types=types), self.buffer
        )

    def stream_version(self, stream_id: str) -> int:
        """The stream's current version: 0 when it has no events."""
        return self.portal.call(self.async_store.stream_version(stream_id))

    def head_position(self) -> int:
        """The position of the last event a reader can see (0 for an empty store)."""
        return self.portal.call(self.async_store.head_position())

    def visibility_status(self) -> VisibilityStatus:
        """What has been committed against what readers can see (see the async store)."""
        return self.portal.call(self.async_store.visibility_status())

    def list_streams(self, *, after: str | None = None, limit: int = 100) -> list[StreamInfo]:
        """Streams ordered by id, starting after the id ``after`` (for paging)."""
        return self.portal.call(self.async_store.list_streams(after=after, limit=limit))

    # ----------------------------------------------------------------- snapshots

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store ``snapshot`` as the latest for its stream."""
        self.portal.call(self.async_store.save_snapshot(snapshot))

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of ``stream_id``, or None."""
        return self.portal.call(self.async_store.load_snapshot(stream_id))
