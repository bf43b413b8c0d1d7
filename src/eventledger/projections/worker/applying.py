"""Reading the log and applying it: batches, retries, the failing event, an operator's decision."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from eventledger.errors import (
    CheckpointConflict,
    LeaseLost,
    ProjectionRetired,
    ProjectionStateError,
    StoreClosed,
    StoreUnavailable,
)
from eventledger.events import RecordedEvent
from eventledger.projections.reading import (
    LiveFeed,
    is_decode_error,
    read_batch,
    read_until_undecodable,
    undecodable,
)
from eventledger.projections.status import BatchApplied, EventFailed, FailureInfo, ProjectionState
from eventledger.projections.targets.base import FailedEvent
from eventledger.projections.worker.base import (
    BuildRun,
    Decision,
    HandlerFailed,
    Reconnect,
    Stopped,
    failed_error,
)
from eventledger.projections.worker.state import WorkerState

log = logging.getLogger("eventledger.projections")


class BatchApplier(WorkerState):
    """Reads batches from the log and applies them, retrying, failing at an event, or skipping it."""

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
                    raise HandlerFailed(recorded, error) from error
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
            except (CheckpointConflict, LeaseLost, ProjectionRetired, Stopped, Reconnect):
                raise
            except Exception as error:
                connection = self._connection()
                if connection.broken:
                    raise Reconnect(str(error)) from error
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
                recorded = error.recorded if isinstance(error, HandlerFailed) else events[0]
                reason = (
                    str(error) if isinstance(error, HandlerFailed) else f"{type(error).__name__}: {error}"
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
            raise failed_error(self.name, failed)
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
                run.decision.set_result(Decision(action, done))
                return await done
        raise ProjectionStateError(f"projection {self.name!r} is {self.state.value}, not failed")

    def _retrying(self, run: BuildRun, error: BaseException) -> None:
        handler_error = isinstance(error, HandlerFailed)
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
