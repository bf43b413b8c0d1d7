"""One runner per projection and target: the others wait as hot standbys and take over."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from projection_rig import Rig, RunnerProcess, SQLLedger, deposit_many, expected_view, ledger_view
from waits import caught_up, eventually

import eventledger as el
from eventledger.projections import LeasePolicy

QUICK = LeasePolicy(ttl=1.0, renew_every=0.2, standby_poll=0.05)


async def state_of(runner: el.ProjectionRunner) -> el.ProjectionState:
    return (await runner.status_of("ledger")).state


async def test_of_two_runners_only_one_applies_events_while_the_other_stands_by(rig: Rig) -> None:
    first = el.ProjectionRunner(rig.store, [rig.ledger(runner_id="first")], owner="first", lease=QUICK)
    second = el.ProjectionRunner(rig.store, [rig.ledger(runner_id="second")], owner="second", lease=QUICK)
    first_running = asyncio.create_task(first.run(handle_signals=False))
    await eventually(lambda: _is(state_of(first), el.ProjectionState.LIVE))
    second_running = asyncio.create_task(second.run(handle_signals=False))
    try:
        await eventually(lambda: _is(state_of(second), el.ProjectionState.STANDBY))
        await deposit_many(rig.store, 40)
        await caught_up(first)
        await asyncio.sleep(0.3)  # the standby has had every chance to apply something
        view = await ledger_view(rig.reader)
        assert view == await expected_view(rig.store)
        assert set(view.runners) == {"first"}
        assert await state_of(second) is el.ProjectionState.STANDBY
    finally:
        first.stop()
        second.stop()
        await asyncio.gather(first_running, second_running)


async def test_the_standby_takes_over_when_the_leader_stops(rig: Rig) -> None:
    first = el.ProjectionRunner(rig.store, [rig.ledger(runner_id="first")], owner="first", lease=QUICK)
    second = el.ProjectionRunner(rig.store, [rig.ledger(runner_id="second")], owner="second", lease=QUICK)
    await deposit_many(rig.store, 20)
    first_running = asyncio.create_task(first.run(handle_signals=False))
    await eventually(lambda: _is(state_of(first), el.ProjectionState.LIVE))
    second_running = asyncio.create_task(second.run(handle_signals=False))
    try:
        await eventually(lambda: _is(state_of(second), el.ProjectionState.STANDBY))
        first.stop()
        await first_running
        await eventually(lambda: _is(state_of(second), el.ProjectionState.LIVE))
        await deposit_many(rig.store, 15, start=300)
        await caught_up(second)
        view = await ledger_view(rig.reader)
        assert view == await expected_view(rig.store)
        assert view.runners == {"first": 20, "second": 15}
    finally:
        first.stop()
        second.stop()
        await asyncio.gather(first_running, second_running)


async def test_a_standby_takes_over_from_a_runner_process_killed_with_sigkill(sql_rig: Rig) -> None:
    rig = sql_rig
    await deposit_many(rig.store, 30)
    leader = await RunnerProcess(rig, "process", ttl=1.0).start()
    standby = el.ProjectionRunner(
        rig.store, [SQLLedger(rig.new_target(), runner_id="standby")], owner="standby", lease=QUICK
    )
    standing_by: asyncio.Task[None] | None = None
    try:
        await leader.wait_for("leading")
        standing_by = asyncio.create_task(standby.run(handle_signals=False))
        await eventually(lambda: _is(state_of(standby), el.ProjectionState.STANDBY))
        await deposit_many(rig.store, 10, start=100)
        expected = await expected_view(rig.store)
        await eventually(lambda: _view_is(rig, expected))
        assert await state_of(standby) is el.ProjectionState.STANDBY

        await leader.kill()
        await eventually(lambda: _is(state_of(standby), el.ProjectionState.LIVE))
        await deposit_many(rig.store, 10, start=200)
        await caught_up(standby)
        view = await ledger_view(rig.reader)
        assert view == await expected_view(rig.store)
        assert view.runners == {"process": 40, "standby": 10}
    finally:
        await leader.kill()
        standby.stop()
        if standing_by is not None:
            await standing_by


async def _is(state: Awaitable[el.ProjectionState], expected: el.ProjectionState) -> bool:
    return (await state) is expected


async def _view_is(rig: Rig, expected: object) -> bool:
    return await ledger_view(rig.reader) == expected
