"""What every exactly-once read-model target must show: each event applied once, a redelivered
batch refused, a failed batch leaving nothing, rebuilds and the blue/green switch.

The tests drive the target the way applications do, through
:class:`~eventledger.projections.ProjectionRunner`, and, where a test needs a batch the runner
would never send (the same batch twice, a batch that fails half way), through the target's own
connection (:func:`~eventledger.testing.projection_scenarios.deliver_batch`), as the runner does.
The projection is a ledger whose totals and counts are increments, so an event applied twice,
or lost, shows. The event store is in memory: the kit tests the target, not the store
(override the ``event_store`` fixture to use another).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from eventledger.errors import CheckpointConflict, ProjectionFailed, ProjectionStateError
from eventledger.events import RecordedEvent
from eventledger.projections import Projection, ProjectionRetryPolicy, ProjectionRunner, handles
from eventledger.projections.requests import OperatorRequest, RequestedAction, RequestState
from eventledger.store import ANY, EventStore, open_store
from eventledger.testing.conformance.events import Moved, Remarked
from eventledger.testing.conformance.target_subjects import OpenedTargets, TargetUnderTest, Totals
from eventledger.testing.projection_scenarios import deliver_batch

LEDGER = "conformance-ledger"
"""The name of the kit's projection."""
WAIT = 60.0
"""Seconds a test waits for something it set up to happen before it fails saying what."""


class Gate:
    """Holds the handler at one amount until the test opens it (to look at the read model mid-build)."""

    def __init__(self, amount: int) -> None:
        self.amount = amount
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()

    async def pass_through(self, amount: int) -> None:
        if amount == self.amount and not self.opened.is_set():
            self.reached.set()
            await self.opened.wait()


class Ledger(Projection[Any], name=LEDGER):
    """Adds each :class:`Moved` amount (times ``factor``) to its account's total."""

    tables = ("totals",)
    factor = 1

    def __init__(
        self,
        target: Any,
        subject: TargetUnderTest[Any],
        *,
        refuse: int | None = None,
        gate: Gate | None = None,
    ) -> None:
        super().__init__(target)
        self.subject = subject
        self.refuse = refuse
        self.gate = gate

    async def setup(self, session: Any) -> None:
        await self.subject.create_totals(session)

    @handles
    async def moved(self, event: Moved, recorded: RecordedEvent, session: Any) -> None:
        if event.amount == self.refuse:
            raise RuntimeError(f"refusing amount {event.amount}")
        if self.gate is not None:
            await self.gate.pass_through(event.amount)
        await self.subject.add(session, event.account, event.amount * self.factor)


class LedgerV2(Ledger, name=LEDGER, version=2):
    """Version 2 of the ledger: ten times the amounts, so readers can tell which version serves."""

    factor = 10


def ledger(targets: OpenedTargets[Any], *, version: int = 1, **options: Any) -> Ledger:
    """The kit's ledger (``version`` 1 or 2) into a new target object on the test's database."""
    kind = LedgerV2 if version == 2 else Ledger
    return kind(targets.new(), targets.subject, **options)


async def move_many(store: EventStore, count: int, *, start: int = 1) -> None:
    """Append ``count`` movements (amounts ``start``, ``start + 1``, ...) over a few accounts, in
    batches, with an unhandled remark now and then."""
    for first in range(start, start + count, 4):
        amounts = range(first, min(first + 4, start + count))
        events: list[Any] = [Moved(account=f"account-{amount % 3}", amount=amount) for amount in amounts]
        if first % 3 == 0:
            events.append(Remarked(text=f"after {first}"))
        await store.append(f"account-{first % 3}", events, expected_version=ANY)


async def expected_totals(store: EventStore, *, factor: int = 1, before: int | None = None) -> Totals:
    """The totals that applying the log (up to, not including, position ``before``) produces."""
    totals: Totals = {}
    async for recorded in store.read_all():
        if before is not None and recorded.position >= before:
            break
        if isinstance(recorded.event, Moved):
            total, events = totals.get(recorded.event.account, (0, 0))
            totals[recorded.event.account] = (total + recorded.event.amount * factor, events + 1)
    return totals


