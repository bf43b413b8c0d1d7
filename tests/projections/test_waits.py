"""Waiting for read models never hangs: a wait returns once the checkpoints reach the position,
or ends with an error that says why (a timeout naming what was behind, nothing running, a
failed projection), in the runner's process and, through the persisted checkpoint, in another."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from projection_rig import (
    Deposited,
    Faults,
    Gate,
    MemoryLedger,
    Remarked,
    Rig,
    RunnerProcess,
    deposit_many,
    expected_view,
    ledger_view,
    make_rig,
)
from waits import WAIT, bounded, eventually, reached

import eventledger as el
from eventledger.errors import ProjectionFailed
from eventledger.projections import (
    LeasePolicy,
    ProjectionNotRunning,
    ProjectionRetryPolicy,
    ProjectionWaitTimeout,
    wait_for_checkpoint,
)

FAST = ProjectionRetryPolicy(attempts=2, first_delay=0.001, max_delay=0.005)


class OtherLedger(MemoryLedger, name="other-ledger"):
    """A second ledger, to wait for one projection of two."""


@pytest.fixture
async def memory_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async for made in make_rig("memory", tmp_path):
        yield made


async def deposit(store: el.EventStore, amount: int, account: str = "acct-1") -> int:
    result = await store.append(account, [Deposited(account=account, amount=amount)], expected_version=el.ANY)
    return result.positions[-1]


def start(runner: el.ProjectionRunner) -> asyncio.Task[None]:
    return asyncio.create_task(runner.run(handle_signals=False))


async def stopped(runner: el.ProjectionRunner, running: asyncio.Task[None]) -> None:
    runner.stop()
    await bounded(running, "the runner to stop")


# ---------------------------------------------------------------------- in the runner's process


async def test_wait_for_position_returns_once_the_read_model_holds_the_append(rig: Rig) -> None:
    await deposit_many(rig.store, 20)
    runner = el.ProjectionRunner(rig.store, [rig.ledger()], batch_size=5)
    running = start(runner)
    try:
        position = await deposit(rig.store, 5000)
        await runner.wait_for_position(position, timeout=WAIT)
        assert (await ledger_view(rig.reader)).balances["acct-1"][0] >= 5000
        assert await ledger_view(rig.reader) == await expected_view(rig.store)
    finally:
        await stopped(runner, running)


async def test_events_a_projection_does_not_handle_still_bring_its_checkpoint_to_the_position(
    rig: Rig,
) -> None:
    runner = el.ProjectionRunner(rig.store, [rig.ledger()])
    running = start(runner)
    try:
        result = await rig.store.append("notes", [Remarked(text="no handler")], expected_version=el.ANY)
        await runner.wait_for_position(result.positions[-1], timeout=WAIT)
        assert (await runner.status_of("ledger")).checkpoint == result.positions[-1]
    finally:
        await stopped(runner, running)


async def test_a_wait_on_a_runner_that_is_not_running_raises_at_once(memory_rig: Rig) -> None:
    position = await deposit(memory_rig.store, 1)
    runner = el.ProjectionRunner(memory_rig.store, [memory_rig.ledger()])

    with pytest.raises(ProjectionNotRunning, match=r"'ledger'.*not running") as raised:
        await runner.wait_for_position(position, timeout=WAIT)

    assert raised.value.projections == ("ledger",)


async def test_a_wait_for_a_position_already_applied_returns_after_the_run_ended(rig: Rig) -> None:
    position = await deposit(rig.store, 1)
    runner = el.ProjectionRunner(rig.store, [rig.ledger()])
    await runner.run_until_caught_up()

    await runner.wait_for_position(position, timeout=WAIT)
    with pytest.raises(ProjectionNotRunning):
        await runner.wait_for_position(position + 1, timeout=WAIT)


async def test_wait_until_caught_up_raises_when_nothing_is_running(memory_rig: Rig) -> None:
    await deposit(memory_rig.store, 1)
    runner = el.ProjectionRunner(memory_rig.store, [memory_rig.ledger()])

    with pytest.raises(ProjectionNotRunning):
        await runner.wait_until_caught_up()


async def test_a_wait_that_times_out_names_the_projection_its_checkpoint_the_position_and_the_bound(
    rig: Rig,
) -> None:
    position = await deposit(rig.store, 1)
    runner = el.ProjectionRunner(rig.store, [rig.ledger()])
    running = start(runner)
    try:
        await runner.wait_until_caught_up(timeout=WAIT)
        with pytest.raises(ProjectionWaitTimeout) as raised:
            await runner.wait_for_position(position + 100, timeout=0.05)
    finally:
        await stopped(runner, running)

    error = raised.value
    assert isinstance(error, TimeoutError)
    assert error.projections == ("ledger",)
    assert (error.position, error.checkpoints, error.timeout) == (position + 100, {"ledger": position}, 0.05)
    assert error.states == {"ledger": "live"}
    assert str(error) == (
        f"projection 'ledger' (checkpoint {position}, live) did not reach position {position + 100} "
        "within 0.05 s"
    )


async def test_a_wait_for_a_named_projection_ignores_the_others(memory_rig: Rig) -> None:
    gate = Gate(at_amount=7)
    held = MemoryLedger(memory_rig.new_target(), gate=gate)
    other = OtherLedger(memory_rig.new_target())
    runner = el.ProjectionRunner(memory_rig.store, [held, other])
    running = start(runner)
    try:
        position = await deposit(memory_rig.store, 7)
        await reached(gate.reached, "the ledger to reach the gate")

        await runner.wait_for_position(position, timeout=WAIT, projection="other-ledger")
        with pytest.raises(ProjectionWaitTimeout) as raised:
            await runner.wait_for_position(position, timeout=0.05)
        gate.opened.set()
        await runner.wait_for_position(position, timeout=WAIT)
    finally:
        gate.opened.set()
        await stopped(runner, running)

    assert raised.value.projections == ("ledger",)
    assert raised.value.checkpoints == {"ledger": 0, "other-ledger": position}


async def test_wait_until_caught_up_with_a_timeout_names_the_projection_still_behind(memory_rig: Rig) -> None:
    gate = Gate(at_amount=3)
    runner = el.ProjectionRunner(memory_rig.store, [MemoryLedger(memory_rig.new_target(), gate=gate)])
    running = start(runner)
    try:
        position = await deposit(memory_rig.store, 3)
        await reached(gate.reached, "the ledger to reach the gate")
        with pytest.raises(ProjectionWaitTimeout) as raised:
            await runner.wait_until_caught_up(timeout=0.05)
    finally:
        gate.opened.set()
        await stopped(runner, running)

    assert (raised.value.projections, raised.value.position) == (("ledger",), position)


async def test_a_wait_ends_when_the_run_stops_meanwhile(memory_rig: Rig) -> None:
    runner = el.ProjectionRunner(memory_rig.store, [memory_rig.ledger()])
    running = start(runner)
    await runner.wait_until_caught_up(timeout=WAIT)
    waiting = asyncio.create_task(runner.wait_for_position(1_000_000, timeout=WAIT))

    await stopped(runner, running)

    with pytest.raises(ProjectionNotRunning) as raised:
        await bounded(waiting, "the wait to end")

    assert raised.value.projections == ("ledger",)


async def test_a_wait_raises_projection_failed_when_the_projection_stops_at_an_event(rig: Rig) -> None:
    faults = Faults()
    faults.refuse(9)
    runner = el.ProjectionRunner(rig.store, [rig.ledger(faults=faults)], retry=FAST)
    running = start(runner)
    try:
        position = await deposit(rig.store, 9)
        with pytest.raises(ProjectionFailed) as raised:
            await runner.wait_for_position(position, timeout=WAIT)
    finally:
        await stopped(runner, running)

    assert (raised.value.projection, raised.value.position) == ("ledger", position)


async def test_a_wait_on_a_standby_returns_when_the_leader_has_applied_the_position(rig: Rig) -> None:
    lease = LeasePolicy(ttl=1.0, renew_every=0.2, standby_poll=0.05)
    leader = el.ProjectionRunner(rig.store, [rig.ledger()], owner="leader", lease=lease)
    standby = el.ProjectionRunner(rig.store, [rig.ledger()], owner="standby", lease=lease)
    leading = start(leader)
    await leader.wait_until_caught_up(timeout=WAIT)
    standing_by = start(standby)
    try:
        await eventually(lambda: _state_is(standby, el.ProjectionState.STANDBY))
        position = await deposit(rig.store, 31)

        await standby.wait_for_position(position, timeout=WAIT)

        assert (await ledger_view(rig.reader)).balances["acct-1"] == (31, 1)
        assert (await standby.status_of("ledger")).state is el.ProjectionState.STANDBY
    finally:
        await stopped(leader, leading)
        await stopped(standby, standing_by)


async def _state_is(runner: el.ProjectionRunner, state: el.ProjectionState) -> bool:
    return (await runner.status_of("ledger")).state is state


# ---------------------------------------------------------------------- across processes


async def test_wait_for_checkpoint_sees_a_runner_in_another_process_reach_the_append(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 30)
    worker = await RunnerProcess(sql_rig, "worker", batch=7).start()
    try:
        position = await deposit(sql_rig.store, 4242, account="acct-read-your-writes")
        checkpoint = await wait_for_checkpoint(sql_rig.reader, "ledger", position, timeout=WAIT)

        view = await ledger_view(sql_rig.reader)
        assert checkpoint >= position
        assert view.balances["acct-read-your-writes"] == (4242, 1)
        assert view == await expected_view(sql_rig.store)
    finally:
        await worker.kill()


async def test_wait_for_checkpoint_with_no_runner_times_out_saying_there_is_no_checkpoint(
    sql_rig: Rig,
) -> None:
    position = await deposit(sql_rig.store, 1)

    with pytest.raises(ProjectionWaitTimeout, match="'ledger' \\(no checkpoint yet\\)") as raised:
        await wait_for_checkpoint(sql_rig.reader, "ledger", position, timeout=0.05)

    assert raised.value.checkpoints == {"ledger": None}


async def test_wait_for_checkpoint_raises_projection_failed_when_the_runner_reports_a_failure(
    sql_rig: Rig,
) -> None:
    faults = Faults()
    faults.refuse(9)
    runner = el.ProjectionRunner(sql_rig.store, [sql_rig.ledger(faults=faults)], retry=FAST)
    running = start(runner)
    try:
        position = await deposit(sql_rig.store, 9)
        with pytest.raises(ProjectionFailed) as raised:
            await wait_for_checkpoint(sql_rig.reader, "ledger", position, timeout=WAIT)
    finally:
        await stopped(runner, running)

    assert raised.value.position == position


async def test_wait_for_checkpoint_returns_at_once_when_the_checkpoint_is_already_there(rig: Rig) -> None:
    position = await deposit(rig.store, 1)
    await el.ProjectionRunner(rig.store, [rig.ledger()]).run_until_caught_up()

    assert await wait_for_checkpoint(rig.reader, "ledger", position, timeout=WAIT) == position
