"""An aggregate as it was at a past point: at a version, or as of a moment.

:meth:`Repository.load(id, version=N) <eventledger.domain.repository.Repository.load>` and
``load(id, as_of=moment)`` answer "what did it look like then". A point in a stream's history
is a prefix of the stream: the first N events, or the events up to the first one recorded after
the moment. A prefix, not a filter, because an aggregate's state is a fold of its events in
order: skipping an early event and applying a later one would build a state the aggregate never
had. (On PostgreSQL an event's time is its transaction's start, so a later version can carry an
earlier time; stopping at the first later event keeps the answer a state that existed.)
A moment is never served from a snapshot: a snapshot does not know when its events were
recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventledger.domain.aggregate import Aggregate
from eventledger.errors import AggregateNotFound, InvalidArgument
from eventledger.store.base import EventStore
from eventledger.store.limits import check_position


@dataclass(frozen=True, slots=True)
class PointInHistory:
    """Where to stop replaying a stream: after ``version`` events, or after ``as_of``."""

    version: int | None = None
    as_of: datetime | None = None


def point_in_history(version: object, as_of: object) -> PointInHistory:
    """The point a load asked for, checked: one of a version (an int >= 0) or an aware datetime."""
    if version is not None and as_of is not None:
        raise InvalidArgument(
            f"load at a version or as of a moment, not both (version={version!r}, as_of={as_of!r})"
        )
    if as_of is None:
        return PointInHistory(version=check_position("version", version))
    if not isinstance(as_of, datetime) or as_of.utcoffset() is None:
        raise InvalidArgument(
            f"as_of must be a timezone-aware datetime (stored times are UTC), not {as_of!r}"
        )
    return PointInHistory(as_of=as_of)


async def replay_until(store: EventStore, aggregate: Aggregate[Any], point: PointInHistory) -> int:
    """Replay ``aggregate``'s stream from its start up to ``point``; how many events it applied."""
    replayed = 0
    if point.version is not None:
        if point.version == 0:
            return 0
        async for recorded in store.read_stream(aggregate.stream_id, limit=point.version):
            aggregate._replay(recorded)
            replayed += 1
        return replayed
    moment = point.as_of
    # Stopping early holds nothing open: a read fetches whole pages between its yields.
    async for recorded in store.read_stream(aggregate.stream_id):
        if moment is not None and recorded.recorded_at > moment:
            break
        aggregate._replay(recorded)
        replayed += 1
    return replayed


def check_reached(aggregate: Aggregate[Any], point: PointInHistory, aggregate_type: str) -> None:
    """Raise unless the replay reached ``point``: AggregateNotFound before the first event,
    InvalidArgument for a version the stream never reached."""
    if aggregate.version == 0:
        error = AggregateNotFound(aggregate.stream_id, aggregate_type)
        if point.version == 0:
            error.add_note("version 0 is before the stream's first event")
        elif point.as_of is not None:
            error.add_note(f"no event of the stream was recorded at or before {point.as_of.isoformat()}")
        raise error
    if point.version is not None and aggregate.version < point.version:
        raise InvalidArgument(
            f"{aggregate_type} {aggregate.stream_id!r} was never at version {point.version}: "
            f"its stream has {aggregate.version} event(s)"
        )
