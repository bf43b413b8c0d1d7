"""How far a projection trails the newest committed event, and when events held back stall it.

The store's :meth:`~eventledger.store.base.EventStore.visibility_status` says what has been
committed against what readers can see. On PostgreSQL the two differ while an open
transaction holds the visibility barrier: the events committed behind it are held back, and
every reader of the log, every projection, waits for them. They count as lag here, in events
and in seconds, and a projection waiting only for them longer than a threshold is stalled with
the transaction named (:func:`stall_reason`).

Reading the visibility costs one or two queries; a runner reads it once per status refresh and
once per watch interval (:class:`HeldBackWatch`), never per event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eventledger.projections.status import StalledReason
from eventledger.store.base import EventStore
from eventledger.store.records import VisibilityStatus

DEFAULT_HELD_BACK_STALL_AFTER = 5.0
"""Seconds events may be held back before the projections waiting for them report ``stalled``."""


@dataclass(frozen=True, slots=True)
class Lag:
    """How far a checkpoint trails the newest committed event."""

    events: int
    """Visible events after the checkpoint (by position) plus the held-back ones."""
    seconds: float | None
    """Age of the oldest event not applied yet, held-back ones included (0 when there is none;
    None when the next visible event cannot be decoded)."""


async def measure_lag(
    store: EventStore, checkpoint: int, visibility: VisibilityStatus, held_since: datetime | None
) -> Lag:
    """The lag of a projection at ``checkpoint``: one read of the next event, no more.

    ``held_since`` is when events were first seen held back, used when the store cannot say
    when the oldest held-back event was recorded.
    """
    events = max(visibility.visible_position - checkpoint, 0) + visibility.held_back_events
    oldest: datetime | None = None
    try:
        async for first in store.read_all(after=checkpoint, limit=1):
            oldest = first.recorded_at
    except Exception:
        return Lag(events, None)  # the next event cannot even be decoded; the failure says why
    if visibility.held_back_events:
        held = visibility.oldest_held_back_at or held_since
        if held is not None and (oldest is None or held < oldest):
            oldest = held
    if oldest is None:
        return Lag(events, 0.0)
    return Lag(events, max((datetime.now(UTC) - oldest).total_seconds(), 0.0))


def stall_reason(
    visibility: VisibilityStatus, held_since: datetime | None, stall_after: float, now: datetime
) -> StalledReason | None:
    """Why projections that have applied all they can see are stalled now, or None if they are not.

    They are when committed events have been held back for longer than ``stall_after`` seconds:
    since the oldest held-back event was recorded, or, when the store cannot say, since
    ``held_since``.
    """
    if visibility.held_back_events <= 0:
        return None
    since = visibility.oldest_held_back_at or held_since
    if since is None or now - since < timedelta(seconds=stall_after):
        return None
    return StalledReason(visibility.held_back_events, since, visibility.oldest_open_transaction)


class HeldBackWatch:
    """Successive visibility readings of one store: since when events are held back, and the
    stall that makes.

    Only the runner's event loop uses it; each reading replaces the last.
    """

    def __init__(self, stall_after: float) -> None:
        self.stall_after = stall_after
        self.latest: VisibilityStatus | None = None
        self.held_since: datetime | None = None
        """When events were first seen held back in the current run of readings that held some."""

    def observe(self, visibility: VisibilityStatus, now: datetime | None = None) -> StalledReason | None:
        """Take a new reading; returns the stall it makes (None when there is none)."""
        moment = now or datetime.now(UTC)
        if visibility.held_back_events <= 0:
            self.held_since = None
        elif self.held_since is None:
            self.held_since = moment
        self.latest = visibility
        return stall_reason(visibility, self.held_since, self.stall_after, moment)

    async def read(self, store: EventStore) -> tuple[VisibilityStatus, StalledReason | None]:
        """Read the store's visibility once and observe it."""
        visibility = await store.visibility_status()
        return visibility, self.observe(visibility)
