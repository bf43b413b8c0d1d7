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
by an open transaction (the runner tells it, see :mod:`.lag`) is ``stalled``; it logs that
once when it begins, naming the transaction, and once when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from eventledger.errors import (
    CheckpointConflict,
    LeaseLost,
    ProjectionFailed,
    ProjectionRetired,
    ProjectionStateError,
    StoreClosed,
    StoreUnavailable,
)
from eventledger.events import RecordedEvent
from eventledger.projections.lag import measure_lag
from eventledger.projections.leases import LeasePolicy, lease_key
from eventledger.projections.projection import Projection
from eventledger.projections.reading import (
    LiveFeed,
    is_decode_error,
    read_batch,
    read_until_undecodable,
    undecodable,
)
from eventledger.projections.retries import ProjectionRetryPolicy
from eventledger.projections.status import (
    BatchApplied,
    EventFailed,
    FailureInfo,
    ProjectionListener,
    ProjectionState,
    ProjectionStatus,
    RebuildProgress,
    StalledReason,
    StateChanged,
    ThroughputMeter,
)
from eventledger.projections.targets.base import (
    Build,
    BuildState,
    FailedEvent,
    ProjectionReport,
    TargetConnection,
)
from eventledger.store.base import EventStore, VisibilityStatus

log = logging.getLogger("eventledger.projections")
_T = TypeVar("_T")


class _Stopped(Exception):
    """The runner is stopping: leave the loop between batches."""


class _Reconnect(Exception):
    """The target connection broke: make a new one (the lease went with it)."""


class _HandlerFailed(Exception):
    def __init__(self, recorded: RecordedEvent, error: Exception) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.recorded = recorded
        self.error = error


@dataclass
class _Decision:
    action: str
    done: asyncio.Future[FailedEvent]


@dataclass
class BuildRun:
    """The state of one build this worker is applying events to."""

    build: Build
    checkpoint: int
    rebuilding: bool
    live: bool = False
    retrying: bool = False
    retired: bool = False
    failure: FailureInfo | None = None
    failed_event: FailedEvent | None = None
    decision: asyncio.Future[_Decision] | None = None
    task: asyncio.Task[None] | None = None
    feed: LiveFeed | None = None
    last_commit: float = field(default_factory=time.monotonic)


