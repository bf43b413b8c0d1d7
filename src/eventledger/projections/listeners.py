"""The hook monitoring plugs into: a :class:`ProjectionListener` hears every batch, state change
and failed attempt as it happens, without reaching into the runner.

A listener is a subclass of :class:`ProjectionListener` overriding the methods it needs; the
runner calls them directly, through :class:`Listeners`, which tells every listener in turn and
logs (and otherwise ignores) an exception one of them raises, so a broken exporter never
disturbs a projection or the other listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass

from eventledger.events import RecordedEvent
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
class BatchStarting:
    """A batch about to be applied: its events in log order (at least one), read before the
    target transaction opens. ``reactor``: the projection is a reactor (its handlers emit events)."""

    projection: str
    build: int
    events: Sequence[RecordedEvent]
    rebuilding: bool
    reactor: bool


@dataclass(frozen=True, slots=True)
class Reacting:
    """A reactor's handler is about to react to ``recorded`` (one source event)."""

    projection: str
    recorded: RecordedEvent


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

    def applying(self, batch: BatchStarting) -> AbstractContextManager[object] | None:
        """A context the batch runs in, from before its transaction opens until it commits or
        fails (a tracing span), or None for none; the default. An error inside reaches its
        ``__exit__`` before the runner handles it."""
        return None

    def reacting(self, reaction: Reacting) -> AbstractContextManager[object] | None:
        """A context one reactor handler runs in (a tracing span), or None for none; the default."""
        return None


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

    def applying(self, batch: BatchStarting) -> AbstractContextManager[object] | None:
        """Every listener's context for the batch, entered in the order they joined (None: none)."""
        return self._contexts("applying", lambda listener: listener.applying(batch))

    def reacting(self, reaction: Reacting) -> AbstractContextManager[object] | None:
        """Every listener's context for the reaction, entered in the order they joined (None: none)."""
        return self._contexts("reacting", lambda listener: listener.reacting(reaction))

    def _contexts(
        self, what: str, call: Callable[[ProjectionListener], AbstractContextManager[object] | None]
    ) -> AbstractContextManager[object] | None:
        contexts: list[AbstractContextManager[object]] = []
        for listener in self._listeners:
            try:
                context = call(listener)
            except Exception:
                log.exception("projection listener %r failed in %s", listener, what)
                continue
            if context is not None:
                contexts.append(context)
        if not contexts:
            return None  # the common case: no context to enter at all
        return contexts[0] if len(contexts) == 1 else _all_of(contexts)

    def _tell(self, what: str, call: Callable[[ProjectionListener], None]) -> None:
        for listener in self._listeners:
            try:
                call(listener)
            except Exception:
                log.exception("projection listener %r failed in %s", listener, what)


@contextmanager
def _all_of(contexts: list[AbstractContextManager[object]]) -> Iterator[None]:
    with ExitStack() as stack:
        for context in contexts:
            stack.enter_context(context)
        yield
