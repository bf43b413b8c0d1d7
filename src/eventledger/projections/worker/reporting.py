"""What a worker says about its projection: the status a runner answers with, and the reports
other processes read.

While it holds the lease the worker records a :class:`ProjectionReport` in the target's
bookkeeping on every state change and at least every ``renew_every`` seconds, so that
``eventledger projections`` in another process sees what it sees. A report is informative:
failing to write one never stops the projection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from eventledger.projections.builds import Build
from eventledger.projections.lag import measure_lag
from eventledger.projections.projection import Projection
from eventledger.projections.reports import ProjectionReport
from eventledger.projections.segments import Segment
from eventledger.projections.status import ProjectionStatus, RebuildProgress, ThroughputMeter
from eventledger.projections.targets.base import TargetConnection
from eventledger.projections.worker.lease_keeper import LeaseKeeper
from eventledger.projections.worker.line import TargetLine
from eventledger.projections.worker.machine import observed_state, reported_state
from eventledger.projections.worker.runs import BuildRuns
from eventledger.projections.worker.state import WorkerState
from eventledger.store.base import EventStore
from eventledger.store.records import VisibilityStatus

log = logging.getLogger("eventledger.projections")


class Reporter:
    """Builds the status and the reports of the worker running ``projection``."""

    def __init__(
        self,
        projection: Projection[Any],
        store: EventStore,
        *,
        line: TargetLine,
        runs: BuildRuns,
        state: WorkerState,
        lease: LeaseKeeper,
        meter: ThroughputMeter,
        stall_after: float,
        segment: Segment | None = None,
    ) -> None:
        self.projection = projection
        self.segment = segment
        self.name = projection.name if segment is None else segment.unit(projection.name)
        self.store = store
        self.stall_after = stall_after
        self._line = line
        self._runs = runs
        self._state = state
        self._lease = lease
        self._meter = meter

    async def status(
        self, visibility: VisibilityStatus | None, held_since: datetime | None
    ) -> ProjectionStatus:
        """See :meth:`~eventledger.projections.worker.ProjectionWorker.status`."""
        if visibility is None:
            visibility = await self.store.visibility_status()
        runs = self._runs
        if runs.serving is not None:
            checkpoint = runs.serving.checkpoint
        else:
            # On standby, stopped or not started: the serving build's checkpoint as stored, so
            # that a standby does not report the whole log as lag.
            checkpoint = await self.stored_checkpoint()
        lag = await measure_lag(self.store, checkpoint, visibility, held_since)
        newest_commit = max((run.last_commit for run in runs.runs.values()), default=time.monotonic())
        state = observed_state(
            self._state.current,
            lag_seconds=lag.seconds,
            since_commit=time.monotonic() - newest_commit,
            stall_after=self.stall_after,
        )
        rebuilding = runs.rebuilding()
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
            events_per_second=self._meter.rate(),
            last_error=self._state.last_error,
            failure=runs.failure(),
            rebuild=None
            if rebuilding is None
            else RebuildProgress(
                build=rebuilding.build.number,
                version=rebuilding.build.version,
                checkpoint=rebuilding.checkpoint,
                lag_events=max(head - rebuilding.checkpoint, 0) + held_back,
            ),
            owner=self._lease.owner,
            holds_lease=self._lease.holds,
            build=None if runs.serving is None else runs.serving.build.number,
            written_position=visibility.written_position,
            held_back_events=held_back,
            holding_transaction=visibility.oldest_open_transaction if held_back else None,
            stalled_reason=self._state.stalled_reason,
        )

    def report(self) -> ProjectionReport:
        """What this worker would tell other processes now (see :class:`ProjectionReport`)."""
        failure = self._runs.failure()
        serving = self._runs.serving
        return ProjectionReport(
            projection=self.name,
            version=self.projection.version,
            owner=self._lease.owner,
            state=reported_state(self._state.current, failed=failure is not None),
            build=None if serving is None else serving.build.number,
            events_per_second=self._meter.rate(),
            last_error=self._state.last_error,
            failure=failure,
            stalled_reason=self._state.stalled_reason,
            reported_at=datetime.now(UTC),
            interval=self._lease.policy.renew_every,
        )

    async def keep_reporting(self) -> None:
        """Report now, then on every state change and at least every ``renew_every`` seconds."""
        due = self._state.report_due
        while True:
            due.clear()
            await self._report()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
            # lands as the event is set (a state change while the worker stops).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._lease.policy.renew_every):
                    await due.wait()

    async def report_last(self) -> None:
        """The final report of a run (stopped, retired or failed), while the lease is still held."""
        connection = self._line.connection
        if connection is None or not self._lease.holds or connection.broken or self._lease.handing_over:
            return  # (handing over: the lease keeper holds the line's lock until the connection closes)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._lease.policy.renew_every):
                await self._report()

    async def _report(self) -> None:
        connection = self._line.connection
        if connection is None or not self._lease.holds:
            return
        try:
            async with self._line.lock:
                await connection.record_report(self.report())
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # Reports inform; a failure to write one must never stop the projection.
            log.debug("%s: could not record the report: %s", self.name, error)

    async def stored_checkpoint(self) -> int:
        """The serving build's checkpoint as its target recorded it (the last known one when unreadable)."""
        try:
            connection = self._line.connection
            if connection is not None:
                async with self._line.lock:
                    build = await self._serving(connection)
            else:
                temporary = await self.projection.target.connect()
                try:
                    build = await self._serving(temporary)
                finally:
                    await temporary.close()
        except Exception as error:
            log.debug("%s: cannot read the stored checkpoint: %s", self.name, error)
            return self._runs.last_checkpoint
        if build is not None:
            self._runs.last_checkpoint = build.position
        return self._runs.last_checkpoint

    async def _serving(self, connection: TargetConnection[Any]) -> Build | None:
        """The serving build as stored; for a segment, with the segment's checkpoint."""
        build = await connection.serving_build(self.projection.name)
        if build is None or self.segment is None:
            return build
        positions = await connection.segment_positions(build.projection, build.number)
        index = self.segment.index
        return replace(build, segment=index, position=positions.get(index, build.position))
