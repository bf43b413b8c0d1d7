"""Applying a batch: one target transaction with the checkpoint inside, and what to do when it fails.

A batch's handlers and its checkpoint compare-and-set commit together or not at all (the
target's :meth:`~eventledger.projections.targets.base.TargetConnection.batch`). When a batch
fails, :func:`~eventledger.projections.worker.machine.after_failure` decides the next step:

- the connection broke: reconnect (the lease went with it);
- the database's passing trouble (an outage, a lock wait): wait it out with the retry policy's
  back-off, however long, in state ``stalled``;
- a batch of several events: apply it one event per transaction, so that the events before
  the culprit commit and the culprit is found (a handler's error, or one the database raised
  only at commit);
- one event: retry it with back-off, then stop at it (see :mod:`.decisions`).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any, Final

from eventledger.errors import CheckpointConflict, LeaseLost, ProjectionRetired, StoreUnavailable
from eventledger.events import RecordedEvent
from eventledger.projections.failures import EventFailure, describe_error
from eventledger.projections.listeners import (
    BatchApplied,
    BatchStarting,
    ProjectionListener,
    Reacting,
)
from eventledger.projections.projection import Projection
from eventledger.projections.reactor import Reactor
from eventledger.projections.retries import ProjectionRetryPolicy
from eventledger.projections.segments import Segment
from eventledger.projections.status import ThroughputMeter
from eventledger.projections.worker.decisions import Decisions
from eventledger.projections.worker.line import Reconnect, TargetLine
from eventledger.projections.worker.machine import AfterFailure, Decision, after_failure
from eventledger.projections.worker.runs import BuildRun, BuildRuns
from eventledger.projections.worker.state import WorkerState
from eventledger.projections.worker.stopping import Stopped, StopSwitch

_NO_CONTEXT: Final = nullcontext()


class HandlerFailed(Exception):
    """A handler raised ``error`` on ``recorded`` (so the failure names the event, not the batch)."""

    def __init__(self, recorded: RecordedEvent, error: Exception) -> None:
        super().__init__(describe_error(error))
        self.recorded = recorded
        self.error = error


class BatchApplier:
    """Applies batches of events to builds of one projection, with retries and bisection."""

    def __init__(
        self,
        projection: Projection[Any],
        retry: ProjectionRetryPolicy,
        *,
        line: TargetLine,
        runs: BuildRuns,
        state: WorkerState,
        stop: StopSwitch,
        decisions: Decisions,
        listeners: ProjectionListener,
        meter: ThroughputMeter,
        segment: Segment | None = None,
    ) -> None:
        self.projection = projection
        self.segment = segment
        self.name = projection.name if segment is None else segment.unit(projection.name)
        self.retry = retry
        self._line = line
        self._runs = runs
        self._state = state
        self._stop = stop
        self._decisions = decisions
        self._listeners = listeners
        self._meter = meter

    async def apply(self, run: BuildRun, events: list[RecordedEvent]) -> None:
        """Apply ``events`` to ``run``'s build, retrying, bisecting, or stopping at a failing event.

        Returns once every event is applied or skipped. Raises what ends the build's turn: a
        lost lease or checkpoint race, a retired build, a stop, a broken connection
        (:class:`Reconnect`), or :class:`ProjectionFailed` in a catch-up-only run.
        """
        attempt = 0
        outages = 0
        while True:
            try:
                await self._commit(run, events)
                self._state.recovered(run)
                return
            except (CheckpointConflict, LeaseLost, ProjectionRetired, Stopped, Reconnect):
                raise
            except Exception as error:
                connection = self._line.current()
                step = after_failure(
                    broken=connection.broken,
                    transient=isinstance(error, StoreUnavailable) or connection.is_transient(error),
                    batch_size=len(events),
                    attempt=attempt + 1,
                    attempts=self.retry.attempts,
                )
                cause = error.error if isinstance(error, HandlerFailed) else error
                if step is AfterFailure.RECONNECT:
                    raise Reconnect(str(error)) from error
                if step is AfterFailure.WAIT:
                    outages += 1
                    self._state.retrying(run, cause)
                    await self._stop.pause(self.retry.outage_delay(outages))
                    continue
                if step is AfterFailure.BISECT:
                    for recorded in events:
                        await self.apply(run, [recorded])
                    return
                attempt += 1
                recorded = error.recorded if isinstance(error, HandlerFailed) else events[0]
                failure = EventFailure.of_event(recorded, cause, attempt)
                self._decisions.attempt_failed(failure, final=step is AfterFailure.STOP)
                if step is AfterFailure.STOP:
                    if await self._decisions.stop_at(run, failure) is Decision.SKIP:
                        return
                    attempt = 0
                    continue
                self._state.retrying(run, cause)
                await self._stop.pause(self.retry.delay(attempt))

    async def _commit(self, run: BuildRun, events: list[RecordedEvent]) -> None:
        """One batch in one target transaction, the checkpoint moving from ``run.checkpoint``."""
        started = time.perf_counter()
        handled = 0
        position = events[-1].position
        handler_for = self.projection.handler_for
        listeners = self._listeners
        reactor = isinstance(self.projection, Reactor)
        name = self.projection.name
        applying = listeners.applying(
            BatchStarting(name, run.build.number, events, run.rebuilding, reactor)
        )
        batch = self._line.current().batch(self.projection, run.build, run.checkpoint, position)
        owns = None if self.segment is None else self.segment.owns
        with applying or _NO_CONTEXT:
            async with self._line.lock, batch as session:
                for recorded in events:
                    if owns is not None and not owns(recorded.stream_id):
                        continue  # another segment's; the checkpoint moves past it all the same
                    handler = handler_for(type(recorded.event))
                    if handler is None:
                        continue
                    try:
                        if reactor:
                            with listeners.reacting(Reacting(name, recorded)) or _NO_CONTEXT:
                                await handler(recorded.event, recorded, session)
                        else:
                            await handler(recorded.event, recorded, session)
                    except Exception as error:
                        raise HandlerFailed(recorded, error) from error
                    handled += 1
        self._runs.committed(run, position)
        run.last_commit = time.monotonic()
        self._meter.record(len(events))
        self._state.progressed()
        self._listeners.batch_applied(
            BatchApplied(
                projection=self.name,
                build=run.build.number,
                events=len(events),
                handled=handled,
                checkpoint=position,
                seconds=time.perf_counter() - started,
                rebuilding=run.rebuilding,
            )
        )
