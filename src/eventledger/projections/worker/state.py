"""A projection worker's state, its status, and its reports to other processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from eventledger.projections.lag import measure_lag
from eventledger.projections.status import (
    ProjectionState,
    ProjectionStatus,
    RebuildProgress,
    StalledReason,
    StateChanged,
)
from eventledger.projections.targets.base import ProjectionReport
from eventledger.projections.worker.base import WorkerBase, failed_error
from eventledger.store.records import VisibilityStatus

log = logging.getLogger("eventledger.projections")


class WorkerState(WorkerBase):
    """The state a worker is in, the status it answers with, and the reports it records."""

    @property
    def state(self) -> ProjectionState:
        """The projection's state as this worker sees it."""
        return self._state

    def _compute_state(self) -> ProjectionState:
        if self._phase in (
            ProjectionState.STARTING,
            ProjectionState.STANDBY,
            ProjectionState.RETIRED,
            ProjectionState.STOPPED,
            ProjectionState.STALLED,
        ):
            return self._phase
        runs = [run for run in self.runs.values() if not run.retired]
        if any(run.failure is not None for run in runs):
            return ProjectionState.FAILED
        if any(run.retrying for run in runs):
            return ProjectionState.STALLED
        if any(run.rebuilding for run in runs):
            return ProjectionState.REBUILDING
        if self.serving is not None and self.serving.live:
            # Everything visible is applied; held-back events are all that is left.
            return ProjectionState.STALLED if self._held_back is not None else ProjectionState.LIVE
        return ProjectionState.CATCHING_UP

    def _refresh(self) -> None:
        state = self._compute_state()
        if state is not self._state:
            previous, self._state = self._state, state
            self._report_due.set()
            self._emit("state_changed", StateChanged(self.name, previous, state))
        self._log_held_back()

    def held_back(self, reason: StalledReason | None) -> None:
        """The runner's latest word on events held back past its threshold (None: nothing is)."""
        self._held_back = reason
        self._refresh()

    @property
    def stalled_reason(self) -> StalledReason | None:
        """Why this projection is stalled, when held-back events are the reason."""
        return self._held_back if self._state is ProjectionState.STALLED else None

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
                self._state.value,
                held.total_seconds(),
            )
            self._held_back_logged = None

    async def wait_for_progress(self, seconds: float) -> None:
        """Sleep until the next committed batch, or at most ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._progress.wait(), seconds)

    async def is_caught_up(self) -> bool:
        """True when the serving build has applied everything in the log and follows it live.

        Raises :class:`ProjectionFailed` if the projection has failed.
        """
        for run in self.runs.values():
            if run.failed_event is not None:
                raise failed_error(self.name, run.failed_event)
        serving = self.serving
        if serving is None or not serving.live:
            return False
        if any(run.rebuilding and not run.retired for run in self.runs.values()):
            return False
        async for _ in self.store.read_all(after=serving.checkpoint, limit=1):
            return False
        return True

    async def status(
        self, visibility: VisibilityStatus | None = None, held_since: datetime | None = None
    ) -> ProjectionStatus:
        """This projection's :class:`ProjectionStatus` now.

        ``visibility`` is the store's (read here when not given); ``held_since`` when the
        runner first saw events held back (see :func:`~eventledger.projections.lag.measure_lag`).
        """
        if visibility is None:
            visibility = await self.store.visibility_status()
        if self.serving is not None:
            checkpoint = self.serving.checkpoint
        else:
            # On standby, stopped or not started: the serving build's checkpoint as stored, so
            # that a standby does not report the whole log as lag.
            checkpoint = await self._stored_checkpoint()
        lag = await measure_lag(self.store, checkpoint, visibility, held_since)
        state = self.state
        newest_commit = max((run.last_commit for run in self.runs.values()), default=time.monotonic())
        if (
            state in (ProjectionState.LIVE, ProjectionState.CATCHING_UP)
            and lag.seconds is not None
            and lag.seconds > self.stall_after
            and time.monotonic() - newest_commit > self.stall_after
        ):
            state = ProjectionState.STALLED
        failure = next((run.failure for run in self.runs.values() if run.failure is not None), None)
        rebuilding = next((run for run in self.runs.values() if run.rebuilding and not run.retired), None)
        head = visibility.visible_position
        held_back = visibility.held_back_events
        return ProjectionStatus(
            name=self.name,
            version=self.projection.version,
            target=self.projection.target.describe(),
            state=state,
            checkpoint=checkpoint,
            head_position=head,
            lag_events=lag.events,
            lag_seconds=lag.seconds,
            events_per_second=self.meter.rate(),
            last_error=self.last_error,
            failure=failure,
            rebuild=None
            if rebuilding is None
            else RebuildProgress(
                build=rebuilding.build.number,
                version=rebuilding.build.version,
                checkpoint=rebuilding.checkpoint,
                lag_events=max(head - rebuilding.checkpoint, 0) + held_back,
            ),
            owner=self.owner,
            holds_lease=self.holds_lease,
            build=None if self.serving is None else self.serving.build.number,
            written_position=visibility.written_position,
            held_back_events=held_back,
            holding_transaction=visibility.oldest_open_transaction if held_back else None,
            stalled_reason=self.stalled_reason,
        )

    # ------------------------------------------------------------------ reporting

    def report(self) -> ProjectionReport:
        """What this worker would tell other processes now (see :class:`ProjectionReport`)."""
        failure = next((run.failure for run in self.runs.values() if run.failure is not None), None)
        state = self._state
        if failure is not None and state is ProjectionState.STOPPED:
            # A run that ended at a failure (run_until_caught_up) leaves the projection failed there.
            state = ProjectionState.FAILED
        return ProjectionReport(
            projection=self.name,
            version=self.projection.version,
            owner=self.owner,
            state=state,
            build=None if self.serving is None else self.serving.build.number,
            events_per_second=self.meter.rate(),
            last_error=self.last_error,
            failure=failure,
            stalled_reason=self.stalled_reason,
            reported_at=datetime.now(UTC),
            interval=self.lease.renew_every,
        )

    async def _keep_reporting(self) -> None:
        """Report now, then on every state change and at least every ``renew_every`` seconds."""
        while True:
            self._report_due.clear()
            await self._report()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
            # lands as the event is set (a state change while the worker stops).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.lease.renew_every):
                    await self._report_due.wait()

    async def _report(self) -> None:
        connection = self.connection
        if connection is None or not self.holds_lease:
            return
        try:
            async with self._lock:
                await connection.record_report(self.report())
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # Reports inform; a failure to write one must never stop the projection.
            log.debug("%s: could not record the report: %s", self.name, error)

    async def _report_last(self) -> None:
        """The final report of a run (stopped, retired or failed), while the lease is still held."""
        connection = self.connection
        if connection is None or not self.holds_lease or connection.broken:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.lease.renew_every):
                await self._report()

    async def _stored_checkpoint(self) -> int:
        try:
            if self.connection is not None:
                async with self._lock:
                    build = await self.connection.serving_build(self.name)
            else:
                temporary = await self.projection.target.connect()
                try:
                    build = await temporary.serving_build(self.name)
                finally:
                    await temporary.close()
        except Exception as error:
            log.debug("%s: cannot read the stored checkpoint: %s", self.name, error)
            return self.last_checkpoint
        if build is not None:
            self.last_checkpoint = build.position
        return self.last_checkpoint