async def reached(gate: Gate, what: str) -> None:
    """Wait until a handler is held at ``gate``; fail naming ``what`` after :data:`WAIT` seconds."""
    try:
        async with asyncio.timeout(WAIT):
            await gate.reached.wait()
    except TimeoutError:
        raise AssertionError(f"{what}: no handler reached amount {gate.amount} within {WAIT:g} s") from None


class TargetFixtures:
    """``event_store`` and ``targets``, from the ``target_under_test`` the subclass provides."""

    pytestmark = pytest.mark.asyncio

    @pytest_asyncio.fixture
    async def event_store(self) -> AsyncIterator[EventStore]:
        """The store the projections read (in memory)."""
        async with open_store("memory://") as store:
            yield store

    @pytest_asyncio.fixture
    async def targets(self, target_under_test: TargetUnderTest[Any]) -> AsyncIterator[OpenedTargets[Any]]:
        """Makes target objects on the test's database, and closes them all after the test."""
        opened: OpenedTargets[Any] = OpenedTargets(target_under_test)
        yield opened
        await opened.close_all()


class TargetConformance(TargetFixtures):
    """Everything an exactly-once :class:`~eventledger.projections.Target` must do."""

    async def test_each_event_is_applied_exactly_once_and_the_checkpoint_reaches_the_head(
        self, event_store: EventStore, targets: OpenedTargets[Any]
    ) -> None:
        await move_many(event_store, 30)
        runner = ProjectionRunner(event_store, [ledger(targets)], batch_size=7)
        [status] = await runner.run_until_caught_up()
        assert status.checkpoint == await event_store.head_position()
        assert await targets.read_totals(LEDGER) == await expected_totals(event_store)

    async def test_a_runner_started_again_applies_only_the_events_after_the_checkpoint(
        self, event_store: EventStore, targets: OpenedTargets[Any]
    ) -> None:
        await move_many(event_store, 10)
        await ProjectionRunner(event_store, [ledger(targets)]).run_until_caught_up()
        await move_many(event_store, 6, start=100)
        again = ProjectionRunner(event_store, [ledger(targets)], batch_size=4)
        [status] = await again.run_until_caught_up()
        assert status.checkpoint == await event_store.head_position()
        assert await targets.read_totals(LEDGER) == await expected_totals(event_store)

    async def test_a_batch_delivered_again_is_refused_by_the_checkpoint_and_changes_nothing(
        self, event_store: EventStore, targets: OpenedTargets[Any]
    ) -> None:
        await move_many(event_store, 10)
        projection = ledger(targets)
        await ProjectionRunner(event_store, [projection]).run_until_caught_up()
        before = await targets.read_totals(LEDGER)
        events = [recorded async for recorded in event_store.read_all()]

        with pytest.raises(CheckpointConflict, match=f"found checkpoint {events[-1].position}"):
            await deliver_batch(projection, events, expected=0, owner="conformance-redelivery")

        assert await targets.read_totals(LEDGER) == before == await expected_totals(event_store)

    async def test_a_batch_whose_handler_fails_leaves_neither_effects_nor_a_moved_checkpoint(
        self, event_store: EventStore, targets: OpenedTargets[Any]
    ) -> None:
        await move_many(event_store, 10)
        events = [recorded async for recorded in event_store.read_all()]
        failing = ledger(targets, refuse=7)

        with pytest.raises(RuntimeError, match="refusing amount 7"):
            await deliver_batch(failing, events, expected=0, owner="conformance-failing-batch")

        assert await targets.read_totals(LEDGER) == {}
        # Had any of it stayed, the checkpoint would have moved and this would be refused.
        healed = ledger(targets)
        await deliver_batch(healed, events, expected=0, owner="conformance-healed-batch")
        assert await targets.read_totals(LEDGER) == await expected_totals(event_store)

    async def test_an_event_that_keeps_failing_stops_the_projection_with_all_before_it_applied(
        self, event_store: EventStore, targets: OpenedTargets[Any]
    ) -> None:
        await move_many(event_store, 20)
        log = [recorded async for recorded in event_store.read_all()]
        [index] = [i for i, recorded in enumerate(log) if getattr(recorded.event, "amount", None) == 13]
        poison = log[index]
        quick = ProjectionRetryPolicy(attempts=2, first_delay=0.001, max_delay=0.005)
        failing = ledger(targets, refuse=13)
        runner = ProjectionRunner(event_store, [failing], batch_size=8, retry=quick)

        with pytest.raises(ProjectionFailed, match=f"position {poison.position}"):
            await runner.run_until_caught_up()

        assert await targets.read_totals(LEDGER) == await expected_totals(event_store, before=poison.position)
        assert (await runner.status_of(LEDGER)).checkpoint == log[index - 1].position

    async def test_a_rebuild_fills_new_tables_while_the_old_ones_keep_serving_then_takes_over(
        self, event_store: EventStore, targets: OpenedTargets[Any]
    ) -> None:
        await move_many(event_store, 20)
        [first] = await ProjectionRunner(event_store, [ledger(targets)]).run_until_caught_up()
        expected = await expected_totals(event_store)
        gate = Gate(amount=12)
        runner = ProjectionRunner(event_store, [ledger(targets, gate=gate)], batch_size=5)
        requested = await runner.rebuild(LEDGER)
        rebuilding = asyncio.create_task(runner.run_until_caught_up())
        try:
            await reached(gate, "the rebuild")
            assert await targets.read_totals(LEDGER) == expected  # the old build still serves, whole
        finally:
            gate.opened.set()
            [after] = await rebuilding

        assert (first.build, after.build) == (1, requested.number)
        assert requested.number != first.build
        assert await targets.read_totals(LEDGER) == expected

    async def test_a_new_version_builds_beside_the_old_one_and_readers_switch_when_it_has_caught_up(
        self, event_store: EventStore, targets: OpenedTargets[Any]
    ) -> None:
        await move_many(event_store, 20)
        [old] = await ProjectionRunner(event_store, [ledger(targets)]).run_until_caught_up()
        gate = Gate(amount=12)
        runner = ProjectionRunner(event_store, [ledger(targets, gate=gate, version=2)], batch_size=5)
        building = asyncio.create_task(runner.run_until_caught_up())
        try:
            await reached(gate, "version 2's build")
            assert await targets.read_totals(LEDGER) == await expected_totals(event_store)  # version 1
        finally:
            gate.opened.set()
            [new] = await building

        assert (old.version, new.version) == (1, 2)
        assert await targets.read_totals(LEDGER) == await expected_totals(event_store, factor=10)
        connection = await targets.new().connect()
        try:
            assert old.build is not None
            assert await connection.load(LEDGER, old.build) is None  # the old build is dropped
        finally:
            await connection.close()

    async def test_an_operators_request_is_kept_pending_until_a_runner_answers_it(
        self, event_store: EventStore, targets: OpenedTargets[Any]
    ) -> None:
        """Requests from other processes (retry, skip, rebuild); a target that keeps its
        bookkeeping in the runner's process refuses them, and the test is skipped."""
        request = OperatorRequest.new(LEDGER, RequestedAction.REBUILD, by="conformance")
        connection = await targets.new().connect()
        try:
            try:
                await connection.save_request(request)
            except ProjectionStateError:
                pytest.skip("this target keeps its bookkeeping inside the runner's process")
            pending = await connection.pending_requests(LEDGER)
            answer = request.answered(RequestState.DONE, "rebuilt", "conformance-runner")
            await connection.save_request(answer)
            answered = await connection.read_request(request.id)
            left = await connection.pending_requests(LEDGER)
        finally:
            await connection.close()
        assert [item.id for item in pending] == [request.id]
        assert answered is not None
        assert (answered.state, answered.outcome, answered.answered_by) == (
            RequestState.DONE,
            "rebuilt",
            "conformance-runner",
        )
        assert left == []
