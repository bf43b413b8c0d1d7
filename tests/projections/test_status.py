"""Monitoring: checkpoint, head, lag in events and seconds, state, rate, and the listener hook."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from projection_rig import Gate, MemoryLedger, Rig, deposit_many
from waits import caught_up, eventually, reached

import eventledger as el
from eventledger.projections import BatchApplied, LeasePolicy, MemoryTarget, ProjectionListener
from eventledger.projections.status import ThroughputMeter


async def test_before_running_the_status_shows_the_whole_log_as_lag(rig: Rig) -> None:
    await deposit_many(rig.store, 12)
    events = [recorded async for recorded in rig.store.read_all()]
    runner = el.ProjectionRunner(rig.store, [rig.ledger()])
    status = await runner.status_of("ledger")
    assert (status.state, status.checkpoint, status.head_position) == (
        el.ProjectionState.STARTING,
        0,
        events[-1].position,
    )
    assert status.lag_events == len(events)
    assert status.lag_seconds is not None
    assert status.lag_seconds >= (datetime.now(UTC) - events[0].recorded_at).total_seconds() - 0.5


async def test_lag_in_seconds_is_the_age_of_the_oldest_event_not_yet_applied(rig: Rig) -> None:
    await deposit_many(rig.store, 5)
    runner = el.ProjectionRunner(rig.store, [rig.ledger()])
    await runner.run_until_caught_up()
    await deposit_many(rig.store, 3, start=100)
    await asyncio.sleep(0.3)
    status = await runner.status_of("ledger")
    assert status.lag_events >= 3
    assert status.lag_seconds is not None and status.lag_seconds >= 0.25


async def test_after_catching_up_there_is_no_lag_and_a_rate_over_the_last_minute(rig: Rig) -> None:
    await deposit_many(rig.store, 40)
    runner = el.ProjectionRunner(rig.store, [rig.ledger()], batch_size=10)
    [status] = await runner.run_until_caught_up()
    assert (status.checkpoint, status.lag_events, status.lag_seconds) == (status.head_position, 0, 0.0)
    assert status.events_per_second > 0
    assert status.name == "ledger" and status.version == 1 and status.build == 1
    assert status.target == rig.new_target().describe()


async def test_a_projection_that_makes_no_progress_while_events_wait_reports_stalled(rig: Rig) -> None:
    await deposit_many(rig.store, 10)
    gate = Gate(at_amount=3)
    runner = el.ProjectionRunner(rig.store, [rig.ledger(gate=gate)], stall_after=0.2)
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        await reached(gate.reached, "gate reached")
        await asyncio.sleep(0.3)
        assert (await runner.status_of("ledger")).state is el.ProjectionState.STALLED
        gate.opened.set()
        await caught_up(runner)
        assert (await runner.status_of("ledger")).state is el.ProjectionState.LIVE
    finally:
        gate.opened.set()
        runner.stop()
        await running


async def test_the_listener_hears_each_committed_batch(rig: Rig) -> None:
    batches: list[BatchApplied] = []

    class Batches(ProjectionListener):
        def batch_applied(self, batch: BatchApplied) -> None:
            batches.append(batch)

    await deposit_many(rig.store, 30)
    runner = el.ProjectionRunner(rig.store, [rig.ledger()], batch_size=8, listeners=[Batches()])
    [status] = await runner.run_until_caught_up()
    assert sum(batch.events for batch in batches) == len([r async for r in rig.store.read_all()])
    assert sum(batch.handled for batch in batches) == 30
    assert batches[-1].checkpoint == status.checkpoint
    assert all(batch.seconds >= 0 and batch.projection == "ledger" for batch in batches)


async def test_a_listener_that_raises_is_logged_and_does_not_disturb_the_projection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(ProjectionListener):
        def batch_applied(self, batch: BatchApplied) -> None:
            raise RuntimeError("exporter down")

    async with el.open_store("memory://") as store:
        await deposit_many(store, 10)
        target = MemoryTarget()
        runner = el.ProjectionRunner(store, [MemoryLedger(target)], listeners=[Broken()])
        with caplog.at_level(logging.ERROR, logger="eventledger.projections"):
            await runner.run_until_caught_up()
        assert sum(n for _, n in target.table("ledger", "balances").values()) == 10
        assert "exporter down" in caplog.text


async def test_a_listener_added_later_hears_later_batches() -> None:
    heard: list[int] = []

    class Counting(ProjectionListener):
        def batch_applied(self, batch: BatchApplied) -> None:
            heard.append(batch.events)

    async with el.open_store("memory://") as store:
        runner = el.ProjectionRunner(store, [MemoryLedger(MemoryTarget())])
        runner.add_listener(Counting())
        await deposit_many(store, 4)
        await runner.run_until_caught_up()
        assert sum(heard) == len([r async for r in store.read_all()])


def test_the_rate_counts_events_over_the_last_minute_only() -> None:
    meter = ThroughputMeter(window=60.0)
    start = meter._started
    meter.record(600, now=start + 1)
    meter.record(600, now=start + 59)
    assert meter.rate(now=start + 60) == pytest.approx(1200 / 60)
    assert meter.rate(now=start + 90) == pytest.approx(600 / 60)
    assert meter.rate(now=start + 200) == 0.0


def test_the_rate_of_a_young_meter_divides_by_its_age() -> None:
    meter = ThroughputMeter(window=60.0)
    meter.record(100, now=meter._started + 0.5)
    assert meter.rate(now=meter._started + 10) == pytest.approx(10.0)


async def test_a_standby_reports_that_it_does_not_hold_the_lease() -> None:
    async with el.open_store("memory://") as store:
        target = MemoryTarget()
        leader = el.ProjectionRunner(store, [MemoryLedger(target)], owner="leader")
        standby = el.ProjectionRunner(store, [MemoryLedger(target)], owner="standby")
        leading = asyncio.create_task(leader.run(handle_signals=False))
        waiting: asyncio.Task[None] | None = None
        try:
            await eventually(lambda: leader_holds(leader))
            waiting = asyncio.create_task(standby.run(handle_signals=False))

            async def on_standby() -> bool:
                return (await standby.status_of("ledger")).state is el.ProjectionState.STANDBY

            await eventually(on_standby)
            status = await standby.status_of("ledger")
            assert (status.holds_lease, status.owner) == (False, "standby")
        finally:
            leader.stop()
            standby.stop()
            await leading
            if waiting is not None:
                await waiting


async def leader_holds(runner: el.ProjectionRunner) -> bool:
    return (await runner.status_of("ledger")).holds_lease


async def test_a_standby_reports_the_checkpoint_of_the_runner_that_applies_not_the_whole_log_as_lag(
    rig: Rig,
) -> None:
    await deposit_many(rig.store, 25)
    quick = LeasePolicy(ttl=1.0, renew_every=0.2, standby_poll=0.05)
    leader = el.ProjectionRunner(rig.store, [rig.ledger()], owner="leader", lease=quick)
    standby = el.ProjectionRunner(rig.store, [rig.ledger()], owner="standby", lease=quick)
    leading = asyncio.create_task(leader.run(handle_signals=False))
    waiting: asyncio.Task[None] | None = None
    try:
        await caught_up(leader)
        waiting = asyncio.create_task(standby.run(handle_signals=False))

        async def on_standby() -> bool:
            return (await standby.status_of("ledger")).state is el.ProjectionState.STANDBY

        await eventually(on_standby)
        status = await standby.status_of("ledger")
        assert status.checkpoint == (await leader.status_of("ledger")).checkpoint == status.head_position
        assert (status.lag_events, status.lag_seconds) == (0, 0.0)
    finally:
        leader.stop()
        standby.stop()
        await leading
        if waiting is not None:
            await waiting


async def test_a_runner_not_yet_started_reports_the_stored_checkpoint(rig: Rig) -> None:
    await deposit_many(rig.store, 10)
    [applied] = await el.ProjectionRunner(rig.store, [rig.ledger()]).run_until_caught_up()
    await deposit_many(rig.store, 4, start=100)
    fresh = el.ProjectionRunner(rig.store, [rig.ledger()])
    status = await fresh.status_of("ledger")
    assert status.state is el.ProjectionState.STARTING
    assert status.checkpoint == applied.checkpoint
    assert 0 < status.lag_events <= 5
