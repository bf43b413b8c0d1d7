"""What the event store hands back: results of appends, stream listings, snapshots, raw rows,
and the visibility status of the global log.

Plain frozen records, shared by the store contract (:mod:`eventledger.store.base`), every
backend and the layers above.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append wrote: the stream, its new version and each event's global position."""

    stream_id: str
    version: int
    positions: tuple[int, ...]

    @property
    def last_position(self) -> int | None:
        """Global position of the last event appended (None for an empty append)."""
        return self.positions[-1] if self.positions else None


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """A stream as listed by :meth:`EventStore.list_streams`."""

    stream_id: str
    version: int
    last_recorded_at: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An aggregate's state at a version, stored beside the events to shorten loads.

    ``state`` is JSON-compatible data; ``schema_version`` is the aggregate's snapshot schema
    version when it was taken (a snapshot of another version is ignored on load).
    """

    stream_id: str
    version: int
    aggregate_type: str
    schema_version: int
    state: dict[str, Any]
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class OpenTransaction:
    """A database transaction holding back the readers of the global log (PostgreSQL)."""

    pid: int | None
    """Backend process id (None for a prepared transaction); ``pg_terminate_backend(pid)`` ends it."""
    database: str | None
    """The database it runs in."""
    state: str
    """``active``, ``idle in transaction``, ... or ``prepared transaction <gid>``."""
    age: timedelta
    """How long the transaction has been open."""


@dataclass(frozen=True, slots=True)
class VisibilityStatus:
    """How far readers of the global log are behind what has been committed, and why.

    On the memory and SQLite stores every committed event is visible at once, so nothing is
    ever held back. On PostgreSQL an event committed by one transaction can wait behind
    another that is still open and may yet add events before it (see
    :mod:`eventledger.store.postgres`); those events count as lag, and
    ``oldest_open_transaction`` names the transaction they wait for.
    """

    written_position: int
    """The highest position of any committed event (0 for an empty store)."""
    visible_position: int
    """The last position a reader of the global log can see now (:meth:`EventStore.head_position`)."""
    held_back_events: int
    """Committed events readers cannot see yet because an older transaction is still open."""
    oldest_held_back_at: datetime | None
    """When the oldest held-back event was recorded (None when nothing is held back)."""
    oldest_open_transaction: OpenTransaction | None
    """The open transaction readers wait for (None when readers wait for nothing)."""


@dataclass(frozen=True, slots=True)
class RawEvent:
    """A stored event as its row holds it, not decoded: for checks that must see bad rows too.

    ``data`` is JSON text, or a mapping where the driver decodes JSON itself.
    """

    position: int
    stream_id: str
    version: int
    type: str
    schema_version: int
    data: str | Mapping[str, Any]