def _failed(projection: str, failed: FailedEvent) -> ProjectionFailed:
    return ProjectionFailed(projection, failed.position, failed.event_type, failed.stream_id, failed.error)


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
        listeners: Sequence[ProjectionListener],
    ) -> None:
        self.store = store
        self.projection = projection
        self.owner = owner
        self.batch_size = batch_size
        self.retry = retry
        self.lease = lease
        self.stall_after = stall_after
        self.listeners = listeners
        self.meter = ThroughputMeter()
        self.connection: TargetConnection[Any] | None = None
        self.runs: dict[int, BuildRun] = {}
        self.serving: BuildRun | None = None
        self.last_checkpoint = 0
        self.last_error: str | None = None
        self.holds_lease = False
        self._phase = ProjectionState.STARTING
        self._state = ProjectionState.STARTING
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._lock = asyncio.Lock()
        self._runs_changed = asyncio.Event()
        self._progress = asyncio.Event()
        self._until_caught_up = False
        self._held_back: StalledReason | None = None
        self._held_back_logged: StalledReason | None = None
        self._report_due = asyncio.Event()

    @property
    def name(self) -> str:
        """The projection's name."""
        return self.projection.name

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        """Ask the worker to stop after the batch in progress."""
        self._stopping = True
        self._stop_event.set()

    def reset_stop(self) -> None:
        """Allow :meth:`run` again after a stop."""
        self._stopping = False
        self._stop_event = asyncio.Event()

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
                except (_Stopped, ProjectionFailed, ProjectionStateError, StoreClosed):
                    raise
                except Exception as error:
                    if until_caught_up and not isinstance(error, _Reconnect):
                        raise
                    reconnects += 1
                    cause = error.__cause__ if isinstance(error, _Reconnect) else error
                    self.last_error = f"{type(cause).__name__}: {cause}"
                    log.warning("%s: target unavailable, reconnecting: %s", self.name, self.last_error)
                    await self._drop_connection()
                    self._phase = ProjectionState.STALLED
                    self._refresh()
                    await self._pause(self.retry.delay(min(reconnects, 8)))
        except _Stopped:
            pass
        finally:
            if self._phase is not ProjectionState.RETIRED:
                self._phase = ProjectionState.STOPPED
            self._refresh()
            await self._report_last()
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

    def _connection(self) -> TargetConnection[Any]:
        if self.connection is None:
            raise _Reconnect("no target connection")
        return self.connection

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
            except _Stopped:
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
        except _Stopped:
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

    # ------------------------------------------------------------------ reading

    async def _read_batch(self, run: BuildRun) -> list[RecordedEvent] | None:
        """The next catch-up batch, or None when the log has nothing after the checkpoint."""
        outages = 0
        while True:
            try:
                events = await read_batch(self.store, run.checkpoint, self.batch_size)
                self._recovered(run)
                return events or None
            except StoreClosed:
                raise
            except Exception as error:
                if is_decode_error(error):
                    return await self._read_up_to_undecodable(run)
                outages += 1
                self._retrying(run, error)
                await self._pause(self.retry.delay(min(outages, 8)))

    async def _read_up_to_undecodable(self, run: BuildRun) -> list[RecordedEvent] | None:
        attempt = 0
        while True:
            events, error = await read_until_undecodable(self.store, run.checkpoint, self.batch_size)
            if events or error is None:
                return events or None
            if isinstance(error, StoreClosed):
                raise error
            if not is_decode_error(error):
                return []  # the database's trouble: back to the ordinary read and its retries
            # The very next event cannot be decoded: retry, then stop at it.
            attempt += 1
            final = attempt >= self.retry.attempts
            failed = undecodable(error)
            self._event_failed(failed, attempt, final)
            if final:
                await self._fail(run, failed)
                return []
            self._retrying(run, error)
            await self._pause(self.retry.delay(attempt))

    async def _next_live_batch(self, run: BuildRun) -> list[RecordedEvent]:
        if run.feed is None:
            run.feed = LiveFeed(self.store, run.checkpoint, capacity=self.batch_size * 2)
        first = await self._interruptible(run.feed.next())
        items = [first, *run.feed.waiting(self.batch_size - 1)]
        events: list[RecordedEvent] = []
        for item in items:
            if isinstance(item, Exception):
                if isinstance(item, StoreClosed):
                    raise item
                # Catch-up reading knows how to stop exactly at an undecodable event.
                self._stop_feed(run)
                run.live = False
                self._refresh()
                break
            events.append(item)
        return events

    def _stop_feed(self, run: BuildRun) -> None:
        if run.feed is not None:
            run.feed.close()
        run.feed = None

    def _stop_feeds(self) -> None:
        for run in self.runs.values():
            self._stop_feed(run)
            run.live = False

    # ------------------------------------------------------------------ applying

    async def _apply(self, run: BuildRun, events: list[RecordedEvent]) -> None:
        connection = self._connection()
        started = time.perf_counter()
        handled = 0
        position = events[-1].position
        batch = connection.batch(self.projection, run.build, run.checkpoint, position)
        async with self._lock, batch as session:
            for recorded in events:
                handler = self.projection.handler_for(type(recorded.event))
                if handler is None:
                    continue
                try:
                    await handler(recorded.event, recorded, session)
                except Exception as error:
                    raise _HandlerFailed(recorded, error) from error
                handled += 1
        run.checkpoint = position
        run.last_commit = time.monotonic()
        if run is self.serving:
            self.last_checkpoint = position
        self.meter.record(len(events))
        self._progress.set()
        self._progress = asyncio.Event()
        self._emit(
            "batch_applied",
            BatchApplied(
                projection=self.name,
                build=run.build.number,
                events=len(events),
                handled=handled,
                checkpoint=position,
                seconds=time.perf_counter() - started,
                rebuilding=run.rebuilding,
            ),
        )

    async def _apply_with_retries(self, run: BuildRun, events: list[RecordedEvent]) -> None:
        attempt = 0
        outages = 0
        while True:
            try:
                await self._apply(run, events)
                self._recovered(run)
                return
            except (CheckpointConflict, LeaseLost, ProjectionRetired, _Stopped, _Reconnect):
                raise
            except Exception as error:
                connection = self._connection()
                if connection.broken:
                    raise _Reconnect(str(error)) from error
                if isinstance(error, StoreUnavailable) or connection.is_transient(error):
                    # The database's trouble, not an event's: wait it out, however long.
                    outages += 1
                    self._retrying(run, error)
                    await self._pause(self.retry.delay(min(outages, 8)))
                    continue
                if len(events) > 1:
                    # One event per transaction finds the culprit (a handler's error, or one
                    # the database raised only at commit); the events before it commit.
                    for recorded in events:
                        await self._apply_with_retries(run, [recorded])
                    return
                attempt += 1
                final = attempt >= self.retry.attempts
                recorded = error.recorded if isinstance(error, _HandlerFailed) else events[0]
                reason = (
                    str(error) if isinstance(error, _HandlerFailed) else f"{type(error).__name__}: {error}"
                )
                failure = FailedEvent(
                    position=recorded.position,
                    stream_id=recorded.stream_id,
                    event_type=recorded.type,
                    error=reason,
                    event_id=recorded.event_id,
                )
                self._event_failed(failure, attempt, final)
                if final:
                    if await self._fail(run, failure) == "skip":
                        return
                    attempt = 0
                    continue
                self._retrying(run, error)
                await self._pause(self.retry.delay(attempt))

    async def _fail(self, run: BuildRun, failed: FailedEvent) -> str:
        """Stop at ``failed`` until an operator decides; returns ``retry`` or ``skip``."""
        run.retrying = False
        run.failed_event = failed
        run.failure = FailureInfo(
            position=failed.position,
            event_type=failed.event_type,
            stream_id=failed.stream_id,
            error=failed.error,
            attempts=self.retry.attempts,
            at=datetime.now(UTC),
        )
        self.last_error = failed.error
        log.error(
            "%s: failed at position %d (%s in %s): %s",
            self.name,
            failed.position,
            failed.event_type,
            failed.stream_id,
            failed.error,
        )
        self._refresh()
        if self._until_caught_up:
            raise _failed(self.name, failed)
        run.decision = asyncio.get_running_loop().create_future()
        decision = await self._interruptible(run.decision)
        run.decision = None
        try:
            if decision.action == "skip":
                async with self._lock:
                    await self._connection().skip(self.projection, run.build, run.checkpoint, failed)
                run.checkpoint = failed.position
                if run is self.serving:
                    self.last_checkpoint = failed.position
                log.warning("%s: skipped position %d on an operator's request", self.name, failed.position)
            decision.done.set_result(failed)
        except BaseException as error:
            decision.done.set_exception(error)
            raise
        finally:
            run.failure = None
            run.failed_event = None
            self._refresh()
        return decision.action

    async def decide(self, action: str) -> FailedEvent:
        """An operator's decision on the failed event: ``retry`` it or ``skip`` it."""
        for run in self.runs.values():
            if run.decision is not None and not run.decision.done():
                done: asyncio.Future[FailedEvent] = asyncio.get_running_loop().create_future()
                run.decision.set_result(_Decision(action, done))
                return await done
        raise ProjectionStateError(f"projection {self.name!r} is {self.state.value}, not failed")

    # ------------------------------------------------------------------ state

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

    def _retrying(self, run: BuildRun, error: BaseException) -> None:
        handler_error = isinstance(error, _HandlerFailed)
        self.last_error = str(error) if handler_error else f"{type(error).__name__}: {error}"
        if not run.retrying:
            log.warning("%s: retrying after: %s", self.name, self.last_error)
        run.retrying = True
        self._refresh()

    def _recovered(self, run: BuildRun) -> None:
        if self._phase is ProjectionState.STALLED:
            self._phase = ProjectionState.CATCHING_UP
        if run.retrying:
            run.retrying = False
        self._refresh()

    def _event_failed(self, failed: FailedEvent, attempt: int, final: bool) -> None:
        self._emit(
            "event_failed",
            EventFailed(self.name, failed.position, failed.event_type, failed.error, attempt, final),
        )

    def _emit(self, method: str, payload: object) -> None:
        for listener in self.listeners:
            try:
                getattr(listener, method)(payload)
            except Exception:
                log.exception("projection listener %r failed in %s", listener, method)

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
                raise _failed(self.name, run.failed_event)
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

    # ------------------------------------------------------------------ waiting

    def _raise_if_stopping(self) -> None:
        if self._stopping:
            raise _Stopped

    async def _pause(self, seconds: float) -> None:
        await self._interruptible(asyncio.sleep(seconds))

    async def _interruptible(self, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` unless the worker is asked to stop first (then raise ``_Stopped``)."""
        if self._stopping:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise _Stopped
        future = asyncio.ensure_future(awaitable)
        stopper = asyncio.create_task(self._stop_event.wait())
        try:
            done, _ = await asyncio.wait({future, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not future.done():
                future.cancel()
        if future in done:
            return future.result()
        raise _Stopped
