"""``testing.running_projections``: the projections a scenario needs run in the background of the
test; its waits end with the read model up to date or with an error, never a hang."""

from __future__ import annotations

from pathlib import Path

import pytest
from projection_rig import Deposited, Faults, Rig, SQLLedger, deposit_many, expected_view, ledger_view
from waits import WAIT, eventually

import eventledger as el
from eventledger.errors import InvalidArgument, ProjectionFailed, StoreClosed
from eventledger.projections import ProjectionNotRunning, SQLiteTarget
from eventledger.testing import running_projections


async def deposit(store: el.EventStore, amount: int) -> el.AppendResult:
    return await store.append("acct-1", [Deposited(account="acct-1", amount=amount)], expected_version=el.ANY)


async def test_caught_up_with_an_append_lets_the_test_read_it(rig: Rig) -> None:
    async with running_projections(rig.store, [rig.ledger()]) as running:
        result = await deposit(rig.store, 77)
        await running.caught_up_with(result)

        assert (await ledger_view(rig.reader)).balances["acct-1"] == (77, 1)


async def test_caught_up_waits_for_everything_appended_so_far(rig: Rig) -> None:
    async with running_projections(rig.store, [rig.ledger()], timeout=WAIT) as running:
        await deposit_many(rig.store, 40)
        await running.caught_up()

        assert await ledger_view(rig.reader) == await expected_view(rig.store)


async def test_projection_classes_are_bound_to_the_target_given(tmp_path: Path) -> None:
    target = SQLiteTarget(tmp_path / "read.db")
    try:
        store = await el.open_store("memory://")
        async with store, running_projections(store, [SQLLedger], target=target) as running:
            await running.caught_up_with(await deposit(store, 5))

            [ledger] = running.projections
            assert ledger.target is target
            assert (await ledger_view(target)).balances == {"acct-1": (5, 1)}
    finally:
        await target.close()


async def test_a_projection_class_without_a_target_is_refused(tmp_path: Path) -> None:
    async with el.open_store("memory://") as store:
        with pytest.raises(InvalidArgument, match="SQLLedger: pass target="):
            async with running_projections(store, [SQLLedger]):
                pass


async def test_a_failing_projection_ends_the_wait_with_its_failure(rig: Rig) -> None:
    faults = Faults()
    faults.refuse(13)
    with pytest.raises(ProjectionFailed) as raised:
        async with running_projections(rig.store, [rig.ledger(faults=faults)]) as running:
            result = await deposit(rig.store, 13)
            await running.caught_up_with(result)

    assert raised.value.position == result.positions[-1]


async def test_a_failure_nobody_waited_for_fails_the_block_at_its_end(rig: Rig) -> None:
    faults = Faults()
    faults.refuse(13)
    with pytest.raises(ProjectionFailed, match="refusing amount 13"):
        async with running_projections(rig.store, [rig.ledger(faults=faults)]) as running:
            await deposit(rig.store, 13)
            await eventually(lambda: _has_failed(running.runner))


async def _has_failed(runner: el.ProjectionRunner) -> bool:
    return (await runner.status_of("ledger")).state is el.ProjectionState.FAILED


async def test_the_runner_stops_when_the_block_ends(rig: Rig) -> None:
    async with running_projections(rig.store, [rig.ledger()]) as running:
        await running.caught_up()

    with pytest.raises(ProjectionNotRunning):
        await running.caught_up()


async def test_an_error_that_ends_the_runner_ends_the_wait_with_that_error(tmp_path: Path) -> None:
    store = await el.open_store(f"sqlite:///{tmp_path / 'events.db'}")
    target = SQLiteTarget(tmp_path / "read.db")
    try:
        with pytest.raises(StoreClosed):
            async with running_projections(store, [SQLLedger], target=target) as running:
                result = await deposit(store, 3)
                await running.caught_up_with(result)
                await store.close()
                await running.caught_up_with(result.positions[-1] + 1)
    finally:
        await target.close()
