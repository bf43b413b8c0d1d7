"""Reading the log for a projection: reads that stop exactly at a bad event, and the live feed.

A batch read of the log fails as a whole when one of its events cannot be decoded (an unknown
type, data that no longer fits its class): the memory store decodes a page at once, the SQL
stores raise when the reader reaches the bad row. :func:`read_until_undecodable`
reads one event at a time instead, so that everything before the bad event can be applied
and the projection stops exactly at it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TypeGuard

from eventledger.errors import StoredEventError
from eventledger.events import RecordedEvent
from eventledger.store.base import EventStore


def is_decode_error(error: BaseException) -> TypeGuard[StoredEventError]:
    """Does ``error`` name a stored event that could not be read (``UnknownEventType`` and kin)?"""
    return isinstance(error, StoredEventError) and error.position is not None


async def read_until_undecodable(
    store: EventStore, after: int, limit: int
) -> tuple[list[RecordedEvent], Exception | None]:
    """Events after ``after`` one at a time, up to ``limit``; also the error that stopped the read.

    The error is None when the log ended (or ``limit`` was reached) first.
    """
    events: list[RecordedEvent] = []
    cursor = after
    while len(events) < limit:
        try:
            got = [recorded async for recorded in store.read_all(after=cursor, limit=1)]
        except Exception as error:
            return events, error
        if not got:
            break
        events.extend(got)
        cursor = got[-1].position
    return events, None


class LiveFeed:
    """``store.subscribe(after=...)`` pumped into a bounded queue, taken out in batches.

    A read error ends the feed: it arrives in the queue after the events before it.
    """

    def __init__(self, store: EventStore, after: int, capacity: int) -> None:
        self._queue: asyncio.Queue[RecordedEvent | Exception] = asyncio.Queue(maxsize=capacity)
        self._pump = asyncio.create_task(self._follow(store, after))

    async def _follow(self, store: EventStore, after: int) -> None:
        try:
            async for recorded in store.subscribe(after=after):
                await self._queue.put(recorded)
        except Exception as error:
            await self._queue.put(error)

    async def next(self) -> RecordedEvent | Exception:
        """The next event (or the error that ended the feed), waiting for it."""
        return await self._queue.get()

    def waiting(self, limit: int) -> list[RecordedEvent | Exception]:
        """Up to ``limit`` more items that are already here, without waiting."""
        items: list[RecordedEvent | Exception] = []
        while len(items) < limit:
            try:
                items.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return items

    def close(self) -> None:
        """Stop following."""
        self._pump.cancel()

    async def closed(self) -> None:
        """Wait until the pump has stopped."""
        self.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump
