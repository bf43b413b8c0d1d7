"""Where a build stops at an event it could not apply, and an operator's decision reaches it.

Every failed attempt is told to the listeners (:class:`EventFailed`, carrying the
:class:`EventFailure`). When retries run out the build stops at the event, in state
``failed``, until an operator retries it or skips it (:class:`Decision`); a skip moves the
checkpoint past the event and records the same failure record in the dead-letter table, in
one transaction. A run that only catches up (``run_until_caught_up``) does not wait: it
raises :class:`ProjectionFailed` carrying the failure.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from eventledger.errors import ProjectionFailed, ProjectionStateError
from eventledger.projections.failures import EventFailure
from eventledger.projections.listeners import EventFailed, ProjectionListener
from eventledger.projections.projection import Projection
from eventledger.projections.worker.line import TargetLine
from eventledger.projections.worker.machine import Decision
from eventledger.projections.worker.runs import BuildRun, BuildRuns, DecisionRequest
from eventledger.projections.worker.state import WorkerState
from eventledger.projections.worker.stopping import StopSwitch

log = logging.getLogger("eventledger.projections")


class Decisions:
    """Failed attempts, builds stopped at an event, and the operator's decisions on them."""

    def __init__(
        self,
        projection: Projection[Any],
        *,
        runs: BuildRuns,
        line: TargetLine,
        state: WorkerState,
        stop: StopSwitch,
        listeners: ProjectionListener,
        name: str | None = None,
    ) -> None:
        self.projection = projection
        self.name = name or projection.name
        """What failures are reported under: the projection's name, or its segment's."""
        self.raise_on_failure = False
        """Raise :class:`ProjectionFailed` instead of waiting for a decision (``run_until_caught_up``)."""
        self._runs = runs
        self._line = line
        self._state = state
        self._stop = stop
        self._listeners = listeners

    def attempt_failed(self, failure: EventFailure, final: bool) -> None:
        """Tell the listeners that an attempt failed (``final`` when retries ran out)."""
        self._listeners.event_failed(EventFailed(self.name, failure, final))

    async def stop_at(self, run: BuildRun, failure: EventFailure) -> Decision:
        """Stop ``run`` at ``failure`` until an operator decides; carry out a skip; return the decision."""
        run.retrying = False
        run.failure = failure
        self._state.last_error = failure.error
        log.error(
            "%s: failed at position %d (%s in %s): %s",
            self.name,
            failure.position,
            failure.event_type,
            failure.stream_id,
            failure.error,
        )
        self._state.refresh()
        if self.raise_on_failure:
            raise ProjectionFailed(self.name, failure)
        run.decision = asyncio.get_running_loop().create_future()
        request = await self._stop.interruptible(run.decision)
        run.decision = None
        try:
            if request.decision is Decision.SKIP:
                async with self._line.lock:
                    await self._line.current().skip(self.projection, run.build, run.checkpoint, failure)
                self._runs.committed(run, failure.position)
                log.warning("%s: skipped position %d on an operator's request", self.name, failure.position)
            request.done.set_result(failure)
        except BaseException as error:
            request.done.set_exception(error)
            raise
        finally:
            run.failure = None
            self._state.refresh()
        return request.decision

    async def decide(self, decision: Decision) -> EventFailure:
        """Hand ``decision`` to the build stopped at a failure; the event it concerned, once carried out."""
        for run in self._runs.runs.values():
            if run.decision is not None and not run.decision.done():
                done: asyncio.Future[EventFailure] = asyncio.get_running_loop().create_future()
                run.decision.set_result(DecisionRequest(decision, done))
                return await done
        raise ProjectionStateError(f"projection {self.name!r} is {self._state.current.value}, not failed")

    def hand_over(self, position: int, decision: Decision) -> EventFailure | None:
        """Hand ``decision`` to the build stopped at ``position`` without waiting for it to be carried
        out (an operator's request from another process); the failure it concerns, or None when no
        build waits at that position."""
        for run in self._runs.runs.values():
            waiting = run.decision is not None and not run.decision.done()
            if waiting and run.failure is not None and run.failure.position == position:
                done: asyncio.Future[EventFailure] = asyncio.get_running_loop().create_future()
                done.add_done_callback(self._log_if_failed)
                assert run.decision is not None
                run.decision.set_result(DecisionRequest(decision, done))
                return run.failure
        return None

    def _log_if_failed(self, done: asyncio.Future[EventFailure]) -> None:
        # Nobody awaits a decision handed over from another process: its error is logged here.
        if not done.cancelled() and done.exception() is not None:
            log.error("%s: carrying out an operator's request failed: %s", self.name, done.exception())

    def raise_if_failed(self) -> None:
        """Raise :class:`ProjectionFailed` when a build has stopped at an event."""
        failure = self._runs.failure()
        if failure is not None:
            raise ProjectionFailed(self.name, failure)
