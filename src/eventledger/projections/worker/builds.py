"""A worker's builds through their life: prepared at the lease, switched when a rebuild has caught
up (blue/green), retired when replaced, dropped when retired.

Which stored build serves, continues, retires or is dropped is the target's
:meth:`~eventledger.projections.targets.base.TargetConnection.prepare` (over
:func:`~eventledger.projections.builds.plan_builds`); this part carries the decisions out on
the worker's connection and keeps :class:`~.runs.BuildRuns` in step.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from eventledger.projections.builds import Build, BuildState
from eventledger.projections.projection import Projection
from eventledger.projections.segments import Segment
from eventledger.projections.targets.base import TargetConnection
from eventledger.projections.worker.line import TargetLine
from eventledger.projections.worker.runs import BuildRun, BuildRuns
from eventledger.projections.worker.state import WorkerState
from eventledger.store.base import EventStore

log = logging.getLogger("eventledger.projections")

_SEGMENT_SWITCH_POLL = 0.2
"""Seconds a caught-up segment of a new build waits before looking whether all the others are."""


class BuildKeeper:
    """Prepares, switches, retires and drops the builds of one projection."""

    def __init__(
        self,
        projection: Projection[Any],
        store: EventStore,
        *,
        line: TargetLine,
        runs: BuildRuns,
        state: WorkerState,
        segment: Segment | None = None,
    ) -> None:
        self.projection = projection
        self.name = projection.name
        self.segment = segment
        self.store = store
        self._line = line
        self._runs = runs
        self._state = state

    async def prepare(self) -> tuple[Build, ...]:
        """Register the projection with its target, drop what is stale; the builds to run now."""
        connection = self._line.current()
        target = self.projection.target
        start = await self.store.head_position() if target.starts_at_end else 0
        async with self._line.lock:
            preparation = await connection.prepare(self.projection, start, replayable=type(target).replayable)
        for stale in preparation.drop:
            async with self._line.lock:
                await connection.drop(self.projection, stale)
        self._runs.clear()
        if self.segment is None:
            return preparation.run
        builds = []
        for build in preparation.run:
            async with self._line.lock:
                builds.append(await connection.segment_build(build, self.segment.index))
        return tuple(builds)

    async def notice_retired(self, connection: TargetConnection[Any]) -> None:
        """Retire the builds that were replaced, perhaps by a runner of a newer version elsewhere.

        The caller holds the connection's lock (it runs on the lease's heartbeat).
        """
        for run in list(self._runs.runs.values()):
            if run.retired:
                continue
            current = await connection.load(self.name, run.build.number)
            if current is None or current.state is BuildState.RETIRED:
                self.retire(run)

    def retire(self, run: BuildRun) -> None:
        """Stop applying to ``run``'s build: it was replaced."""
        run.retired = True
        run.live = False
        if run.task is not None and run.task is not asyncio.current_task():
            run.task.cancel()
        if self._runs.serving is run:
            self._runs.serving = None
        self._state.refresh()

    async def switch(self, run: BuildRun) -> None:
        """``run``'s rebuild has caught up: make it the build readers see, and drop the old one."""
        connection = self._line.current()
        if self.segment is not None and not await self._all_segments_reached(connection, run):
            # The last segment to catch up makes the switch; this one looks again shortly.
            await asyncio.sleep(_SEGMENT_SWITCH_POLL)
            return
        async with self._line.lock:
            retired = await connection.activate(self.projection, run.build)
            current = await connection.load(self.name, run.build.number)
        if current is not None:
            run.build = replace(current, segment=run.build.segment, position=run.checkpoint)
        run.rebuilding = False
        for other in self._runs.runs.values():
            if other is not run and other.build.state is BuildState.ACTIVE:
                self.retire(other)
        self._runs.serve(run)
        log.info("%s: build %d is now serving", self.name, run.build.number)
        self._state.refresh()
        for old in retired:
            async with self._line.lock:
                await connection.drop(self.projection, old)

    async def _all_segments_reached(self, connection: TargetConnection[Any], run: BuildRun) -> bool:
        """Has every segment of ``run``'s build applied the log up to where this one caught up?"""
        assert self.segment is not None
        async with self._line.lock:
            current = await connection.load(self.name, run.build.number)
            positions = await connection.segment_positions(self.name, run.build.number)
        if current is not None and current.state is BuildState.ACTIVE:
            return True  # another segment switched already
        return len(positions) == self.segment.count and min(positions.values()) >= run.checkpoint

    async def start_rebuild(self, *, leading: bool) -> Build:
        """A new build from the start of the log (or the one in progress).

        ``leading``: this worker holds the lease, so the build is made on its own connection;
        otherwise on a connection of its own, for the runner holding the lease to pick up.
        """
        if leading:
            async with self._line.lock:
                return await self._line.current().start_rebuild(self.projection)
        temporary = await self.projection.target.connect()
        try:
            return await temporary.start_rebuild(self.projection)
        finally:
            await temporary.close()
