"""What every part of a projection worker shares: its state, stopping, waiting and telling listeners."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eventledger.errors import ProjectionFailed
from eventledger.events import RecordedEvent
from eventledger.projections.leases import LeasePolicy
from eventledger.projections.projection import Projection
from eventledger.projections.reading import LiveFeed
from eventledger.projections.retries import ProjectionRetryPolicy
from eventledger.projections.status import (
    FailureInfo,
    ProjectionListener,
    ProjectionState,
    StalledReason,
    ThroughputMeter,
)
from eventledger.projections.targets.base import Build, FailedEvent, TargetConnection
from eventledger.store.base import EventStore

log = logging.getLogger("eventledger.projections")
_T = TypeVar("_T")


class Stopped(Exception):
    """The runner is stopping: leave the loop between batches."""


class Reconnect(Exception):
    """The target connection broke: make a new one (the lease went with it)."""


class HandlerFailed(Exception):
    def __init__(self, recorded: RecordedEvent, error: Exception) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.recorded = recorded
        self.error = error


@dataclass
class Decision:
    action: str
    done: asyncio.Future[FailedEvent]


@dataclass
class BuildRun:
    """The state of one build this worker is applying events to."""

    build: Build
    checkpoint: int
    rebuilding: bool
    live: bool = False
    retrying: bool = False
    retired: bool = False
    failure: FailureInfo | None = None
    failed_event: FailedEvent | None = None
    decision: asyncio.Future[Decision] | None = None
    task: asyncio.Task[None] | None = None
    feed: LiveFeed | None = None
    last_commit: float = field(default_factory=time.monotonic)


def failed_error(projection: str, failed: FailedEvent) -> ProjectionFailed:
    return ProjectionFailed(projection, failed.position, failed.event_type, failed.stream_id, failed.error)


class WorkerBase:
    """A projection worker's state and the plumbing its parts share (see :mod:`.core`)."""

    def __init__(
        self,
        store: EventStore,
        projection: Projection[Any],
        *,
        owner: str,
        batch_size: int,
        retry: ProjectionRetryPolicy,
        lease: LeasePolicy,
        stall_after: float,
        listeners: Sequence[ProjectionListener],
    ) -> None:
        self.store = store
        self.projection = projection
        self.owner = owner
        self.batch_size = batch_size
        self.retry = retry
        self.lease = lease
        self.stall_after = stall_after
        self.listeners = listeners
        self.meter = ThroughputMeter()
        self.connection: TargetConnection[Any] | None = None
        self.runs: dict[int, BuildRun] = {}
        self.serving: BuildRun | None = None
        self.last_checkpoint = 0
        self.last_error: str | None = None
        self.holds_lease = False
        self._phase = ProjectionState.STARTING
        self._state = ProjectionState.STARTING
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._lock = asyncio.Lock()
        self._runs_changed = asyncio.Event()
        self._progress = asyncio.Event()
        self._until_caught_up = False
        self._held_back: StalledReason | None = None
        self._held_back_logged: StalledReason | None = None
        self._report_due = asyncio.Event()

    @property
    def name(self) -> str:
        """The projection's name."""
        return self.projection.name

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        """Ask the worker to stop after the batch in progress."""
        self._stopping = True
        self._stop_event.set()

    def reset_stop(self) -> None:
        """Allow :meth:`run` again after a stop."""
        self._stopping = False
        self._stop_event = asyncio.Event()

    def _connection(self) -> TargetConnection[Any]:
        if self.connection is None:
            raise Reconnect("no target connection")
        return self.connection

    def _stop_feed(self, run: BuildRun) -> None:
        if run.feed is not None:
            run.feed.close()
        run.feed = None

    def _stop_feeds(self) -> None:
        for run in self.runs.values():
            self._stop_feed(run)
            run.live = False

    def _emit(self, method: str, payload: object) -> None:
        for listener in self.listeners:
            try:
                getattr(listener, method)(payload)
            except Exception:
                log.exception("projection listener %r failed in %s", listener, method)

    # ------------------------------------------------------------------ waiting

    def _raise_if_stopping(self) -> None:
        if self._stopping:
            raise Stopped

    async def _pause(self, seconds: float) -> None:
        await self._interruptible(asyncio.sleep(seconds))

    async def _interruptible(self, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` unless the worker is asked to stop first (then raise ``Stopped``)."""
        if self._stopping:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise Stopped
        future = asyncio.ensure_future(awaitable)
        stopper = asyncio.create_task(self._stop_event.wait())
        try:
            done, _ = await asyncio.wait({future, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not future.done():
                future.cancel()
        if future in done:
            return future.result()
        raise Stopped
