"""One projection's life inside a runner: lease, builds, batches, retries, failure and hand-over.

The loop, per build of the projection:

1. **Catch up**: read ``store.read_all(after=checkpoint, limit=batch_size)`` and apply it as one
   batch (one target transaction, checkpoint compare-and-set inside), until a read comes back
   empty.
2. **Live**: follow ``store.subscribe(after=checkpoint)``; a pump task feeds a bounded queue,
   and each batch takes what is waiting (at most ``batch_size``).

Any read error drops back to catch-up, which reads one event at a time when an event cannot be
decoded, so the projection stops exactly at it. A handler error rolls the batch back; the
batch is then applied one event per transaction to find the failing event, which is retried
with back-off and, when retries run out, leaves the projection ``failed`` at that event until
an operator retries or skips it. Database errors (not an event's fault) are retried without
limit in state ``stalled``.

All of a worker's transactions go through one target connection, one at a time; on PostgreSQL
that connection also holds the lease, so a batch can only commit while its lease is held.

While it holds the lease the worker reports its state, failure, stall and rate into the
target's bookkeeping (:class:`ProjectionReport`) on every state change and every heartbeat,
so that other processes see what it sees. A live projection whose next events are held back
by an open transaction (the runner tells it, see :mod:`eventledger.projections.lag`) is
``stalled``; it logs that once when it begins, naming the transaction, and once when it ends.

The parts by job: :mod:`.base` (shared state, stopping, waiting), :mod:`.state` (state,
status, reports), :mod:`.applying` (reading, applying, retries, failures) and this module (the
lease and the builds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from eventledger.errors import (
    CheckpointConflict,
    LeaseLost,
    ProjectionFailed,
    ProjectionRetired,
    ProjectionStateError,
    StoreClosed,
)
from eventledger.projections.leases import lease_key
from eventledger.projections.status import ProjectionState
from eventledger.projections.targets.base import Build, BuildState
from eventledger.projections.worker.applying import BatchApplier
from eventledger.projections.worker.base import BuildRun, Reconnect, Stopped

log = logging.getLogger("eventledger.projections")


class ProjectionWorker(BatchApplier):
    """Runs one projection for a :class:`~eventledger.projections.runner.ProjectionRunner`."""

    # ------------------------------------------------------------------ running

    async def run(self, *, until_caught_up: bool = False, deadline: float | None = None) -> None:
        """Run until stopped (or, with ``until_caught_up``, until every build has caught up)."""
        self._until_caught_up = until_caught_up
        reconnects = 0
        try:
            while True:
                self._raise_if_stopping()
                try:
                    if self.connection is None:
                        self.connection = await self.projection.target.connect()
                    await self._take_lease(deadline)
                    await self._lead(until_caught_up)
                    return
                except (LeaseLost, CheckpointConflict) as error:
                    # Another runner owns the projection now; wait for our turn again.
                    log.warning("%s: %s", self.name, error)
                    self.last_error = str(error)
                    await self._drop_connection()
                except ProjectionRetired as error:
                    log.info("%s: %s", self.name, error)
                    self.last_error = str(error)
                    self._phase = ProjectionState.RETIRED
                    return
                except (Stopped, ProjectionFailed, ProjectionStateError, StoreClosed):
                    raise
                except Exception as error:
                    if until_caught_up and not isinstance(error, Reconnect):
                        raise
                    reconnects += 1
                    cause = error.__cause__ if isinstance(error, Reconnect) else error
                    self.last_error = f"{type(cause).__name__}: {cause}"
                    log.warning("%s: target unavailable, reconnecting: %s", self.name, self.last_error)
                    await self._drop_connection()
                    self._phase = ProjectionState.STALLED
                    self._refresh()
                    await self._pause(self.retry.delay(min(reconnects, 8)))
        except Stopped:
            pass
        finally:
            if self._phase is not ProjectionState.RETIRED:
                self._phase = ProjectionState.STOPPED
            self._refresh()
            try:
                await self._report_last()
            finally:
                # Even when a second cancellation cuts the report short, the connection (and on
                # PostgreSQL the lease with it) must go.
                await self._drop_connection()

    async def _drop_connection(self) -> None:
        self.holds_lease = False
        self._stop_feeds()
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _take_lease(self, deadline: float | None) -> None:
        connection = self._connection()
        key = lease_key(self.projection.name, self.projection.version)
        while True:
            async with self._lock:
                taken = await connection.acquire_lease(key, self.owner, self.lease.ttl)
            if taken:
                self.holds_lease = True
                self._phase = ProjectionState.CATCHING_UP
                self._refresh()
                return
            if self._phase is not ProjectionState.STANDBY:
                log.info("%s: another runner holds the lease; standing by", self.name)
            self._phase = ProjectionState.STANDBY
            self._refresh()
            if deadline is not None and time.monotonic() >= deadline:
                raise ProjectionStateError(
                    f"projection {self.name!r}: another runner holds its lease ({key}); "
                    "stop it, or wait for its lease to expire"
                )
            await self._pause(self.lease.standby_poll)

    # ------------------------------------------------------------------ builds

    async def _lead(self, until_caught_up: bool) -> None:
        connection = self._connection()
        target = self.projection.target
        start = await self.store.head_position() if target.starts_at_end else 0
        async with self._lock:
            preparation = await connection.prepare(self.projection, start, replayable=type(target).replayable)
        for stale in preparation.drop:
            async with self._lock:
                await connection.drop(self.projection, stale)
        self.runs = {}
        self.serving = None
        for build in preparation.run:
            self._add_run(build, until_caught_up)
        heartbeat = asyncio.create_task(self._heartbeat())
        reporter = asyncio.create_task(self._keep_reporting())
        try:
            while True:
                tasks = {run.task for run in self.runs.values() if run.task and not run.task.done()}
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
            pending = [heartbeat, reporter, *(run.task for run in self.runs.values() if run.task is not None)]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            self._stop_feeds()
        if self.runs and all(run.retired for run in self.runs.values()):
            raise ProjectionRetired(self.name, max(self.runs), "a newer build or version replaced it")

    def _add_run(self, build: Build, until_caught_up: bool) -> BuildRun:
        run = BuildRun(build, build.position, rebuilding=build.state is BuildState.BUILDING)
        self.runs[build.number] = run
        if build.state is BuildState.ACTIVE:
            self.serving = run
            self.last_checkpoint = run.checkpoint
        run.task = asyncio.create_task(self._run_build(run, until_caught_up))
        self._refresh()
        return run

    async def _heartbeat(self) -> None:
        connection = self._connection()
        while True:
            try:
                await self._pause(self.lease.renew_every)
            except Stopped:
                return  # the builds finish their batches; the lease goes when the connection closes
            async with self._lock:
                if not await connection.renew_lease():
                    raise LeaseLost(self.name, self.owner)
                for run in list(self.runs.values()):
                    if run.retired:
                        continue
                    current = await connection.load(self.name, run.build.number)
                    if current is None or current.state is BuildState.RETIRED:
                        # Replaced by a runner of a newer version, perhaps in another process.
                        self._retire(run)

    def _retire(self, run: BuildRun) -> None:
        run.retired = True
        run.live = False
        if run.task is not None and run.task is not asyncio.current_task():
            run.task.cancel()
        if self.serving is run:
            self.serving = None
        self._refresh()

    async def _run_build(self, run: BuildRun, until_caught_up: bool) -> None:
        try:
            while True:
                self._raise_if_stopping()
                events = await (self._next_live_batch(run) if run.live else self._read_batch(run))
                if events is None:
                    if run.rebuilding:
                        await self._switch(run)
                        continue
                    if until_caught_up:
                        return
                    run.live = True
                    self._refresh()
                    continue
                if events:
                    await self._apply_with_retries(run, events)
        except Stopped:
            return
        except ProjectionRetired as error:
            log.info("%s: %s", self.name, error)
            self._retire(run)
        finally:
            self._stop_feed(run)

    async def _switch(self, run: BuildRun) -> None:
        connection = self._connection()
        async with self._lock:
            retired = await connection.activate(self.projection, run.build)
            current = await connection.load(self.name, run.build.number)
        if current is not None:
            run.build = current
        run.rebuilding = False
        for other in self.runs.values():
            if other is not run and other.build.state is BuildState.ACTIVE:
                self._retire(other)
        self.serving = run
        self.last_checkpoint = run.checkpoint
        log.info("%s: build %d is now serving", self.name, run.build.number)
        self._refresh()
        for old in retired:
            async with self._lock:
                await connection.drop(self.projection, old)

    async def request_rebuild(self) -> Build:
        """Start a from-scratch build beside the serving one; it takes over once caught up."""
        if not type(self.projection.target).replayable:
            raise ProjectionStateError(
                f"projection {self.name!r} writes to a target whose effects must not repeat; "
                "it cannot be rebuilt"
            )
        if self._phase is ProjectionState.STANDBY:
            raise ProjectionStateError(
                f"projection {self.name!r} is on standby here; rebuild it on the runner that holds its lease"
            )
        connection = self.connection
        if connection is not None and self.holds_lease:
            async with self._lock:
                build = await connection.start_rebuild(self.projection)
            if build.number not in self.runs:
                self._add_run(build, self._until_caught_up)
                self._runs_changed.set()
            return build
        temporary = await self.projection.target.connect()
        try:
            return await temporary.start_rebuild(self.projection)
        finally:
            await temporary.close()
