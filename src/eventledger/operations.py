"""What an operator reads about a running system, from any process: the stored status of a set
of projections, and the schema version of a store.

The ``eventledger`` command, the demo and an operator console read through these functions
rather than each reaching into targets and stores on its own. They only read.

>>> async def report(store: EventStore, projections: list[Projection[Any]]) -> None:
...     for status in await stored_statuses(store, projections):
...         print(status.name, status.state, status.checkpoint, status.lag_events)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventledger.projections import Projection, StoredStatus, stored_status
from eventledger.projections.segments import segments_of
from eventledger.store import EventStore


async def stored_statuses(store: EventStore, projections: Sequence[Projection[Any]]) -> list[StoredStatus]:
    """Each projection's status (each segment's, for a projection with segments) from its target's
    bookkeeping, with lag measured now.

    One reading of the store's visibility serves them all, so their lags are measured against
    the same head.
    """
    visibility = await store.visibility_status()
    return [
        await stored_status(store, projection, visibility=visibility, segment=segment)
        for projection in projections
        for segment in segments_of(projection.segments)
    ]


async def schema_version(store: EventStore) -> int | None:
    """The store's schema version (``store_schema_version`` of its tables), or None for a store
    without a schema (memory)."""
    reader = getattr(store, "schema_version", None)
    if reader is None or not callable(reader):
        return None
    return int(await reader())
