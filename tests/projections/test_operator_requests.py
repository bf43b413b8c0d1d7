"""Operator requests through the bookkeeping (eventledger.operations): a runner in another task or
process carries them out at its lease heartbeat, and refuses those that came too late."""

from __future__ import annotations

import asyncio

import pytest
from projection_rig import Faults, Rig, deposit_many, expected_view, ledger_view
from waits import caught_up, eventually

import eventledger as el
from eventledger import operations
from eventledger.errors import ProjectionStateError
from eventledger.projections import LeasePolicy, MemoryTarget, ProjectionRetryPolicy
from eventledger.projections.requests import OperatorRequest, RequestedAction, RequestState

FAST = ProjectionRetryPolicy(attempts=2, first_delay=0.001, max_delay=0.005)
QUICK_BEATS = LeasePolicy(ttl=2.0, renew_every=0.1)


async def test_a_skip_asked_through_the_bookkeeping_is_carried_out_by_the_runner_in_another_task(
    sql_rig: Rig,
) -> None:
    await deposit_many(sql_rig.store, 10)
    faults = Faults()
    faults.refuse(4)
    ledger = sql_rig.ledger(faults=faults)
    runner = el.ProjectionRunner(sql_rig.store, [ledger], retry=FAST, lease=QUICK_BEATS)
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        async def failed() -> bool:
            status = await operations.stored_statuses(sql_rig.store, [sql_rig.ledger()])
            return status[0].state == "failed"

        await eventually(failed, what="the runner to report the ledger failed")

        outcome = await operations.skip_failed_event(sql_rig.store, sql_rig.ledger(), timeout=30)

        assert outcome.request.state is RequestState.DONE
        assert outcome.dead_letter is not None
        assert outcome.failure is not None
        assert outcome.dead_letter.position == outcome.failure.position
        await caught_up(runner)
    finally:
        runner.stop()
        await running
    view = await ledger_view(sql_rig.reader)
    assert view != await expected_view(sql_rig.store)  # the skipped deposit is not in it
    assert [letter.position for letter in await runner.dead_letters("ledger")] == [outcome.failure.position]


async def test_a_request_for_a_position_the_projection_has_passed_is_refused(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 5)
    ledger = sql_rig.ledger()
    runner = el.ProjectionRunner(sql_rig.store, [ledger], lease=QUICK_BEATS)
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        await caught_up(runner)
        late = OperatorRequest.new("ledger", RequestedAction.SKIP, position=2)
        connection = await sql_rig.ledger().target.connect()
        try:
            await connection.save_request(late)

            async def answered() -> OperatorRequest | None:
                current = await connection.read_request(late.id)
                return current if current is not None and current.state is not RequestState.PENDING else None

            await eventually(answered, what="the runner to answer the late request")
            answer = await connection.read_request(late.id)
        finally:
            await connection.close()
    finally:
        runner.stop()
        await running
    assert answer is not None
    assert answer.state is RequestState.REFUSED
    head = await sql_rig.store.head_position()
    assert answer.outcome == f"the projection is past position 2 already (checkpoint {head})"
    assert await runner.dead_letters("ledger") == []


async def test_a_projection_that_has_not_failed_cannot_be_skipped(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 3)
    await el.ProjectionRunner(sql_rig.store, [sql_rig.ledger()]).run_until_caught_up()

    with pytest.raises(ProjectionStateError, match="is stopped, not failed"):
        await operations.skip_failed_event(sql_rig.store, sql_rig.ledger(), timeout=1)


async def test_a_memory_target_takes_no_requests_from_other_processes() -> None:
    request = OperatorRequest.new("ledger", RequestedAction.REBUILD)
    connection = await MemoryTarget().connect()

    with pytest.raises(ProjectionStateError, match="keeps its bookkeeping inside the process"):
        await connection.save_request(request)
