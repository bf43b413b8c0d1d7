"""The hook monitoring plugs into: a :class:`ProjectionListener` hears every batch, state change
and failed attempt as it happens, without reaching into the runner.

A listener is a subclass of :class:`ProjectionListener` overriding the methods it needs; the
runner calls them directly, through :class:`Listeners`, which tells every listener in turn and
logs (and otherwise ignores) an exception one of them raises, so a broken exporter never
disturbs a projection or the other listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from eventledger.projections.failures import EventFailure, ReadsThroughFailure
from eventledger.projections.status import ProjectionState

log = logging.getLogger("eventledger.projections")


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
class EventFailed(ReadsThroughFailure):
    """An attempt to apply (or decode) an event failed; ``final`` when retries are exhausted.

    ``failure`` is the record the status and the dead-letter table get too; ``position``,
    ``event_type``, ``stream_id``, ``event_id`` and ``error`` read through to it.
    """

    projection: str
    failure: EventFailure
    final: bool

    @property
    def attempt(self) -> int:
        """Which attempt this was (1-based)."""
        return self.failure.attempts


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


class Listeners(ProjectionListener):
    """Every listener of a runner as one: each call goes to each listener, in the order they joined.

    It reads the runner's own list, so a listener added while the runner runs hears what
    happens from then on.
    """

    def __init__(self, listeners: list[ProjectionListener]) -> None:
        self._listeners = listeners

    def batch_applied(self, batch: BatchApplied) -> None:
        """Tell every listener a batch committed."""
        self._tell("batch_applied", lambda listener: listener.batch_applied(batch))

    def state_changed(self, change: StateChanged) -> None:
        """Tell every listener a projection changed state."""
        self._tell("state_changed", lambda listener: listener.state_changed(change))

    def event_failed(self, failure: EventFailed) -> None:
        """Tell every listener an attempt failed."""
        self._tell("event_failed", lambda listener: listener.event_failed(failure))

    def _tell(self, what: str, call: Callable[[ProjectionListener], None]) -> None:
        for listener in self._listeners:
            try:
                call(listener)
            except Exception:
                log.exception("projection listener %r failed in %s", listener, what)
