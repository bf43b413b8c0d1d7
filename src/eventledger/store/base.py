"""The event store contract every backend fulfils, and the behaviour they share.

A backend implements a handful of primitives (``_append``, ``_read_stream_page``,
``_read_all_page``, ``_read_all_raw_page``, ...), all abstract, so a backend that lacks one
cannot be instantiated. Everything users call (argument checks, encoding before any write,
paging, the catch-up-then-live subscription, telling observers of appends) lives here once, so
the backends cannot drift apart in behaviour; the conformance suite in ``tests/conformance``
holds them to it.

Where a backend needs to act inside that shared behaviour it supplies a hook, never its own
copy of a public method:

- :meth:`EventStore._read_own_writes_page`: a page of :meth:`~EventStore.read_all`, which must
  include this store's own committed appends (PostgreSQL reads again, briefly, while the
  visibility barrier it read below has not passed them);
- :meth:`EventStore._before_waiting`: when a subscriber has caught up and is about to sleep
  (PostgreSQL starts listening for other processes' notifications);
- :attr:`EventStore._resubscribe_on`: errors after which a subscription reconnects and resumes
  instead of ending (PostgreSQL: a lost connection); :attr:`EventStore._follow_quickly`: re-read
  soon after a read that found events (PostgreSQL, whose NOTIFYs are spaced during a burst).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, Final, Self

from eventledger.backoff import Backoff
from eventledger.errors import ConcurrencyError, InvalidArgument, StoreClosed
from eventledger.events import (
    EncodedEvent,
    Event,
    RecordedEvent,
    encode_events,
    encode_metadata,
)
from eventledger.store.appends import (
    AppendObserver,
    AppendObservers,
    AppendRequest,
    EncodedAppend,
    encode_requests,
    observed,
)
from eventledger.store.expected_version import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    ExpectedVersion,
    StreamState,
    check_expected_version,
    expected_version_matches,
)
from eventledger.store.following import CancellationWatch, Pause, Wakeups, sleep_until_woken
from eventledger.store.inline import InlineAppender
from eventledger.store.limits import check_batch, check_limit, check_position, check_stream_id
from eventledger.store.paging import paged, position_of
from eventledger.store.records import (
    AppendResult,
    RawEvent,
    Snapshot,
    StreamInfo,
    VisibilityStatus,
)
from eventledger.versioning import active_upcasters

logger: Final = logging.getLogger("eventledger.store")

__all__ = [  # the expected-version forms are part of the contract, so they are importable here too
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendObserver",
    "EventStore",
    "ExpectedVersion",
    "StreamState",
    "TypeFilter",
    "check_expected_version",
    "expected_version_matches",
    "type_names",
]


TypeFilter = Collection[type[Event] | str] | None
"""Event classes or stored type names to read; None reads every type."""


def type_names(types: TypeFilter) -> tuple[str, ...] | None:
    """Normalise a type filter to stored type names."""
    if types is None:
        return None
    names = []
    for item in types:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, type) and issubclass(item, Event):
            names.append(item.__event_type__)
        else:
            raise InvalidArgument(f"type filter items must be Event classes or type names, not {item!r}")
    # Events stored under a renamed type's old names decode to the class, so a filter matches them.
    upcasters = active_upcasters()
    return tuple(dict.fromkeys(alias for name in names for alias in (name, *upcasters.renamed_from(name))))


class EventStore(AppendObservers, ABC):
    """An append-only event store with optimistic concurrency.

    Open one with :func:`eventledger.open_store`. Stores are async context managers:

    >>> async def example() -> None:
    ...     async with open_store("memory://") as store:
    ...         await store.append("order-1", [OrderCreated(order_id="1")], expected_version=NO_STREAM)
    ...         async for recorded in store.read_stream("order-1"):
    ...             print(recorded.version, recorded.type)
    """

    #: How many rows one page of a read fetches; reads never hold more than one page.
    page_size: int = 1000
    #: Seconds between checks for events appended by other processes while subscribed.
    poll_interval: float = 0.05
    #: Errors after which a subscription reconnects and resumes after the last event it
    #: delivered, pausing longer each time (:attr:`_resubscribe_backoff`); none by default.
    _resubscribe_on: ClassVar[tuple[type[Exception], ...]] = ()
    _resubscribe_backoff: ClassVar[Backoff] = Backoff(first=0.05, maximum=2.0, jitter=0.5)
    _follow_quickly: ClassVar[bool] = False
    #: Writes every append instead of the backend, in a transaction that also applies the inline
    #: projections (:mod:`eventledger.projections.inline` sets it); None: plain appends.
    inline_appender: InlineAppender | None = None

    def __init__(self) -> None:
        self._closed = False
        self._wakeups = Wakeups()

    # ----------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the store's connections. Idempotent; later calls raise :class:`StoreClosed`."""
        if self._closed:
            return
        self._closed = True
        self._wake_subscribers()
        if self.inline_appender is not None:
            await self.inline_appender.close()
        await self._close()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"{self!r} is closed")

    # ----------------------------------------------------------------- writing

    async def append(
        self,
        stream_id: str,
        events: Sequence[Event],
        *,
        expected_version: ExpectedVersion,
        metadata: Mapping[str, Any] | None = None,
    ) -> AppendResult:
        """Append ``events`` to ``stream_id`` as one atomic batch.

        ``expected_version`` is the stream's version the caller decided on: an exact int
        (``0`` / :data:`NO_STREAM` for a new stream), :data:`ANY` or :data:`STREAM_EXISTS`.
        A mismatch raises :class:`ConcurrencyError` and writes nothing. Every event is encoded
        before anything is written, so an unserialisable event raises
        :class:`SerializationError` and writes nothing either. ``metadata`` (correlation and
        causation ids, user keys) is stored with every event of the batch.
        """
        self._check_open()
        check_stream_id(stream_id)
        expected = check_expected_version(stream_id, expected_version)
        encoded = encode_events(stream_id, check_batch(stream_id, events))
        encoded_metadata = encode_metadata(stream_id, metadata)
        if not encoded:
            # Nothing to write, but the caller still learns whether its decision was current.
            actual = await self.stream_version(stream_id)
            if not expected_version_matches(expected, actual):
                raise ConcurrencyError(stream_id, expected, actual)
            return AppendResult(stream_id, actual, ())
        observers = self._append_observers
        if self.inline_appender is not None:  # inline projections run in the append's transaction
            request = EncodedAppend(stream_id, encoded, expected, encoded_metadata)
            result = (await observed(observers, self.inline_appender.append([request])))[0]
        elif not observers:  # the common case costs one attribute read
            result = await self._append(stream_id, encoded, expected, encoded_metadata)
        else:
            result = await observed(observers, self._append(stream_id, encoded, expected, encoded_metadata))
        if result.positions:
            self._wake_subscribers()
        return result

    async def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        """Append to several streams in one atomic commit: all of it, or nothing.

        Each :class:`AppendRequest` takes every expected-version form. If any stream's expected
        version does not hold, nothing is written and :class:`ConcurrencyError` names that
        stream (every such stream: ``error.conflicts``). A stream may appear in one request
        only. Readers of the global log and subscribers see the whole append at once, as one
        commit. Returns one :class:`AppendResult` per request, in order.

        >>> async def transfer(store: EventStore) -> None:
        ...     await store.append_many([
        ...         AppendRequest("account-1", [Debited(amount=10)], expected_version=3),
        ...         AppendRequest("account-2", [Credited(amount=10)], expected_version=ANY),
        ...     ])
        """
        self._check_open()
        encoded = encode_requests(requests)
        if not encoded:
            return []
        observers = self._append_observers
        append = self._append_many if self.inline_appender is None else self.inline_appender.append
        if not observers or not any(request.events for request in encoded):
            # Versions checked and nothing to write: like an empty append, not an append to tell.
            results = await append(encoded)
        else:
            results = await observed(observers, append(encoded))
        if any(result.positions for result in results):
            self._wake_subscribers()
        return results

    @abstractmethod
    async def _append_many(self, requests: list[EncodedAppend]) -> list[AppendResult]:
        """Write every request in one transaction, or raise ConcurrencyError naming every stream
        whose expected version did not hold, having written nothing. Requests may be empty
        (a version check only); there is at least one request, each for a different stream."""

    @abstractmethod
    async def _append(
        self,
        stream_id: str,
        events: list[EncodedEvent],
        expected: ExpectedVersion,
        metadata: str | None,
    ) -> AppendResult:
        """Write the (non-empty) batch atomically or raise ConcurrencyError having written nothing."""

    # ----------------------------------------------------------------- reading

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        to_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
    ) -> AsyncIterator[RecordedEvent]:
        """Yield a stream's events in version order (or reverse order with ``backwards``).

        ``from_version`` is where to start, inclusive: by default version 1 going forwards,
        the last version going backwards. ``to_version`` is the last version to read,
        inclusive, in either direction: the stream as it was at that version (going
        backwards, reading starts there unless ``from_version`` is lower). Going forwards,
        a ``to_version`` below ``from_version`` is refused. A stream with no events yields
        nothing.

        >>> async def as_it_was(store: EventStore) -> list[RecordedEvent]:
        ...     return [recorded async for recorded in store.read_stream("order-1", to_version=3)]
        """
        self._check_open()
        check_stream_id(stream_id)
        check_limit(limit)
        check_position("from_version", from_version, allow_none=True)
        check_position("to_version", to_version, allow_none=True)
        if backwards:
            first = from_version
            if to_version is not None and (first is None or to_version < first):
                first = to_version
        else:
            first = max(from_version or 1, 1)
            if to_version is not None:
                if from_version is not None and to_version < from_version:
                    raise InvalidArgument(
                        f"stream {stream_id!r}: to_version {to_version} is below from_version "
                        f"{from_version}; reading forwards, the range would be empty"
                    )
                # Versions are dense (1..n), so the range is exactly this many events: the
                # backend reads no further than to_version.
                span = max(to_version - first + 1, 0)
                limit = span if limit is None else min(limit, span)

        async def page(start: int | None, size: int) -> Sequence[RecordedEvent]:
            return await self._read_stream_page(stream_id, start, size, backwards)

        def after_page(last: RecordedEvent) -> int | None:
            if backwards:
                return last.version - 1 if last.version > 1 else None
            return last.version + 1

        async for recorded in paged(page, first, limit, self.page_size, after_page):
            if to_version is not None and recorded.version > to_version:
                return  # only a stream with a gap in its versions (rows written by hand) gets here
            yield recorded

    @abstractmethod
    async def _read_stream_page(
        self, stream_id: str, start: int | None, limit: int, backwards: bool
    ) -> Sequence[RecordedEvent]:
        """Up to ``limit`` events from version ``start`` inclusive (None = the last version)."""

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        types: TypeFilter = None,
    ) -> AsyncIterator[RecordedEvent]:
        """Yield the global log after position ``after``, each committed event exactly once.

        ``after`` is the position of the last event a reader has seen (0 for the start);
        ``types`` keeps only the given event classes or type names.
        """
        self._check_open()
        check_limit(limit)
        check_position("after", after)
        names = type_names(types)

        async def page(cursor: int | None, size: int) -> Sequence[RecordedEvent]:
            return await self._read_own_writes_page(cursor or 0, size, names)

        async for recorded in paged(page, after, limit, self.page_size, position_of):
            yield recorded

    async def _read_own_writes_page(
        self, after: int, limit: int, types: tuple[str, ...] | None
    ) -> Sequence[RecordedEvent]:
        """Hook: a page of :meth:`read_all`, which must include this store's own committed appends.

        Where every committed event is readable at once (the default) that is any page.
        Subscribers read with :meth:`_read_all_page` and simply meet such events later.
        """
        return await self._read_all_page(after, limit, types)

    @abstractmethod
    async def _read_all_page(
        self, after: int, limit: int, types: tuple[str, ...] | None
    ) -> Sequence[RecordedEvent]:
        """Up to ``limit`` events after ``after`` in global order."""

    async def read_all_raw(self, *, after: int = 0, limit: int | None = None) -> AsyncIterator[RawEvent]:
        """Yield the global log's rows undecoded, so a check can see every row without raising.

        Used by :func:`eventledger.check_store`; applications read with :meth:`read_all`.
        """
        self._check_open()
        check_limit(limit)
        check_position("after", after)

        async def page(cursor: int | None, size: int) -> list[RawEvent]:
            return await self._read_all_raw_page(cursor or 0, size)

        async for row in paged(page, after, limit, self.page_size, position_of):
            yield row

    @abstractmethod
    async def _read_all_raw_page(self, after: int, limit: int) -> list[RawEvent]:
        """Up to ``limit`` undecoded rows after ``after`` in position order (no decoding, so
        a row nothing can decode is still returned)."""

    async def stream_version(self, stream_id: str) -> int:
        """The stream's current version: 0 when it has no events."""
        self._check_open()
        return await self._stream_version(check_stream_id(stream_id))

    @abstractmethod
    async def _stream_version(self, stream_id: str) -> int:
        """The stream's current version: 0 when it has no events."""

    @abstractmethod
    async def head_position(self) -> int:
        """The position of the last event a reader can see (0 for an empty store)."""

    async def visibility_status(self) -> VisibilityStatus:
        """What has been committed against what readers can see, and what holds them back.

        Lag is measured against :attr:`VisibilityStatus.written_position`, so events that are
        committed but not yet visible to readers count as lag.
        """
        self._check_open()
        head = await self.head_position()
        return VisibilityStatus(head, head, 0, None, None)

    async def list_streams(self, *, after: str | None = None, limit: int = 100) -> list[StreamInfo]:
        """Streams ordered by id, starting after the id ``after`` (for paging)."""
        self._check_open()
        if after is not None and not isinstance(after, str):
            raise InvalidArgument(f"after must be a stream id (str) or None, not {after!r}")
        if check_limit(limit) is None:
            raise InvalidArgument("list_streams needs a limit (an int >= 0)")
        return await self._list_streams(after or "", limit)

    @abstractmethod
    async def _list_streams(self, after: str, limit: int) -> list[StreamInfo]:
        """Up to ``limit`` streams with ids above ``after``, ordered by id."""

    # ----------------------------------------------------------------- following

    async def subscribe(self, *, after: int = 0, types: TypeFilter = None) -> AsyncIterator[RecordedEvent]:
        """Catch up on the global log after ``after``, then follow new events live.

        Runs until the consumer stops iterating or the task is cancelled. Appends in this
        process wake the subscriber at once; appends by other processes are noticed within
        :attr:`poll_interval` seconds (sooner where the backend is told of them, as PostgreSQL
        is by NOTIFY). Where a backend's connection can be lost, the subscription reconnects,
        pausing longer each time the server stays away, and resumes after the last event it
        delivered.
        """
        check_position("after", after)
        names = type_names(types)
        position = after
        cancellation = CancellationWatch()
        pause = Pause(self.poll_interval, follow=self._follow_quickly)

        async def page(cursor: int | None, size: int) -> Sequence[RecordedEvent]:
            attempt = 0
            while True:
                self._check_open()
                cancellation.check()
                try:
                    found = await self._read_all_page(cursor or 0, size, names)
                except self._resubscribe_on as error:
                    attempt += 1
                    delay = self._resubscribe_backoff.delay(attempt)
                    logger.warning("eventledger: subscriber retrying in %.2fs: %s", delay, error)
                    await asyncio.sleep(delay)
                    continue
                cancellation.check()
                return found

        while True:
            self._check_open()
            waiter = self._wakeups.register()
            try:
                delivered = False
                async for recorded in paged(page, position, None, self.page_size, position_of):
                    position = recorded.position
                    delivered = True
                    yield recorded
                pause.after_read(found_events=delivered)
                self._before_waiting()
                pause.after_wait(woken=await sleep_until_woken(waiter, pause.seconds))
            finally:
                self._wakeups.forget(waiter)

    def _before_waiting(self) -> None:
        """Hook: a subscriber has caught up and is about to sleep (nothing to do by default)."""

    def _wake_subscribers(self) -> None:
        """Wake every waiting subscriber of this store, to re-read the global log now."""
        self._wakeups.wake_all()

    # ----------------------------------------------------------------- snapshots

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store ``snapshot`` as the latest for its stream (an older one never replaces a newer)."""
        self._check_open()
        check_stream_id(snapshot.stream_id)
        if check_position("snapshot version", snapshot.version) == 0:
            raise InvalidArgument(f"stream {snapshot.stream_id!r}: a snapshot's version is at least 1, not 0")
        await self._save_snapshot(snapshot)

    @abstractmethod
    async def _save_snapshot(self, snapshot: Snapshot) -> None:
        """Store ``snapshot`` unless a newer one of the stream is already stored."""

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of ``stream_id``, or None.

        The snapshot is returned as stored; a loader must check it against the stream (see
        :mod:`eventledger.domain.snapshots`), because a snapshot is only ever an optimisation.
        """
        self._check_open()
        return await self._load_snapshot(check_stream_id(stream_id))

    @abstractmethod
    async def _load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The stored snapshot of ``stream_id``, or None."""

    @abstractmethod
    async def _close(self) -> None:
        """Release backend resources."""
