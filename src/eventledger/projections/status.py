"""What a runner reports about each projection, and the hook monitoring plugs into.

:meth:`ProjectionRunner.status` returns a :class:`ProjectionStatus` per projection. For
exporters (Prometheus and the like) a :class:`ProjectionListener` receives every applied
batch, state change and failure as it happens, without reaching into the runner.

About ``lag_events``: it is ``head_position - checkpoint`` (never below 0). That is exact where
positions are dense (the memory and SQLite stores). On PostgreSQL positions can have gaps
(appends that rolled back) and the log is ordered by commit rather than by position, so there
it is an estimate: too high by the gaps, and briefly off while concurrent appends commit out
of position order. ``lag_seconds`` is exact everywhere: the age of the oldest event the
projection has not applied yet (0 when there is none; None when that event cannot be decoded,
which the projection's failure then explains).
"""

from __future__ import annotations

import collections
import enum
import time
from dataclasses import dataclass
from datetime import datetime


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
    """Not progressing although events are waiting: retrying after an error, or blocked."""
    FAILED = "failed"
    """Stopped at an event it could not apply; waits for an operator (retry or skip)."""
    REBUILDING = "rebuilding"
    """A new build is catching up beside the serving one."""
    RETIRED = "retired"
    """A newer build or schema version replaced this one."""
    STOPPED = "stopped"
    """The runner was stopped."""


@dataclass(frozen=True, slots=True)
class FailureInfo:
    """The event a projection failed at, and why."""

    position: int
    event_type: str
    stream_id: str
    error: str
    attempts: int
    at: datetime


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
    ``head_position`` the store's last position; ``lag_events`` and ``lag_seconds`` are
    explained in the module docstring; ``events_per_second`` is the apply rate over the last
    minute. ``owner`` is this runner's identity and ``holds_lease`` whether it is the one
    runner applying events (False for a standby).
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
    failure: FailureInfo | None
    rebuild: RebuildProgress | None
    owner: str
    holds_lease: bool
    build: int | None


@dataclass(frozen=True, slots=True)
class BatchApplied:
    """A batch committed: ``events`` read, ``handled`` of them had a handler."""

    projection: str
    build: int
    events: int
    handled: int
    checkpoint: int
    seconds: float
    rebuilding: bool


@dataclass(frozen=True, slots=True)
class StateChanged:
    """A projection moved from one state to another."""

    projection: str
    previous: ProjectionState
    current: ProjectionState


@dataclass(frozen=True, slots=True)
class EventFailed:
    """A handler (or decoding) failed on an event; ``final`` when retries are exhausted."""

    projection: str
    position: int
    event_type: str
    error: str
    attempt: int
    final: bool


class ProjectionListener:
    """Receives what runners do, as it happens; override the methods you need.

    Called on the runner's event loop: keep them quick and non-blocking (update a metric).
    An exception raised here is logged and otherwise ignored.
    """

    def batch_applied(self, batch: BatchApplied) -> None:
        """A batch committed."""

    def state_changed(self, change: StateChanged) -> None:
        """A projection changed state."""

    def event_failed(self, failure: EventFailed) -> None:
        """An attempt to apply an event failed."""


class ThroughputMeter:
    """Events per second over a sliding window (one-second buckets)."""

    def __init__(self, window: float = 60.0) -> None:
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
