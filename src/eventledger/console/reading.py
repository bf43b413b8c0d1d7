"""What the console reads from a store, through the store's public API only.

Events are decoded into the application's classes (the console imports its ``--import``
modules first, as the ``eventledger`` command does). One that does not decode does not stop a
page: it is shown as an :class:`Undecodable` row naming its type and the error, and reading goes
on after it. The store has no lookup by event id, so :func:`find_event_by_id` scans the log
backwards from a position in windows, within a bound, and says so when the bound is reached.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Final

from eventledger.errors import StoredEventError
from eventledger.events import RecordedEvent
from eventledger.store import EventStore, StreamInfo

SCAN_WINDOW: Final = 2_000
"""Positions read per step of a backward scan for an event id."""
SCAN_LIMIT: Final = 200_000
"""Positions a scan for an event id reads at most before giving up (and saying so)."""


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A stored event today's classes cannot decode: where it is and why."""

    position: int | None
    stream_id: str | None
    type_name: str
    error: str


Row = RecordedEvent | Undecodable
"""One event row of a page."""


async def streams_page(
    store: EventStore, *, prefix: str = "", after: str | None = None, limit: int = 50
) -> list[StreamInfo]:
    """Up to ``limit`` streams whose id starts with ``prefix``, in id order, after the id ``after``.

    Stream ids are listed in order, so the ones with a prefix follow the prefix itself: listing
    starts just before it and stops at the first id without it.
    """
    start = after if after is not None and after >= prefix else None
    found: list[StreamInfo] = []
    if prefix and start is None:
        own = await stream_info(store, prefix)
        if own is not None:
            found.append(own)
        start = prefix
    while len(found) < limit:
        page = await store.list_streams(after=start, limit=limit)
        for info in page:
            if not info.stream_id.startswith(prefix):
                return found
            found.append(info)
            if len(found) == limit:
                return found
        if len(page) < limit:
            return found
        start = page[-1].stream_id
    return found


async def stream_info(store: EventStore, stream_id: str) -> StreamInfo | None:
    """One stream's version and last event time, or None when it has no events (the time is
    None when its last event does not decode)."""
    version = await store.stream_version(stream_id)
    if version == 0:
        return None
    try:
        async for recorded in store.read_stream(stream_id, backwards=True, limit=1):
            return StreamInfo(stream_id, version, recorded.recorded_at)
    except StoredEventError:
        pass
    return StreamInfo(stream_id, version, None)  # type: ignore[arg-type]


async def _rows(
    read: Callable[[int], AsyncIterator[RecordedEvent]],
    first: int,
    limit: int,
    step: Callable[[RecordedEvent | StoredEventError, int], int],
) -> list[Row]:
    """Read with ``read(start)``; on an undecodable event record it and read on from after it."""
    rows: list[Row] = []
    start = first
    while len(rows) < limit:
        try:
            async for recorded in read(start):
                rows.append(recorded)
                start = step(recorded, start)
                if len(rows) >= limit:
                    return rows
            return rows
        except StoredEventError as error:
            rows.append(Undecodable(error.position, error.stream_id, error.type_name, str(error)))
            start = step(error, start)
    return rows


async def stream_events(
    store: EventStore, stream_id: str, *, from_version: int = 1, limit: int = 100
) -> list[Row]:
    """A stream's events from ``from_version`` (versions are contiguous: an undecodable one is
    the version after the last that decoded)."""

    def read(start: int) -> AsyncIterator[RecordedEvent]:
        return store.read_stream(stream_id, from_version=start, limit=limit)

    def step(item: RecordedEvent | StoredEventError, start: int) -> int:
        return item.version + 1 if isinstance(item, RecordedEvent) else start + 1

    return await _rows(read, from_version, limit, step)


async def log_events(
    store: EventStore, *, after: int = 0, limit: int = 50, types: list[str] | None = None
) -> list[Row]:
    """The global log after position ``after``, optionally only events of ``types``."""

    def read(start: int) -> AsyncIterator[RecordedEvent]:
        return store.read_all(after=start, limit=limit, types=types or None)

    def step(item: RecordedEvent | StoredEventError, start: int) -> int:
        position = item.position
        return position if position is not None else start + 1

    return await _rows(read, after, limit, step)


async def log_tail(store: EventStore, *, limit: int = 50, types: list[str] | None = None) -> list[Row]:
    """The last ``limit`` events of the log (of ``types``, among the last positions scanned)."""
    head = await store.head_position()
    after = max(0, head - (limit if not types else SCAN_WINDOW))
    rows = await log_events(store, after=after, limit=SCAN_WINDOW, types=types)
    return rows[-limit:]


async def event_at(store: EventStore, position: int) -> Row | None:
    """The event at ``position``, or None when there is none."""
    rows = await log_events(store, after=max(position - 1, 0), limit=1)
    if rows and rows[0].position == position:
        return rows[0]
    return None


@dataclass(frozen=True, slots=True)
class Search:
    """What a scan for an event id found: the event, or how far it looked."""

    found: Row | None
    scanned_from: int
    scanned_to: int
    exhausted: bool
    """True when it reached the start of the log (else it stopped at :data:`SCAN_LIMIT`)."""


async def find_event_by_id(store: EventStore, event_id: str, *, before: int | None = None) -> Search:
    """The event with id ``event_id``, looked for backwards from position ``before`` (default the
    head) in windows of :data:`SCAN_WINDOW`, at most :data:`SCAN_LIMIT` positions."""
    top = before if before is not None else await store.head_position() + 1
    end = top - 1
    scanned = 0
    while end > 0 and scanned < SCAN_LIMIT:
        start = max(end - SCAN_WINDOW, 0)
        for row in await log_events(store, after=start, limit=end - start):
            if isinstance(row, RecordedEvent) and str(row.event_id) == event_id:
                return Search(row, start + 1, top - 1, start == 0)
        scanned += end - start
        end = start
    return Search(None, max(end, 0) + 1, top - 1, end <= 0)
