"""The runner: catch up from the checkpoint in batches, follow live, stop cleanly, resume exactly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import pytest
from projection_rig import (
    Deposited,
    Gate,
    MemoryLedger,
    Remarked,
    Rig,
    deposit_many,
    expected_view,
    ledger_view,
)
from waits import caught_up, eventually, reached, visible

import eventledger as el
from eventledger.errors import ProjectionStateError, UnknownProjection
from eventledger.projections import (
    BatchApplied,
    MemoryReadModel,
    MemoryTarget,
    Projection,
    ProjectionListener,
    StateChanged,
    handles,
)


async def position_of_amount(store: el.EventStore, amount: int) -> int:
    async for recorded in store.read_all():
        if isinstance(recorded.event, Deposited) and recorded.event.amount == amount:
            return recorded.position
    raise AssertionError(f"no deposit of {amount}")


class Recorder(ProjectionListener):
    def __init__(self) -> None:
        self.batches: list[BatchApplied] = []
        self.states: list[StateChanged] = []

    def batch_applied(self, batch: BatchApplied) -> None:
        self.batches.append(batch)

    def state_changed(self, change: StateChanged) -> None:
        self.states.append(change)


async def test_catching_up_applies_every_event_of_the_log_once(rig: Rig) -> None:
    await deposit_many(rig.store, 230)
    runner = el.ProjectionRunner(rig.store, [rig.ledger()], batch_size=50)
    await runner.run_until_caught_up()
    assert await ledger_view(rig.reader) == await expected_view(rig.store)


async def test_catching_up_reads_in_batches_of_the_configured_size(rig: Rig) -> None:
    await deposit_many(rig.store, 120)
    recorder = Recorder()
    runner = el.ProjectionRunner(rig.store, [rig.ledger()], batch_size=25, listeners=[recorder])
    await runner.run_until_caught_up()
    sizes = [batch.events for batch in recorder.batches]
    assert max(sizes) == 25
    assert sum(sizes) == len([r async for r in rig.store.read_all()])


async def test_events_without_a_handler_still_move_the_checkpoint_past_them(rig: Rig) -> None:
    await deposit_many(rig.store, 10)
    last = await rig.store.append("notes", [Remarked(text="a"), Remarked(text="b")], expected_version=el.ANY)
    await visible(rig.store, last.positions[-1])
    runner = el.ProjectionRunner(rig.store, [rig.ledger()])
    [status] = await runner.run_until_caught_up()
    assert status.checkpoint == last.positions[-1]
    assert status.lag_seconds == 0.0


async def test_a_new_runner_resumes_from_the_checkpoint_without_applying_anything_twice(rig: Rig) -> None:
    await deposit_many(rig.store, 60)
    await el.ProjectionRunner(rig.store, [rig.ledger()], batch_size=20).run_until_caught_up()
    await deposit_many(rig.store, 45, start=1000)
    await el.ProjectionRunner(rig.store, [rig.ledger()], batch_size=20).run_until_caught_up()
    assert await ledger_view(rig.reader) == await expected_view(rig.store)


async def test_run_follows_events_appended_while_it_runs(rig: Rig) -> None:
    await deposit_many(rig.store, 20)
    runner = el.ProjectionRunner(rig.store, [rig.ledger()], batch_size=10)
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        await caught_up(runner)
        writer = await rig.open_store()
        await deposit_many(writer, 15, start=500)
        await caught_up(runner)
        assert (await runner.status_of("ledger")).state is el.ProjectionState.LIVE
        assert await ledger_view(rig.reader) == await expected_view(rig.store)
    finally:
        runner.stop()
        await running


async def test_stop_ends_run_and_a_later_run_continues_where_it_stopped(rig: Rig) -> None:
    await deposit_many(rig.store, 30)
    runner = el.ProjectionRunner(rig.store, [rig.ledger()], batch_size=10)
    running = asyncio.create_task(runner.run(handle_signals=False))
    await caught_up(runner)
    runner.stop()
    await asyncio.wait_for(running, 10)
    assert (await runner.status_of("ledger")).state is el.ProjectionState.STOPPED
    await deposit_many(rig.store, 12, start=700)
    await runner.run_until_caught_up()
    assert await ledger_view(rig.reader) == await expected_view(rig.store)


async def test_stop_lets_the_batch_in_progress_finish(rig: Rig) -> None:
    await deposit_many(rig.store, 20)
    gate = Gate(at_amount=5)
    runner = el.ProjectionRunner(rig.store, [rig.ledger(gate=gate)], batch_size=10)
    running = asyncio.create_task(runner.run(handle_signals=False))
    await reached(gate.reached, "gate reached")
    runner.stop()
    gate.opened.set()
    await asyncio.wait_for(running, 10)
    status = await runner.status_of("ledger")
    view = await ledger_view(rig.reader)
    expected = await expected_view(rig.store)
    # The batch holding amount 5 committed in full; no batch after it was started.
    assert await position_of_amount(rig.store, 5) <= status.checkpoint < status.head_position
    assert view.applied == [p for p in expected.applied if p <= status.checkpoint]


async def test_cancelling_run_rolls_the_batch_in_progress_back_and_loses_nothing(rig: Rig) -> None:
    await deposit_many(rig.store, 20)
    gate = Gate(at_amount=15)
    runner = el.ProjectionRunner(rig.store, [rig.ledger(gate=gate)], batch_size=10)
    running = asyncio.create_task(runner.run(handle_signals=False))
    await reached(gate.reached, "gate reached")
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    status = await runner.status_of("ledger")
    view = await ledger_view(rig.reader)
    expected = await expected_view(rig.store)
    # The batch holding amount 15 rolled back as a whole; the one before it stays.
    assert 0 < status.checkpoint < await position_of_amount(rig.store, 15)
    assert view.applied == [p for p in expected.applied if p <= status.checkpoint]
    await el.ProjectionRunner(rig.store, [rig.ledger()], batch_size=10).run_until_caught_up()
    assert await ledger_view(rig.reader) == await expected_view(rig.store)


async def test_sigterm_stops_run_gracefully(rig: Rig) -> None:
    await deposit_many(rig.store, 10)
    runner = el.ProjectionRunner(rig.store, [rig.ledger()])
    default = signal.getsignal(signal.SIGTERM)
    running = asyncio.create_task(runner.run())
    await caught_up(runner)
    # Only signal once the runner's handler is in place (the default would end pytest).
    assert signal.getsignal(signal.SIGTERM) is not default
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(running, 10)
    assert (await runner.status_of("ledger")).state is el.ProjectionState.STOPPED


async def test_handlers_see_events_in_the_order_of_the_global_log() -> None:
    seen: list[int] = []

    class Order(Projection[MemoryReadModel], name="order"):
        @handles
        async def deposited(
            self, event: Deposited, recorded: el.RecordedEvent, model: MemoryReadModel
        ) -> None:
            seen.append(recorded.position)

    async with el.open_store("memory://") as store:
        await deposit_many(store, 40)
        await el.ProjectionRunner(store, [Order(MemoryTarget())], batch_size=7).run_until_caught_up()
        assert seen == [r.position async for r in store.read_all() if isinstance(r.event, Deposited)]


async def test_many_projections_run_side_by_side_in_one_runner() -> None:
    class Other(MemoryLedger, name="other-ledger"):
        pass

    async with el.open_store("memory://") as store:
        await deposit_many(store, 50)
        first, second = MemoryTarget(), MemoryTarget()
        runner = el.ProjectionRunner(store, [MemoryLedger(first), Other(second)], batch_size=8)
        running = asyncio.create_task(runner.run(handle_signals=False))
        await caught_up(runner)
        runner.stop()
        await running
        expected = await expected_view(store)
        assert dict(first.table("ledger", "balances")) == expected.balances
        assert dict(second.table("other-ledger", "balances")) == expected.balances


async def test_two_projections_with_one_name_in_a_runner_are_refused() -> None:
    target = MemoryTarget()
    async with el.open_store("memory://") as store:
        with pytest.raises(ValueError, match="repeated: ledger"):
            el.ProjectionRunner(store, [MemoryLedger(target), MemoryLedger(target)])


async def test_asking_about_an_unknown_projection_names_the_known_ones() -> None:
    async with el.open_store("memory://") as store:
        runner = el.ProjectionRunner(store, [MemoryLedger(MemoryTarget())])
        with pytest.raises(UnknownProjection, match="'nope'; this runner runs: ledger"):
            await runner.status_of("nope")


async def test_the_listener_hears_the_projection_go_from_catching_up_to_live(rig: Rig) -> None:
    await deposit_many(rig.store, 5)
    recorder = Recorder()
    runner = el.ProjectionRunner(rig.store, [rig.ledger()], listeners=[recorder])
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        await eventually(lambda: any(c.current is el.ProjectionState.LIVE for c in recorder.states))
    finally:
        runner.stop()
        await running
    states = [change.current for change in recorder.states]
    assert states.index(el.ProjectionState.CATCHING_UP) < states.index(el.ProjectionState.LIVE)
    assert states[-1] is el.ProjectionState.STOPPED


async def test_a_stop_asked_for_before_run_begins_ends_that_run_at_once() -> None:
    async with el.open_store("memory://") as store:
        runner = el.ProjectionRunner(store, [MemoryLedger(MemoryTarget())])
        running = asyncio.create_task(runner.run(handle_signals=False))
        runner.stop()
        await asyncio.wait_for(running, 5)
        assert (await runner.status_of("ledger")).state is el.ProjectionState.STOPPED


async def test_running_a_runner_that_is_already_running_is_refused() -> None:
    async with el.open_store("memory://") as store:
        runner = el.ProjectionRunner(store, [MemoryLedger(MemoryTarget())])
        running = asyncio.create_task(runner.run(handle_signals=False))
        await asyncio.sleep(0.05)
        try:
            with pytest.raises(ProjectionStateError, match="already running"):
                await runner.run_until_caught_up()
        finally:
            runner.stop()
            await running
