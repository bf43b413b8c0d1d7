"""What a worker tells: its phase and state, its latest error, its progress, a stall by held-back events.

The state itself is computed by :func:`~eventledger.projections.worker.machine.projection_state`
from the phase and the builds' facts; :class:`WorkerState` recomputes it whenever a part of
the worker changes something (:meth:`WorkerState.refresh`), tells the listeners when it moved,
and flags that a report is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from eventledger.projections.failures import describe_error
from eventledger.projections.listeners import ProjectionListener, StateChanged
from eventledger.projections.status import ProjectionState, StalledReason
from eventledger.projections.worker.machine import Happening, Phase, next_phase, projection_state
from eventledger.projections.worker.runs import BuildRun, BuildRuns

log = logging.getLogger("eventledger.projections")


class WorkerState:
    """The phase, state and latest error of the worker running projection ``name``."""

    def __init__(self, name: str, runs: BuildRuns, listeners: ProjectionListener) -> None:
        self.name = name
        self.runs = runs
        self.listeners = listeners
        self.phase = Phase.STARTING
        self.current = ProjectionState.STARTING
        self.last_error: str | None = None
        self.report_due = asyncio.Event()
        """Set when the state moved: the reporter records it without waiting for its interval."""
        self._held_back: StalledReason | None = None
        self._held_back_logged: StalledReason | None = None
        self._progress = asyncio.Event()

    def happened(self, happening: Happening) -> None:
        """Move the phase on (see :func:`~eventledger.projections.worker.machine.next_phase`)."""
        self.phase = next_phase(self.phase, happening)
        self.refresh()

    def refresh(self) -> None:
        """Recompute the state; tell the listeners (and the reporter) when it moved."""
        state = projection_state(
            self.phase,
            self.runs.facts(),
            serving_live=self.runs.serving_live,
            held_back=self._held_back is not None,
        )
        if state is not self.current:
            previous, self.current = self.current, state
            self.report_due.set()
            self.listeners.state_changed(StateChanged(self.name, previous, state))
        self._log_held_back()

    # ------------------------------------------------------------------ errors and progress

    def retrying(self, run: BuildRun, error: BaseException) -> None:
        """``run`` retries after ``error`` (an event's or the database's): stalled meanwhile."""
        self.last_error = describe_error(error)
        if not run.retrying:
            log.warning("%s: retrying after: %s", self.name, self.last_error)
        run.retrying = True
        self.refresh()

    def recovered(self, run: BuildRun) -> None:
        """A read or a batch of ``run`` succeeded."""
        if not run.retrying and self.phase is not Phase.RECONNECTING:
            return  # the usual case, once per batch: nothing moved (every other change refreshes)
        run.retrying = False
        self.happened(Happening.RECOVERED)

    def progressed(self) -> None:
        """A batch committed: wake whoever waits for progress."""
        self._progress.set()
        self._progress = asyncio.Event()

    async def wait_for_progress(self, seconds: float) -> None:
        """Sleep until the next committed batch, or at most ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._progress.wait(), seconds)

    # ------------------------------------------------------------------ held-back events

    def held_back(self, reason: StalledReason | None) -> None:
        """The runner's latest word on events held back past its threshold (None: nothing is)."""
        self._held_back = reason
        self.refresh()

    @property
    def stalled_reason(self) -> StalledReason | None:
        """Why this projection is stalled, when held-back events are the reason."""
        return self._held_back if self.current is ProjectionState.STALLED else None

    def _log_held_back(self) -> None:
        # Once when the stall begins and once when it ends, however often the runner looks.
        reason = self.stalled_reason
        if reason is not None and self._held_back_logged is None:
            log.warning(
                "%s: stalled: %s; it resumes when that transaction ends "
                "(idle_in_transaction_session_timeout bounds such waits)",
                self.name,
                reason.describe(),
            )
            self._held_back_logged = reason
        elif reason is None and self._held_back_logged is not None:
            held = datetime.now(UTC) - self._held_back_logged.since
            log.info(
                "%s: no longer held back (%s after %.0f s)",
                self.name,
                self.current.value,
                held.total_seconds(),
            )
            self._held_back_logged = None
