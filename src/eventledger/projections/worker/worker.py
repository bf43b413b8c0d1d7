"""One projection's life inside a runner: the parts wired together, and the loops that drive them.

Per build of the projection (see :mod:`.builds`): read a batch (:mod:`.reader`), apply it in
one target transaction (:mod:`.applier`), until the log is exhausted; then follow it live (or,
for a rebuild, switch to the new build; for ``run_until_caught_up``, stop). Around the builds:
the lease (:mod:`.lease_keeper`) with its heartbeat, the reports (:mod:`.reporting`), and the
run's own loop, which reconnects when the target is lost and stands by when the lease is
another runner's. What to do at each step is decided in :mod:`.machine`.

All of a worker's transactions go through one target connection, one at a time
(:mod:`.line`); on PostgreSQL that connection also holds the lease, so a batch can only commit
while its lease is held.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from eventledger.errors import (
    CheckpointConflict,
    LeaseLost,
    ProjectionFailed,
    ProjectionRetired,
    ProjectionStateError,
    StoreClosed,
)
from eventledger.projections.builds import Build
from eventledger.projections.failures import EventFailure, describe_error
from eventledger.projections.leases import LeasePolicy
from eventledger.projections.listeners import ProjectionListener
from eventledger.projections.projection import Projection
from eventledger.projections.retries import ProjectionRetryPolicy
from eventledger.projections.segments import Segment
from eventledger.projections.status import ProjectionStatus, StalledReason, ThroughputMeter
from eventledger.projections.targets.base import TargetConnection
from eventledger.projections.worker.applier import BatchApplier
from eventledger.projections.worker.builds import BuildKeeper
from eventledger.projections.worker.decisions import Decisions
from eventledger.projections.worker.lease_keeper import HandedOver, LeaseKeeper
from eventledger.projections.worker.line import Reconnect, TargetLine
from eventledger.projections.worker.machine import AfterRead, Decision, Happening, Phase, after_read
from eventledger.projections.worker.reader import BatchReader
from eventledger.projections.worker.reporting import Reporter
from eventledger.projections.worker.requests import RequestTaker
from eventledger.projections.worker.runs import BuildRun, BuildRuns
from eventledger.projections.worker.sharing import WorkSharing
from eventledger.projections.worker.state import WorkerState
from eventledger.projections.worker.stopping import Stopped, StopSwitch
from eventledger.store.base import EventStore
from eventledger.store.records import VisibilityStatus

log = logging.getLogger("eventledger.projections")


class ProjectionWorker:
    """Runs one projection for a :class:`~eventledger.projections.runner.ProjectionRunner`."""

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
        listeners: ProjectionListener,
        segment: Segment | None = None,
    ) -> None:
        self.store = store
        self.projection = projection
        self.segment = segment
        self.unit = projection.name if segment is None else segment.unit(projection.name)
        """The projection's name, or its segment's (``name[k]``): what statuses, reports and leases say."""
        self.retry = retry
        self.stopping = StopSwitch()
        self.runs = BuildRuns()
        self.line = TargetLine(projection.target)
        self.state = WorkerState(self.unit, self.runs, listeners)
        line, runs, state, stop = self.line, self.runs, self.state, self.stopping
        self.lease = LeaseKeeper(
            self.unit, projection.version, owner, lease, line=line, state=state, stop=stop
        )
        self.builds = BuildKeeper(projection, store, line=line, runs=runs, state=state, segment=segment)
        self.decisions = Decisions(
            projection, runs=runs, line=line, state=state, stop=stop, listeners=listeners, name=self.unit
        )
        self.reader = BatchReader(store, batch_size, retry, state=state, stop=stop, decisions=self.decisions)
        meter = ThroughputMeter()
        self.applier = BatchApplier(
            projection,
            retry,
            line=line,
            runs=runs,
            state=state,
            stop=stop,
            decisions=self.decisions,
            listeners=listeners,
            meter=meter,
            segment=segment,
        )
        self.reporter = Reporter(
            projection,
            store,
            line=line,
            runs=runs,
            state=state,
            lease=self.lease,
            meter=meter,
            stall_after=stall_after,
            segment=segment,
        )
        self.requests = RequestTaker(
            projection, owner, runs=runs, decisions=self.decisions, rebuild=self._rebuild_on
        )
        self._until_caught_up = False
        self._runs_changed = asyncio.Event()

    @property
    def name(self) -> str:
        """The projection's name, or for a segment ``name[k]``."""
        return self.unit

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        """Ask the worker to stop after the batch in progress."""
        self.stopping.stop()

    def reset_stop(self) -> None:
        """Allow :meth:`run` again after a stop."""
        self.stopping.reset()

    async def run(
        self,
        *,
        until_caught_up: bool = False,
        deadline: float | None = None,
        sharing: WorkSharing | None = None,
    ) -> None:
        """Run until stopped (or, with ``until_caught_up``, until every build has caught up).

        With ``sharing`` the lease is taken only within the runner's share of the work, and
        handed over at a batch boundary when the share shrinks (see :mod:`.sharing`).
        """
        self._until_caught_up = until_caught_up
        self.decisions.raise_on_failure = until_caught_up
        self.lease.sharing = sharing
        reconnects = 0
        try:
            while True:
                self.stopping.raise_if_stopping()
                try:
                    await self.line.open()
                    await self.lease.take(deadline)
                    await self._lead(until_caught_up)
                    return
                except (LeaseLost, CheckpointConflict) as error:
                    # Another runner owns the projection now; wait for our turn again.
                    log.warning("%s: %s", self.name, error)
                    self.state.last_error = str(error)
                    await self._disconnect()
                except HandedOver:
                    # The keeper holds the line's lock: no batch starts before the lease is gone.
                    try:
                        await self._disconnect()
                    finally:
                        self.lease.handed_over()
                except ProjectionRetired as error:
                    log.info("%s: %s", self.name, error)
                    self.state.last_error = str(error)
                    self.state.happened(Happening.RETIRED)
                    return
                except (Stopped, ProjectionFailed, ProjectionStateError, StoreClosed):
                    raise
                except Exception as error:
                    if until_caught_up and not isinstance(error, Reconnect):
                        raise
                    reconnects += 1
                    cause = error.__cause__ if isinstance(error, Reconnect) else error
                    self.state.last_error = describe_error(cause or error)
                    log.warning("%s: target unavailable, reconnecting: %s", self.name, self.state.last_error)
                    await self._disconnect()
                    self.state.happened(Happening.TARGET_LOST)
                    await self.stopping.pause(self.retry.outage_delay(reconnects))
        except Stopped:
            pass
        finally:
            self.state.happened(Happening.ENDED)
            try:
                await self.reporter.report_last()
            finally:
                # Even when a second cancellation cuts the report short, the connection (and on
                # PostgreSQL the lease with it) must go.
                await self._disconnect()
                self.lease.handed_over()  # when a cancellation overtook the hand-over
                self.lease.sharing = None

    async def _disconnect(self) -> None:
        self.lease.lost()
        self.runs.stop_feeds()
        await self.line.close()

    async def _lead(self, until_caught_up: bool) -> None:
        """Holding the lease: run every build the target chose until all are done (or one fails)."""
        for build in await self.builds.prepare():
            self._add_run(build, until_caught_up)
        heartbeat = asyncio.create_task(self.lease.heartbeat(self._each_beat))
        reporter = asyncio.create_task(self.reporter.keep_reporting())
        try:
            while True:
                tasks = {run.task for run in self.runs.runs.values() if run.task and not run.task.done()}
                if not tasks:
                    break
                self._runs_changed.clear()
                changed = asyncio.create_task(self._runs_changed.wait())
                watched = {*tasks, changed} if heartbeat.done() else {*tasks, heartbeat, changed}
                try:
                    done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                if heartbeat in done:
                    heartbeat.result()
                for task in done & tasks:
                    if not task.cancelled():
                        task.result()
        finally:
            runs = [run.task for run in self.runs.runs.values() if run.task is not None]
            pending = [heartbeat, reporter, *runs]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            self.runs.stop_feeds()
        if self.runs.all_retired():
            raise ProjectionRetired(self.name, max(self.runs.runs), "a newer build or version replaced it")

    async def _each_beat(self, connection: TargetConnection[Any]) -> None:
        """After each renewal of the lease (the connection's lock held): notice builds replaced
        elsewhere, then take the operators' requests from other processes."""
        await self.builds.notice_retired(connection)
        await self.requests.take(connection)

    async def _rebuild_on(self, connection: TargetConnection[Any]) -> Build:
        """Start a rebuild on ``connection`` (its lock held) and apply it here, beside the serving build."""
        build = await connection.start_rebuild(self.projection)
        if build.number not in self.runs.runs:
            self._add_run(build, self._until_caught_up)
            self._runs_changed.set()
        return build

    def _add_run(self, build: Build, until_caught_up: bool) -> BuildRun:
        run = self.runs.add(build)
        run.task = asyncio.create_task(self._run_build(run, until_caught_up))
        self.state.refresh()
        return run

    async def _run_build(self, run: BuildRun, until_caught_up: bool) -> None:
        try:
            while True:
                self.stopping.raise_if_stopping()
                events = await (self.reader.live(run) if run.live else self.reader.catch_up(run))
                step = after_read(events, rebuilding=run.rebuilding, until_caught_up=until_caught_up)
                if step is AfterRead.APPLY and events:
                    await self.applier.apply(run, events)
                elif step is AfterRead.SWITCH:
                    await self.builds.switch(run)
                elif step is AfterRead.FINISH:
                    return
                elif step is AfterRead.GO_LIVE:
                    run.live = True
                    self.state.refresh()
        except Stopped:
            return
        except ProjectionRetired as error:
            log.info("%s: %s", self.name, error)
            self.builds.retire(run)
        finally:
            run.stop_feed()

    # ------------------------------------------------------------------ operating

    async def decide(self, decision: Decision) -> EventFailure:
        """An operator's decision on the failed event: retry it or skip it; returns that event."""
        return await self.decisions.decide(decision)

    async def request_rebuild(self) -> Build:
        """Start a from-scratch build beside the serving one; it takes over once caught up."""
        if self.segment is not None:
            raise ProjectionStateError(
                f"projection {self.projection.name!r} has segments; rebuild it by raising its version"
            )
        if not type(self.projection.target).replayable:
            raise ProjectionStateError(
                f"projection {self.name!r} writes to a target whose effects must not repeat; "
                "it cannot be rebuilt"
            )
        if self.state.phase is Phase.STANDBY:
            raise ProjectionStateError(
                f"projection {self.name!r} is on standby here; rebuild it on the runner that holds its lease"
            )
        leading = self.line.connection is not None and self.lease.holds
        build = await self.builds.start_rebuild(leading=leading)
        if leading and build.number not in self.runs.runs:
            self._add_run(build, self._until_caught_up)
            self._runs_changed.set()
        return build

    # ------------------------------------------------------------------ observing

    def held_back(self, reason: StalledReason | None) -> None:
        """The runner's latest word on events held back past its threshold (None: nothing is)."""
        self.state.held_back(reason)

    async def wait_for_progress(self, seconds: float) -> None:
        """Sleep until the next committed batch, or at most ``seconds``."""
        await self.state.wait_for_progress(seconds)

    async def checkpoint(self) -> int:
        """The serving build's checkpoint: as applied here while leading, else as its target recorded it."""
        serving = self.runs.serving
        return serving.checkpoint if serving is not None else await self.reporter.stored_checkpoint()

    async def is_caught_up(self) -> bool:
        """True when the serving build has applied everything in the log and follows it live.

        Raises :class:`ProjectionFailed` if the projection has failed.
        """
        self.decisions.raise_if_failed()
        serving = self.runs.serving
        if serving is None or not serving.live or self.runs.rebuilding() is not None:
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
        return await self.reporter.status(visibility, held_since)
