"""Rebuilds: from scratch, and blue/green to a new schema version; readers never see an empty model."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from projection_rig import (
    Gate,
    MemoryLedger,
    PausedReads,
    Rig,
    SQLLedger,
    deposit_many,
    expected_view,
    ledger_view,
)
from waits import caught_up, eventually, reached

import eventledger as el
from eventledger.errors import ProjectionStateError
from eventledger.projections import LeasePolicy, MemoryTarget, SQLTransaction, Target
from eventledger.projections.targets.postgres import PostgresTarget

QUICK_LEASE = LeasePolicy(ttl=2.0, renew_every=0.1, standby_poll=0.05)


class SQLLedgerV2(SQLLedger, name="ledger", version=2):
    """Version 2 of the ledger's schema: balances also keep the largest single movement."""

    async def setup(self, sql: SQLTransaction) -> None:
        await super().setup(sql)
        await sql.execute(f"ALTER TABLE {sql.table('balances')} ADD COLUMN largest BIGINT NOT NULL DEFAULT 0")

    async def _move(self, account: str, amount: int, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        await super()._move(account, amount, recorded, sql)
        await sql.execute(
            f"UPDATE {sql.table('balances')} SET largest = %s WHERE account = %s AND largest < %s",
            (abs(amount), account, abs(amount)),
        )


async def build_tables(target: Target[Any]) -> set[str]:
    """The per-build tables present in the read-model database."""
    assert hasattr(target, "read")
    async with target.read() as sql:
        if sql.dialect == "sqlite":
            rows = await sql.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            assert isinstance(target, PostgresTarget)
            rows = await sql.fetch_all(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                (target.schema,),
            )
    return {row[0] for row in rows if "_v" in row[0] and "_b" in row[0]}


V1_COLUMNS = {"account", "balance", "events"}
"""What readers of ``balances`` see while version 1 serves; version 2 adds ``largest``."""


async def serving_columns(target: Target[Any]) -> set[str]:
    """The columns readers see in ``balances`` (a view on the serving build); empty without one."""
    assert hasattr(target, "read")
    async with target.read() as sql:
        if sql.dialect == "sqlite":
            rows = await sql.fetch_all(f"PRAGMA table_info({sql.table('balances')})")
            return {str(row[1]) for row in rows}
        assert isinstance(target, PostgresTarget)
        rows = await sql.fetch_all(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'balances'",
            (target.schema,),
        )
        return {str(row[0]) for row in rows}


async def reads_largest(target: Target[Any]) -> bool:
    """Do readers see version 2's read model (version 1's columns and ``largest``)?"""
    return await serving_columns(target) == V1_COLUMNS | {"largest"}


async def serving_build(runner: el.ProjectionRunner) -> int | None:
    return (await runner.status_of("ledger")).build


async def test_a_rebuild_from_scratch_keeps_the_old_read_model_readable_until_it_takes_over(rig: Rig) -> None:
    await deposit_many(rig.store, 40)
    gate = Gate(at_amount=25, armed=False)
    runner = el.ProjectionRunner(rig.store, [rig.ledger(gate=gate)], batch_size=10)
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        await caught_up(runner)
        expected = await expected_view(rig.store)
        gate.armed = True
        new_build = await runner.rebuild("ledger")
        await reached(gate.reached, "gate reached")

        # Mid-rebuild: readers still get the whole old read model, and the status says so.
        assert await ledger_view(rig.reader) == expected
        status = await runner.status_of("ledger")
        assert status.state is el.ProjectionState.REBUILDING
        assert status.rebuild is not None and status.rebuild.build == new_build.number
        assert 0 < status.rebuild.checkpoint < status.checkpoint

        gate.opened.set()
        await eventually(lambda: serving_build(runner))
        await eventually(lambda: _equals(serving_build(runner), new_build.number))
        assert await ledger_view(rig.reader) == expected
        await eventually(lambda: _is_live(runner))
    finally:
        runner.stop()
        await running


async def _equals(value: Any, expected: Any) -> bool:
    return (await value) == expected


async def _is_live(runner: el.ProjectionRunner) -> bool:
    return (await runner.status_of("ledger")).state is el.ProjectionState.LIVE


async def test_a_rebuild_drops_the_old_builds_tables_once_the_new_one_serves(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 15)
    target = sql_rig.new_target()
    runner = el.ProjectionRunner(sql_rig.store, [sql_rig.ledger(target)])
    await runner.run_until_caught_up()
    assert await build_tables(target) == {"balances_v1_b1", "applied_v1_b1"}
    await runner.rebuild("ledger")
    await runner.run_until_caught_up()
    assert await build_tables(target) == {"balances_v1_b2", "applied_v1_b2"}
    assert await ledger_view(target) == await expected_view(sql_rig.store)


async def test_a_rebuild_requested_while_not_running_is_picked_up_by_the_next_run(rig: Rig) -> None:
    await deposit_many(rig.store, 15)
    runner = el.ProjectionRunner(rig.store, [rig.ledger()])
    [before] = await runner.run_until_caught_up()
    requested = await runner.rebuild("ledger")
    [after] = await runner.run_until_caught_up()
    assert (before.build, after.build) == (1, requested.number)
    assert await ledger_view(rig.reader) == await expected_view(rig.store)


async def test_blue_green_a_new_schema_version_builds_beside_the_old_one_which_keeps_serving(
    sql_rig: Rig,
) -> None:
    await deposit_many(sql_rig.store, 40)
    old = el.ProjectionRunner(
        sql_rig.store, [SQLLedger(sql_rig.new_target())], batch_size=10, lease=QUICK_LEASE
    )
    old_running = asyncio.create_task(old.run(handle_signals=False))
    halfway = [r async for r in sql_rig.store.read_all()][20].position
    gate = PausedReads(sql_rig.store, after=halfway)
    new = el.ProjectionRunner(
        gate,  # type: ignore[arg-type]
        [SQLLedgerV2(sql_rig.new_target())],
        batch_size=5,
        lease=QUICK_LEASE,
    )
    new_running: asyncio.Task[None] | None = None
    reader = sql_rig.new_target()
    try:
        await caught_up(old)
        new_running = asyncio.create_task(new.run(handle_signals=False))
        await reached(gate.reached, "gate reached")

        # Version 2 is half built; version 1 still serves, and still follows new events.
        assert (await new.status_of("ledger")).state is el.ProjectionState.REBUILDING
        await deposit_many(sql_rig.store, 10, start=500)
        await caught_up(old)
        assert await ledger_view(reader) == await expected_view(sql_rig.store)
        assert await serving_columns(reader) == V1_COLUMNS

        gate.opened.set()
        await eventually(lambda: reads_largest(reader), what="readers see version 2")
        assert await ledger_view(reader) == await expected_view(sql_rig.store)
        # The old build's tables go in the transaction right after the switch.
        await eventually(lambda: _equals(build_tables(reader), {"balances_v2_b2", "applied_v2_b2"}))
        # The old runner finds its build retired and stops applying.
        await eventually(lambda: old_running.done())
        assert (await old.status_of("ledger")).state is el.ProjectionState.RETIRED
    finally:
        old.stop()
        new.stop()
        await old_running
        if new_running is not None:
            await new_running


async def test_readers_never_see_an_empty_or_missing_read_model_across_a_switch(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 60)
    await el.ProjectionRunner(sql_rig.store, [SQLLedger(sql_rig.new_target())]).run_until_caught_up()
    reader = sql_rig.new_target()
    counts: list[int] = []
    problems: list[BaseException] = []
    switching = True

    async def keep_reading() -> None:
        while switching:
            try:
                async with reader.read() as sql:  # type: ignore[attr-defined]
                    row = await sql.fetch_one(f"SELECT count(*) FROM {sql.table('applied')}")
                counts.append(int(row[0]))
            except Exception as error:
                problems.append(error)
            await asyncio.sleep(0)

    reading = asyncio.create_task(keep_reading())
    try:
        await el.ProjectionRunner(
            sql_rig.store, [SQLLedgerV2(sql_rig.new_target())], batch_size=5
        ).run_until_caught_up()
        await asyncio.sleep(0.05)
    finally:
        switching = False
        await reading
    assert await reads_largest(reader)
    assert problems == []
    expected = len((await expected_view(sql_rig.store)).applied)
    assert len(counts) > 10 and set(counts) == {expected}


async def test_a_runner_of_an_older_version_than_the_serving_one_retires_without_applying(
    sql_rig: Rig,
) -> None:
    await deposit_many(sql_rig.store, 10)
    await el.ProjectionRunner(sql_rig.store, [SQLLedgerV2(sql_rig.new_target())]).run_until_caught_up()
    before = await ledger_view(sql_rig.reader)
    await deposit_many(sql_rig.store, 5, start=100)
    old = el.ProjectionRunner(sql_rig.store, [SQLLedger(sql_rig.new_target())])
    [status] = await old.run_until_caught_up()
    assert status.state is el.ProjectionState.RETIRED
    assert status.last_error is not None and "version 2 is serving" in status.last_error
    assert await ledger_view(sql_rig.reader) == before


async def test_blue_green_on_the_memory_target_switches_the_serving_version() -> None:
    class MemoryLedgerV2(MemoryLedger, name="ledger", version=2):
        pass

    target = MemoryTarget()
    async with el.open_store("memory://") as store:
        await deposit_many(store, 20)
        await el.ProjectionRunner(store, [MemoryLedger(target)]).run_until_caught_up()
        await el.ProjectionRunner(store, [MemoryLedgerV2(target)]).run_until_caught_up()
        active = target.active_build("ledger")
        assert active is not None and active.version == 2
        assert await ledger_view(target) == await expected_view(store)
        assert set(target.builds["ledger"]) == {active.number}


async def test_a_target_whose_effects_must_not_repeat_cannot_be_rebuilt() -> None:
    class OnceOnly(MemoryTarget):
        replayable = False

    async with el.open_store("memory://") as store:
        runner = el.ProjectionRunner(store, [MemoryLedger(OnceOnly())])
        with pytest.raises(ProjectionStateError, match="cannot be rebuilt"):
            await runner.rebuild("ledger")
