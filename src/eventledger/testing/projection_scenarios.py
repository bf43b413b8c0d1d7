"""Projection scenarios: past events, new events, a check, and the same events delivered twice.

The events go through a real :class:`~eventledger.projections.ProjectionRunner` (on an
in-memory store) into the projection's real target, so a scenario tests the handlers and the
target together. Delivering the new events a second time is what a crash between a batch's
effects and its checkpoint would cause: on an exactly-once target the checkpoint must refuse
it, on an at-least-once target it tests the handlers' idempotency.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from eventledger.errors import CheckpointConflict
from eventledger.events import Event, RecordedEvent
from eventledger.projections import Projection, ProjectionRunner
from eventledger.projections.leases import lease_key
from eventledger.store import ANY
from eventledger.store.memory import MemoryEventStore

Session = TypeVar("Session")
StreamEvent = Event | tuple[str, Event]
"""An event for a projection scenario: bare (in stream ``stream-1``) or ``(stream_id, event)``."""


def projection_scenario(projection: Projection[Session]) -> ProjectionScenario[Session]:
    """Start a read-side scenario: ``given`` past events, ``when`` new ones, ``then`` a check.

    ::

        summaries = OrderSummaries(SQLiteTarget(tmp_path / "read.db"))

        async def confirmed() -> None:
            async with summaries.target.read() as sql:
                assert (await find_order_summary(sql, "o1")).status == "confirmed"

        await projection_scenario(summaries).given(("o1", created)).when(("o1", confirmation)).then(confirmed)

    The events go through a real runner (on an in-memory store) into the projection's real
    target. ``then`` also runs it twice: it delivers the ``when`` events again and checks once
    more, so a projection whose effects would double fails the scenario.
    """
    return ProjectionScenario(projection)


class ProjectionScenario(Generic[Session]):
    """A projection, the events before, the events under test (see :func:`projection_scenario`)."""

    def __init__(self, projection: Projection[Session]) -> None:
        self.projection = projection
        self.past: tuple[tuple[str, Event], ...] = ()
        self.new: tuple[tuple[str, Event], ...] = ()

    def given(self, *events: StreamEvent) -> ProjectionScenario[Session]:
        """The events already in the log before the ones under test."""
        self.past = self.past + tuple(_with_stream(event) for event in events)
        return self

    def when(self, *events: StreamEvent) -> ProjectionScenario[Session]:
        """The events under test."""
        self.new = self.new + tuple(_with_stream(event) for event in events)
        return self

    async def then(self, check: Callable[[], Awaitable[None]], *, twice: bool = True) -> None:
        """Project the events, run ``check``; with ``twice``, deliver the new events again and re-check.

        On an exactly-once target the second delivery must be refused by the checkpoint
        (``CheckpointConflict``). On an at-least-once target it is what a crash between the
        effects and the checkpoint causes: the handlers run again on the same events, and
        ``check`` shows whether they are idempotent.
        """
        async with MemoryEventStore() as store:
            runner = ProjectionRunner(store, [self.projection], owner="scenario")
            await _append_all(store, self.past)
            [before] = await runner.run_until_caught_up()
            await _append_all(store, self.new)
            await runner.run_until_caught_up()
            await check()
            if twice and self.new:
                await self._deliver_again(store, before.checkpoint)
                await check()

    async def _deliver_again(self, store: MemoryEventStore, checkpoint: int) -> None:
        events = [recorded async for recorded in store.read_all(after=checkpoint)]
        exactly_once = self.projection.target.exactly_once
        # At least once, the delivery is what follows a crash: the effects happened, and the
        # checkpoint says so, yet the events come again.
        expected = checkpoint if exactly_once else events[-1].position
        try:
            await deliver_batch(self.projection, events, expected=expected, owner="scenario-second-delivery")
        except CheckpointConflict:
            return
        if exactly_once:
            raise AssertionError(
                f"projection {self.projection.name!r}: delivering the same events again was accepted; "
                "the checkpoint should have refused it"
            )


async def deliver_batch(
    projection: Projection[Session], events: Sequence[RecordedEvent], *, expected: int, owner: str
) -> None:
    """Apply ``events`` to ``projection``'s build in one batch, as a runner does, from ``expected``.

    Takes the projection's lease as ``owner`` (so no runner may be running it), prepares the
    build a runner would apply, and runs the handlers in the target's batch transaction, which
    moves the checkpoint from ``expected`` to the last event's position by compare-and-set. A
    checkpoint that is not at ``expected`` raises :class:`~eventledger.errors.CheckpointConflict`.
    Used to deliver events a second time, which an exactly-once target must refuse.
    """
    if not events:
        raise ValueError("deliver_batch needs at least one event")
    connection = await projection.target.connect()
    try:
        key = lease_key(projection.name, projection.version)
        if not await connection.acquire_lease(key, owner, 30.0):
            raise AssertionError(f"could not take the lease {key!r} to deliver the events")
        [build, *_] = (await connection.prepare(projection)).run
        async with connection.batch(projection, build, expected, events[-1].position) as session:
            for recorded in events:
                handler = projection.handler_for(type(recorded.event))
                if handler is not None:
                    await handler(recorded.event, recorded, session)
    finally:
        await connection.close()


def _with_stream(event: StreamEvent) -> tuple[str, Event]:
    if isinstance(event, Event):
        return ("stream-1", event)
    stream_id, inner = event
    return (stream_id, inner)


async def _append_all(store: MemoryEventStore, events: Sequence[tuple[str, Event]]) -> None:
    for stream_id, event in events:
        await store.append(stream_id, [event], expected_version=ANY)
