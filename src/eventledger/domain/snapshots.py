"""Taking and restoring aggregate snapshots, where a snapshot is only ever an optimisation.

A snapshot is trusted only when it names the same aggregate type and the same state schema
version as the class loading it, and when its state validates against the class. Anything else
is ignored (and logged), and the aggregate is rebuilt from its events. Writing a snapshot
never fails a command: the events are already stored, so a failure is logged and the next
load replays a few more events.
"""

from __future__ import annotations

import logging
from typing import Any, Final, TypeVar

from eventledger.domain.aggregate import Aggregate
from eventledger.errors import InvalidArgument
from eventledger.store.base import EventStore
from eventledger.store.records import Snapshot

logger = logging.getLogger(__name__)

AggregateType = TypeVar("AggregateType", bound=Aggregate[Any])


def log_ignored(stream_id: str, version: object, reason: str) -> None:
    """Say once that a snapshot is ignored (the next snapshot taken replaces it)."""
    key = (stream_id, repr(version), reason)
    if key in _ignored:
        return
    if len(_ignored) >= _IGNORED_REMEMBERED:
        _ignored.clear()
    _ignored.add(key)
    logger.warning("ignoring the snapshot of stream %r at version %r: %s", stream_id, version, reason)


# Which ignored snapshots were logged already, so a bad row is reported once, not at every load.
_ignored: set[tuple[str, str, str]] = set()
_IGNORED_REMEMBERED: Final = 10_000


def restore(
    aggregate_class: type[AggregateType], aggregate_id: object, snapshot: Snapshot
) -> AggregateType | None:
    """The aggregate ``aggregate_id`` (a typed id) ``snapshot`` holds, or None when it cannot be trusted.

    A snapshot is trusted only when its version is an int >= 1, its state a mapping, and its
    aggregate type and schema version those of the loader; the caller then checks the version
    against the stream (:meth:`Repository.load` reads from it).
    """
    version = snapshot.version
    if type(version) is not int or version < 1 or not isinstance(snapshot.state, dict):
        log_ignored(
            snapshot.stream_id,
            version,
            "its version is not an int >= 1 or its state not a mapping; rebuilding from events",
        )
        return None
    expected = (aggregate_class.__aggregate_type__, aggregate_class.__schema_version__)
    found = (snapshot.aggregate_type, snapshot.schema_version)
    if found != expected:
        logger.info(
            "ignoring snapshot of stream %r at version %d: it holds %s schema version %d, "
            "the loader is %s schema version %d; rebuilding from events",
            snapshot.stream_id,
            snapshot.version,
            found[0],
            found[1],
            expected[0],
            expected[1],
        )
        return None
    try:
        return aggregate_class.from_snapshot(aggregate_id, snapshot.version, snapshot.state)
    except Exception:
        # A state that no longer fits the fields means the schema version was not raised when
        # the fields changed; the events are the truth, so rebuild from them.
        logger.warning(
            "ignoring snapshot of %s %r at version %d: its state does not restore; rebuilding from events",
            snapshot.aggregate_type,
            snapshot.stream_id,
            snapshot.version,
            exc_info=True,
        )
        return None


async def take(store: EventStore, aggregate: Aggregate[Any]) -> bool:
    """Store a snapshot of ``aggregate`` at its version; False (and a log line) if that failed.

    The aggregate must have no uncommitted events: a snapshot holds stored history only.
    """
    if aggregate.uncommitted_events:
        raise InvalidArgument(
            f"{type(aggregate).__name__} {aggregate.stream_id!r} has uncommitted events; save it before "
            "taking a snapshot"
        )
    try:
        snapshot = Snapshot(
            stream_id=aggregate.stream_id,
            version=aggregate.version,
            aggregate_type=aggregate.__aggregate_type__,
            schema_version=aggregate.__schema_version__,
            state=aggregate.snapshot_state(),
        )
        await store.save_snapshot(snapshot)
    except Exception:
        # The events are stored already; a missing snapshot only makes the next load longer.
        logger.warning(
            "could not save a snapshot of %s %r at version %d; the command succeeded regardless",
            aggregate.__aggregate_type__,
            aggregate.stream_id,
            aggregate.version,
            exc_info=True,
        )
        return False
    return True
