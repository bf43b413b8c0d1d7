"""The checkpoint moves by compare-and-set in the batch's own transaction: effects exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from projection_rig import Faults, Rig, deposit_many, ledger_view

import eventledger as el
from eventledger.errors import CheckpointConflict, LeaseLost
from eventledger.projections import Build, Projection, TargetConnection


async def apply(
    connection: TargetConnection[Any],
    projection: Projection[Any],
    build: Build,
    expected: int,
    events: list[el.RecordedEvent],
) -> None:
    """What the runner does with one batch: one transaction, handlers inside, checkpoint moved."""
    async with connection.batch(projection, build, expected, events[-1].position) as session:
        for recorded in events:
            handler = projection.handler_for(type(recorded.event))
            if handler is not None:
                await handler(recorded.event, recorded, session)


async def registered(connection: TargetConnection[Any], projection: Projection[Any], owner: str) -> Build:
    assert await connection.acquire_lease(f"{owner}-lease", owner, 30.0)
    [build] = (await connection.prepare(projection)).run
    return build


async def test_redelivering_a_batch_already_applied_is_rejected_and_changes_nothing(rig: Rig) -> None:
    await deposit_many(rig.store, 20)
    projection = rig.ledger()
    connection = await projection.target.connect()
    try:
        build = await registered(connection, projection, "me")
        batch = [recorded async for recorded in rig.store.read_all(limit=10)]
        await apply(connection, projection, build, 0, batch)
        before = await ledger_view(projection.target)

        with pytest.raises(
            CheckpointConflict, match=rf"expected checkpoint 0, found checkpoint {batch[-1].position}"
        ):
            await apply(connection, projection, build, 0, batch)

        assert await ledger_view(projection.target) == before
        assert len(before.applied) == len([r for r in batch if type(r.event).__name__ != "Remarked"])
    finally:
        await connection.close()


async def test_the_checkpoint_is_the_position_of_the_last_event_of_the_committed_batch(rig: Rig) -> None:
    await deposit_many(rig.store, 20)
    projection = rig.ledger()
    connection = await projection.target.connect()
    try:
        build = await registered(connection, projection, "me")
        batch = [recorded async for recorded in rig.store.read_all(limit=7)]
        await apply(connection, projection, build, 0, batch)
        stored = await connection.load(projection.name, build.number)
        assert stored is not None and stored.position == batch[-1].position
    finally:
        await connection.close()


async def test_a_batch_whose_handler_fails_leaves_neither_effects_nor_a_moved_checkpoint(rig: Rig) -> None:
    await deposit_many(rig.store, 20)
    faults = Faults()
    faults.refuse(8)
    projection = rig.ledger(faults=faults)
    connection = await projection.target.connect()
    try:
        build = await registered(connection, projection, "me")
        batch = [recorded async for recorded in rig.store.read_all(limit=10)]
        with pytest.raises(RuntimeError, match="refusing amount 8"):
            await apply(connection, projection, build, 0, batch)
        stored = await connection.load(projection.name, build.number)
        assert stored is not None and stored.position == 0
        view = await ledger_view(projection.target)
        assert (view.balances, view.applied) == ({}, [])
    finally:
        await connection.close()


async def test_two_connections_racing_to_apply_one_batch_commit_it_once(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 20)
    first, second = sql_rig.ledger(), sql_rig.ledger()
    one = await first.target.connect()
    other = await second.target.connect()
    try:
        # Two leases on purpose (another key each): only the compare-and-set stands between them.
        build = await registered(one, first, "one")
        assert await other.acquire_lease("other-lease", "other", 30.0)
        batch = [recorded async for recorded in sql_rig.store.read_all(limit=10)]
        outcomes = await asyncio.gather(
            apply(one, first, build, 0, batch), apply(other, second, build, 0, batch), return_exceptions=True
        )
        assert sorted(type(outcome).__name__ for outcome in outcomes) == ["CheckpointConflict", "NoneType"]
        view = await ledger_view(first.target)
        assert (
            len(view.applied)
            == len(set(view.applied))
            == sum(1 for r in batch if type(r.event).__name__ != "Remarked")
        )
    finally:
        await one.close()
        await other.close()


async def test_a_batch_without_the_lease_is_refused(rig: Rig) -> None:
    await deposit_many(rig.store, 5)
    projection = rig.ledger()
    connection = await projection.target.connect()
    try:
        build = await registered(connection, projection, "me")
        await connection.release_lease()
        batch = [recorded async for recorded in rig.store.read_all()]
        with pytest.raises(LeaseLost, match="'ledger'"):
            await apply(connection, projection, build, 0, batch)
        assert (await ledger_view(projection.target)).applied == []
    finally:
        await connection.close()
