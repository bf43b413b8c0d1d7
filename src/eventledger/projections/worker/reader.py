"""A build's next batch from the log: catch-up reads, live batches, and the way past bad reads.

- **Catch up**: ``store.read_all(after=checkpoint, limit=batch_size)``; None when the log has
  nothing more. A store outage is retried without limit (the build is ``stalled``), with the
  retry policy's back-off.
- **Undecodable events**: one event the store cannot decode fails the batch's read; the read
  then goes one event at a time up to it, so that everything before
  it is applied and the build stops exactly at it (retried like a failing handler, then left
  to an operator, see :mod:`.decisions`).
- **Live**: a :class:`~eventledger.projections.reading.LiveFeed` follows ``store.subscribe``;
  a batch takes what is waiting. Any error in the feed drops the build back to catch-up,
  which knows how to stop at a bad event.
"""

from __future__ import annotations

from eventledger.errors import StoreClosed
from eventledger.events import RecordedEvent
from eventledger.projections.failures import EventFailure
from eventledger.projections.reading import LiveFeed, is_decode_error, read_until_undecodable
from eventledger.projections.retries import ProjectionRetryPolicy
from eventledger.projections.worker.decisions import Decisions
from eventledger.projections.worker.runs import BuildRun
from eventledger.projections.worker.state import WorkerState
from eventledger.projections.worker.stopping import StopSwitch
from eventledger.store.base import EventStore


class BatchReader:
    """Reads the next batch of events for a build of the worker's projection."""

    def __init__(
        self,
        store: EventStore,
        batch_size: int,
        retry: ProjectionRetryPolicy,
        *,
        state: WorkerState,
        stop: StopSwitch,
        decisions: Decisions,
    ) -> None:
        self.store = store
        self.batch_size = batch_size
        self.retry = retry
        self._state = state
        self._stop = stop
        self._decisions = decisions

    async def catch_up(self, run: BuildRun) -> list[RecordedEvent] | None:
        """The next catch-up batch of ``run``: events to apply, [] for "nothing this time, read
        again" (an event was skipped), or None when the log has nothing after the checkpoint."""
        outages = 0
        while True:
            try:
                events = [e async for e in self.store.read_all(after=run.checkpoint, limit=self.batch_size)]
                self._state.recovered(run)
                return events or None
            except StoreClosed:
                raise
            except Exception as error:
                if is_decode_error(error):
                    return await self._up_to_undecodable(run)
                outages += 1
                self._state.retrying(run, error)
                await self._stop.pause(self.retry.outage_delay(outages))

    async def _up_to_undecodable(self, run: BuildRun) -> list[RecordedEvent] | None:
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
            failure = EventFailure.of_undecodable(error, attempt)
            self._decisions.attempt_failed(failure, final)
            if final:
                await self._decisions.stop_at(run, failure)
                return []
            self._state.retrying(run, error)
            await self._stop.pause(self.retry.delay(attempt))

    async def live(self, run: BuildRun) -> list[RecordedEvent]:
        """The next live batch of ``run`` (waiting for it); [] when the feed broke and the build
        dropped back to catch-up."""
        if run.feed is None:
            run.feed = LiveFeed(self.store, run.checkpoint, capacity=self.batch_size * 2)
        first = await self._stop.interruptible(run.feed.next())
        events: list[RecordedEvent] = []
        for item in [first, *run.feed.waiting(self.batch_size - 1)]:
            if isinstance(item, Exception):
                if isinstance(item, StoreClosed):
                    raise item
                # Catch-up reading knows how to stop exactly at an undecodable event.
                run.stop_feed()
                run.live = False
                self._state.refresh()
                break
            events.append(item)
        return events
