"""What a runner reports about each projection: its state, its lag, its failure, its stall.

:meth:`ProjectionRunner.status` returns a :class:`ProjectionStatus` per projection (for
exporters that want every batch as it happens, see :mod:`.listeners`).

Lag is measured against the newest *committed* event, not against what readers can see: on
PostgreSQL a committed event can be held back behind an older transaction that is still open
(see :meth:`eventledger.store.base.EventStore.visibility_status`), and a projection waiting for
it is behind, however healthy it looks. So:

- ``lag_events`` is ``head_position - checkpoint`` (never below 0) plus ``held_back_events``.
  The first part is exact where positions are dense (the memory and SQLite stores). On
  PostgreSQL positions can have gaps (appends that rolled back) and the log is ordered by
  commit rather than by position, so there it is an estimate: too high by the gaps, and briefly
  off while concurrent appends commit out of position order. ``held_back_events`` is exact.
- ``lag_seconds`` is the age of the oldest event the projection has not applied yet, held-back
  events included (0 when there is none; None when the next event cannot be decoded, which the
  projection's failure then explains).
- A projection that has applied everything readers can see while events stay held back for
  longer than the runner's ``held_back_stall_after`` is ``stalled``, and ``stalled_reason``
  names the transaction it waits for.

A runner reads the store's visibility once per :meth:`ProjectionRunner.status` call, for all of
its projections, and never per event.
"""

from __future__ import annotations

import collections
import enum
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from eventledger.projections.failures import EventFailure, FailureInfo
from eventledger.store.records import OpenTransaction

__all__ = [
    "RATE_WINDOW",
    "FailureInfo",
    "ProjectionState",
    "ProjectionStatus",
    "RebuildProgress",
    "StalledReason",
    "ThroughputMeter",
    "describe_transaction",
]

RATE_WINDOW: Final = 10.0
"""Seconds over which ``events_per_second`` is measured (the runner's and the stored reports' alike)."""


class ProjectionState(enum.Enum):
    """Where a projection is."""

    STARTING = "starting"
    """Not yet running (or not yet registered with its target)."""
    STANDBY = "standby"
    """Another runner holds the lease; this one waits to take over."""
    CATCHING_UP = "catching_up"
    """Reading the log in batches from its checkpoint."""
    LIVE = "live"
    """Caught up; following new events as they are appended."""
    STALLED = "stalled"
    """Not progressing although events are waiting: retrying after an error, blocked, or held
    back by an open transaction (then ``stalled_reason`` says which)."""
    FAILED = "failed"
    """Stopped at an event it could not apply; waits for an operator (retry or skip)."""
    REBUILDING = "rebuilding"
    """A new build is catching up beside the serving one."""
    RETIRED = "retired"
    """A newer build or schema version replaced this one."""
    STOPPED = "stopped"
    """The runner was stopped."""
    INLINE = "inline"
    """Applied in each append's own transaction (:mod:`eventledger.projections.inline`), not by a runner."""


@dataclass(frozen=True, slots=True)
class StalledReason:
    """Why a projection that has applied everything it can see is stalled: committed events wait
    behind an open transaction (PostgreSQL's visibility barrier)."""

    held_back_events: int
    """Committed events readers cannot see yet."""
    since: datetime
    """When the oldest of them was recorded (when the store cannot say: when the runner first saw
    events held back)."""
    transaction: OpenTransaction | None
    """The open transaction they wait for (pid, database, state, age), when the store can name it."""

    def describe(self) -> str:
        """One line for logs and terminals."""
        held = f"{self.held_back_events} committed event{'s' if self.held_back_events != 1 else ''}"
        since = self.since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{held} held back since {since} by {describe_transaction(self.transaction)}"


def describe_transaction(transaction: OpenTransaction | None) -> str:
    """``an open transaction (pid 4242, database orders, idle in transaction, open for 41 s)``."""
    if transaction is None:
        return "an open transaction the store cannot name"
    where = [f"pid {transaction.pid}" if transaction.pid is not None else "no backend"]
    if transaction.database:
        where.append(f"database {transaction.database}")
    where.append(transaction.state)
    where.append(f"open for {transaction.age.total_seconds():.0f} s")
    return f"an open transaction ({', '.join(where)})"


@dataclass(frozen=True, slots=True)
class RebuildProgress:
    """A build catching up beside the serving one."""

    build: int
    version: int
    checkpoint: int
    lag_events: int


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """One projection as its runner sees it now.

    ``checkpoint`` is the position of the last event whose effects are in the serving build;
    ``head_position`` the last position readers can see; ``written_position`` the newest
    committed event's; ``held_back_events`` the committed events readers cannot see yet and
    ``holding_transaction`` the open transaction they wait for. ``lag_events``,
    ``lag_seconds`` and ``stalled_reason`` are explained in the module docstring;
    ``events_per_second`` is the apply rate over the last :data:`RATE_WINDOW` seconds.
    ``owner`` is this runner's identity and ``holds_lease`` whether it is the one runner
    applying events (False for a standby).
    """

    name: str
    version: int
    target: str
    state: ProjectionState
    checkpoint: int
    head_position: int
    lag_events: int
    lag_seconds: float | None
    events_per_second: float
    last_error: str | None
    failure: EventFailure | None
    rebuild: RebuildProgress | None
    owner: str
    holds_lease: bool
    build: int | None
    written_position: int
    held_back_events: int
    holding_transaction: OpenTransaction | None
    stalled_reason: StalledReason | None


class ThroughputMeter:
    """Events per second over a sliding window (one-second buckets)."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._buckets: collections.deque[tuple[int, int]] = collections.deque()
        self._started = time.monotonic()

    def record(self, count: int, now: float | None = None) -> None:
        """Count ``count`` events as applied now."""
        second = int(now if now is not None else time.monotonic())
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1] = (second, self._buckets[-1][1] + count)
        else:
            self._buckets.append((second, count))
        self._trim(second)

    def rate(self, now: float | None = None) -> float:
        """Events per second over the window (or since the meter started, when that is shorter)."""
        moment = now if now is not None else time.monotonic()
        self._trim(int(moment))
        span = min(self.window, max(moment - self._started, 1.0))
        return sum(count for _, count in self._buckets) / span

    def _trim(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] <= second - self.window:
            self._buckets.popleft()
