"""The projection runner: many projections in one process, each exactly once into its read model.

>>> async def serve(store: EventStore) -> None:
...     summaries = OrderSummaries(SQLiteTarget("read.db"))
...     runner = ProjectionRunner(store, [summaries])
...     await runner.run()                       # until SIGTERM, runner.stop() or cancellation

``run_until_caught_up()`` applies everything in the log and returns (for scripts and tests).
While ``run()`` runs in another task, ``wait_for_position(p, timeout=...)`` waits until the
projections' checkpoints reach position ``p`` (read-your-writes after an append), and
``wait_until_caught_up()`` until every projection has applied every event appended so far.
Neither waits for ever: they raise :class:`~eventledger.projections.waits.ProjectionNotRunning`
when nothing runs the projections (see :mod:`.waits`).

Each projection runs only where its lease is held: start the same runner in several processes
or on several machines, and one applies events while the others wait as hot standbys. With
``share=SharePolicy()`` the runners of the same projections divide them instead: each takes a
fair share of the leases, and a runner joining or leaving makes the others rebalance at batch
boundaries (see :mod:`.membership`).

While it runs, the runner also watches the store's visibility (one reading per
``held_back_poll`` seconds for all its projections, see :mod:`.lag`): when committed events
stay held back behind an open transaction for longer than ``held_back_stall_after``, its live
projections report ``stalled`` with that transaction as the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Sequence
from typing import Any

from eventledger.errors import InvalidArgument, ProjectionStateError, UnknownProjection
from eventledger.projections.builds import Build
from eventledger.projections.failures import DeadLetter, EventFailure
from eventledger.projections.lag import DEFAULT_HELD_BACK_STALL_AFTER, HeldBackWatch
from eventledger.projections.leases import LeasePolicy, new_owner_id
from eventledger.projections.listeners import Listeners, ProjectionListener
from eventledger.projections.membership import SharePolicy, group_id
from eventledger.projections.projection import Projection
from eventledger.projections.retries import ProjectionRetryPolicy
from eventledger.projections.segments import segments_of
from eventledger.projections.status import ProjectionStatus
from eventledger.projections.waits import (
    ProgressSignal,
    ProjectionNotRunning,
    WaitReading,
    checked_position,
    checked_timeout,
    wait_until,
)
from eventledger.projections.worker import Decision, ProjectionWorker
from eventledger.projections.worker.sharing import WorkSharing
from eventledger.store.base import EventStore
from eventledger.store.records import VisibilityStatus

log = logging.getLogger("eventledger.projections")


class ProjectionRunner:
    """Runs projections against an event store, each into its own target.

    - ``batch_size``: events per transaction (and per catch-up read).
    - ``retry``: how failing events and database outages are retried (:class:`ProjectionRetryPolicy`).
    - ``lease``: lease and standby timings (:class:`LeasePolicy`).
    - ``stall_after``: seconds without progress, while events wait, before a projection
      reports ``stalled``.
    - ``held_back_stall_after``: seconds committed events may stay held back behind an open
      transaction (PostgreSQL) before the live projections waiting for them report
      ``stalled``, naming the transaction (default 5). Held-back events count as lag at once.
    - ``listeners``: :class:`ProjectionListener` objects told of every batch, state change and
      failure (for metrics).
    - ``owner``: this runner's identity in leases (default ``host:pid:random``).
    - ``share``: a :class:`SharePolicy` to divide the projections with the other runners of
      the same projections (default: every runner takes every lease it can; the others stand
      by). The members are kept in the target of the first projection by name, which must be
      a SQL target (SQLite, PostgreSQL); with another target every runner takes what it can.
      Sharing is for :meth:`run`; :meth:`run_until_caught_up` takes every lease it can.

    A projection with ``segments=N`` runs as N workers named ``name[0]`` ... ``name[N-1]``
    (see :mod:`.segments`); statuses, operator actions and ``wait_for_position(projection=...)``
    take those names (the last also the projection's own, for all of its segments).
    """

    def __init__(
        self,
        store: EventStore,
        projections: Sequence[Projection[Any]],
        *,
        batch_size: int = 500,
        retry: ProjectionRetryPolicy | None = None,
        lease: LeasePolicy | None = None,
        stall_after: float = 30.0,
        held_back_stall_after: float = DEFAULT_HELD_BACK_STALL_AFTER,
        listeners: Sequence[ProjectionListener] = (),
        owner: str | None = None,
        share: SharePolicy | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, not {batch_size!r}")
        if (
            isinstance(held_back_stall_after, bool)
            or not isinstance(held_back_stall_after, int | float)
            or not held_back_stall_after > 0
        ):
            raise InvalidArgument(
                f"held_back_stall_after must be a number of seconds > 0, not {held_back_stall_after!r}"
            )
        names = [projection.name for projection in projections]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"projection names must be unique in a runner; repeated: {', '.join(duplicates)}"
            )
        self.store = store
        self.owner = owner or new_owner_id()
        self.listeners: list[ProjectionListener] = list(listeners)
        self._progress = ProgressSignal()  # wakes the waits
        # Listeners reads the list, so later listeners are heard too.
        everyone = Listeners([self._progress, Listeners(self.listeners)])
        self._lease = lease or LeasePolicy()
        if share is not None and not isinstance(share, SharePolicy):
            raise InvalidArgument(f"share must be a SharePolicy or None, not {share!r}")
        self._share = share
        for projection in projections:
            if projection.segments > 1 and not type(projection.target).segmentable:
                raise InvalidArgument(
                    f"projection {projection.name!r} has {projection.segments} segments, but its target "
                    f"{projection.target.describe()} keeps no segment checkpoints (use SQLite or PostgreSQL)"
                )
        self._projections = list(projections)
        workers = [
            ProjectionWorker(
                store,
                projection,
                owner=self.owner,
                batch_size=batch_size,
                retry=retry or ProjectionRetryPolicy(),
                lease=self._lease,
                stall_after=stall_after,
                listeners=everyone,
                segment=segment,
            )
            for projection in projections
            for segment in segments_of(projection.segments)
        ]
        self._workers = {worker.name: worker for worker in workers}
        self._running = False
        self._active: set[str] = set()
        """The projections whose run in this runner has not ended."""
        self._held_back = HeldBackWatch(held_back_stall_after)
        #: Seconds between readings of the store's visibility while running.
        self.held_back_poll = min(1.0, held_back_stall_after / 2)

    @property
    def projections(self) -> list[Projection[Any]]:
        """The projections this runner runs (a segmented one once)."""
        return list(self._projections)

    def add_listener(self, listener: ProjectionListener) -> None:
        """Tell ``listener`` about batches, state changes and failures from now on."""
        self.listeners.append(listener)

    # ------------------------------------------------------------------ running

    async def run(self, *, handle_signals: bool = True) -> None:
        """Run every projection until :meth:`stop`, SIGTERM or cancellation.

        A stop lets each projection finish the batch it is applying; cancellation rolls it
        back. Either way the checkpoint and the read model stay consistent. With
        ``handle_signals`` (and on the main thread), SIGTERM and SIGINT call :meth:`stop`.
        """
        self._claim()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(signum, self.stop)
                    installed.append(signum)
        sharing = self._sharing()
        background: list[asyncio.Task[None]] = []
        tasks: list[asyncio.Task[None]] = []
        try:
            if sharing is not None:
                await sharing.beat()  # known to the others, and knowing them, before taking leases
                background.append(asyncio.create_task(sharing.keep_beating(), name="projection sharing"))
            tasks = [
                asyncio.create_task(self._drive(worker, sharing=sharing), name=f"projection {name}")
                for name, worker in self._workers.items()
            ]
            watch = asyncio.create_task(self._watch_visibility(), name="projection visibility watch")
            background.append(watch)
            await asyncio.gather(*tasks)
        finally:
            for task in [*background, *tasks]:
                task.cancel()
            await asyncio.gather(*background, *tasks, return_exceptions=True)
            if sharing is not None:
                await sharing.leave()
            for signum in installed:
                loop.remove_signal_handler(signum)
            self._release()

    def _sharing(self) -> WorkSharing | None:
        """This run's membership of the runners of the same projections (None without ``share``)."""
        if self._share is None or not self._workers:
            return None
        keys = [worker.lease.key for worker in self._workers.values()]
        first = min(self._workers.values(), key=lambda worker: worker.name)
        return WorkSharing(
            first.projection.target,
            group_id(keys),
            self.owner,
            len(keys),
            self._share,
            standby_poll=self._lease.standby_poll,
        )

    def stop(self) -> None:
        """Stop every projection after the batch each is applying (safe from a signal handler).

        It ends the run in progress, or the next one when called before it began.
        """
        for worker in self._workers.values():
            worker.stop()

    async def run_until_caught_up(self, *, lease_wait: float | None = None) -> list[ProjectionStatus]:
        """Apply every event in the log to every projection, then return their statuses.

        Raises :class:`ProjectionFailed` when a projection fails at an event, and
        :class:`ProjectionStateError` when another runner holds a projection's lease for
        longer than ``lease_wait`` seconds (default: the lease's ttl, after which the lease
        of a runner that died has expired).
        """
        self._claim()
        try:
            wait = self._lease.ttl if lease_wait is None else lease_wait
            deadline = time.monotonic() + wait
            workers = self._workers.values()
            runs = [self._drive(worker, until_caught_up=True, deadline=deadline) for worker in workers]
            await asyncio.gather(*runs)
        finally:
            self._release()
        return await self.status()

    def _claim(self) -> None:
        if self._running:
            raise ProjectionStateError("this runner is already running; one run at a time")
        self._running = True
        self._active = set(self._workers)

    def _release(self) -> None:
        # A stop asked for ends the current run (or the next, if asked before it began).
        for worker in self._workers.values():
            worker.reset_stop()
        self._running = False
        self._active.clear()
        self._progress.wake()

    async def _drive(self, worker: ProjectionWorker, **options: Any) -> None:
        """Run one worker, keeping :attr:`_active` true to it, so waits know when it ended."""
        try:
            await worker.run(**options)
        finally:
            self._active.discard(worker.name)
            self._progress.wake()

    # ------------------------------------------------------------------ waiting

    # The bound is a parameter, not asyncio.timeout(): the error it ends with names it.
    async def wait_for_position(
        self,
        position: int,
        *,
        timeout: float,  # noqa: ASYNC109
        projection: str | None = None,
    ) -> None:
        """While :meth:`run` runs in another task: wait until every projection (or the one named)
        has its checkpoint at or beyond ``position``, so its read model holds that event.

        ``position`` is an append's last position (``result.positions[-1]``); events a
        projection has no handler for advance its checkpoint too. The wait wakes on each
        committed batch rather than polling. Raises
        :class:`~eventledger.projections.waits.ProjectionWaitTimeout` after ``timeout`` seconds
        (naming each projection behind, its checkpoint and state),
        :class:`~eventledger.projections.waits.ProjectionNotRunning` at once when this runner
        is not running them (nothing would advance them), and :class:`ProjectionFailed` when
        one stops at an event it cannot apply.
        """
        checked_position(position)
        bound = checked_timeout(timeout)
        if bound is None:
            raise InvalidArgument("wait_for_position needs a timeout in seconds")
        workers = self._workers_of(projection) if projection is not None else list(self._workers.values())

        async def look() -> WaitReading:
            running = await self._running_here(workers)
            checkpoints: dict[str, int | None] = {}
            for worker in workers:
                # Where no run goes on, only what is known here counts: nothing will move it.
                known = worker.runs.last_checkpoint
                checkpoints[worker.name] = await worker.checkpoint() if worker.name in running else known
            reading = WaitReading.of(position, checkpoints, self._states(workers))
            self._raise_if_idle([name for name in reading.behind if name not in running])
            return reading

        await wait_until(look, timeout=bound, signal=self._progress)

    async def wait_until_caught_up(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """While :meth:`run` runs in another task: wait until every projection has applied the
        whole log and follows it live (state ``live``).

        Raises :class:`ProjectionFailed` if a projection fails meanwhile,
        :class:`~eventledger.projections.waits.ProjectionNotRunning` when this runner is not
        running (at once) or stops meanwhile, and
        :class:`~eventledger.projections.waits.ProjectionWaitTimeout` after ``timeout`` seconds
        (default: no bound but those).
        """
        bound = checked_timeout(timeout)
        workers = list(self._workers.values())

        async def look() -> WaitReading:
            running = await self._running_here(workers)
            self._raise_if_idle([worker.name for worker in workers if worker.name not in running])
            head = await self.store.head_position()
            checkpoints: dict[str, int | None] = {}
            behind = []
            for worker in workers:
                checkpoints[worker.name] = await worker.checkpoint()
                if not await worker.is_caught_up():
                    behind.append(worker.name)
            return WaitReading(head, checkpoints, tuple(behind), self._states(workers))

        await wait_until(look, timeout=bound, signal=self._progress)

    async def _running_here(self, workers: list[ProjectionWorker]) -> set[str]:
        """The projections among ``workers`` that a run of this runner is advancing; raises
        :class:`ProjectionFailed` when one of them has stopped at an event.

        A run started in a task just before the wait has not begun yet: one turn of the event
        loop lets it begin before the wait judges.
        """
        for worker in workers:
            worker.decisions.raise_if_failed()
        if not self._running:
            await asyncio.sleep(0)
        return {worker.name for worker in workers if worker.name in self._active}

    def _raise_if_idle(self, idle: list[str]) -> None:
        """Raise :class:`ProjectionNotRunning` for projections waited for that nothing advances."""
        if idle:
            reason = "their run in this runner has ended" if self._running else "this runner is not running"
            raise ProjectionNotRunning(idle, reason)

    @staticmethod
    def _states(workers: list[ProjectionWorker]) -> dict[str, str]:
        return {worker.name: worker.state.current.value for worker in workers}

    # ------------------------------------------------------------------ monitoring

    async def status(self) -> list[ProjectionStatus]:
        """Every projection's :class:`ProjectionStatus` (one reading of the store's visibility)."""
        visibility = await self._read_visibility()
        held_since = self._held_back.held_since
        return [await worker.status(visibility, held_since) for worker in self._workers.values()]

    async def status_of(self, name: str) -> ProjectionStatus:
        """One projection's :class:`ProjectionStatus`."""
        worker = self._worker(name)
        visibility = await self._read_visibility()
        return await worker.status(visibility, self._held_back.held_since)

    async def _read_visibility(self) -> VisibilityStatus:
        """Read the store's visibility and tell every projection whether held-back events stall it."""
        visibility, reason = await self._held_back.read(self.store)
        for worker in self._workers.values():
            worker.held_back(reason)
        return visibility

    async def _watch_visibility(self) -> None:
        """While running: notice held-back events even when nobody asks for the status."""
        while True:
            try:
                await self._read_visibility()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # The workers meet a store outage themselves and report it; keep watching.
                log.debug("reading the store's visibility failed: %s", error)
            await asyncio.sleep(self.held_back_poll)

    # ------------------------------------------------------------------ operating

    async def rebuild(self, name: str) -> Build:
        """Rebuild a projection from the start of the log into new tables beside the serving ones.

        Readers keep seeing the current build until the new one has caught up; then the new
        build takes over in one transaction and the old tables are dropped. If the runner is
        not running, the next run picks the rebuild up.
        """
        return await self._worker(name).request_rebuild()

    async def retry(self, name: str) -> EventFailure:
        """Retry the event a failed projection stopped at (after fixing the cause)."""
        return await self._worker(name).decide(Decision.RETRY)

    async def skip_failed_event(self, name: str) -> EventFailure:
        """Skip the event a failed projection stopped at, recording it in the dead-letter table.

        Its effects are never applied. Returns the skipped event.
        """
        return await self._worker(name).decide(Decision.SKIP)

    async def dead_letters(self, name: str) -> list[DeadLetter]:
        """The events skipped so far for projection ``name``."""
        projection = self._worker(name).projection
        connection = await projection.target.connect()
        try:
            return await connection.dead_letters(name)
        finally:
            await connection.close()

    def _workers_of(self, name: str) -> list[ProjectionWorker]:
        """The worker of projection or segment ``name``; every segment's for a segmented projection."""
        segments = [worker for worker in self._workers.values() if worker.projection.name == name]
        return segments if segments and name not in self._workers else [self._worker(name)]

    def _worker(self, name: str) -> ProjectionWorker:
        try:
            return self._workers[name]
        except KeyError:
            raise UnknownProjection(name, tuple(self._workers)) from None
