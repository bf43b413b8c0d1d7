"""The one paging loop every read of the store goes through."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

from eventledger.events import RecordedEvent
from eventledger.store.records import RawEvent

_Row = TypeVar("_Row", RecordedEvent, RawEvent)


async def paged(
    fetch: Callable[[int | None, int], Awaitable[Sequence[_Row]]],
    first: int | None,
    limit: int | None,
    page_size: int,
    cursor_after: Callable[[_Row], int | None],
) -> AsyncIterator[_Row]:
    """The one paging loop of every read: pages of at most ``page_size`` from ``first`` on.

    ``fetch(cursor, size)`` reads one page; ``cursor_after(last row)`` is where the next page
    starts (None: nothing can follow). Stops at a short page or after ``limit`` rows, so a read
    never holds more than one page. A page is iterated once (a backend's page may decode its
    rows as they are reached, see :class:`~eventledger.store.rows.RowPage`).
    """
    remaining = limit
    cursor = first
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining)
        page = await fetch(cursor, size)
        last: _Row | None = None
        for last in page:
            yield last
        if last is None or len(page) < size:
            return
        if remaining is not None:
            remaining -= len(page)
        cursor = cursor_after(last)
        if cursor is None:
            return


def position_of(row: RecordedEvent | RawEvent) -> int:
    """Where a read of the global log continues after ``row``."""
    return row.position
