"""When a handler fails: retries with back-off, then ``failed`` at the event; nothing is skipped
unless an operator says so, and then the event is recorded as a dead letter."""

from __future__ import annotations

import asyncio

import pytest
from projection_rig import (
    Deposited,
    Faults,
    MemoryLedger,
    Rig,
    deposit_many,
    expected_from,
    expected_view,
    insert_undecodable,
    ledger_view,
    readable_events,
)
from waits import caught_up, eventually

import eventledger as el
from eventledger.errors import ProjectionFailed, ProjectionStateError
from eventledger.projections import EventFailed, MemoryTarget, ProjectionListener, ProjectionRetryPolicy
from eventledger.versioning import RetiredEvent, UpcasterRegistry, use_upcasters

FAST = ProjectionRetryPolicy(attempts=3, first_delay=0.001, max_delay=0.005)


async def position_of_amount(store: el.EventStore, amount: int) -> el.RecordedEvent:
    async for recorded in store.read_all():
        if isinstance(recorded.event, Deposited) and recorded.event.amount == amount:
            return recorded
    raise AssertionError(f"no deposit of {amount}")


class Failures(ProjectionListener):
    def __init__(self) -> None:
        self.seen: list[EventFailed] = []

    def event_failed(self, failure: EventFailed) -> None:
        self.seen.append(failure)


async def start(runner: el.ProjectionRunner) -> asyncio.Task[None]:
    return asyncio.create_task(runner.run(handle_signals=False))


async def wait_for_state(runner: el.ProjectionRunner, state: el.ProjectionState) -> el.ProjectionStatus:
    async def reached() -> bool:
        return (await runner.status_of("ledger")).state is state

    await eventually(reached)
    return await runner.status_of("ledger")


async def test_a_handler_that_fails_a_few_times_is_retried_and_applies_its_event_once(rig: Rig) -> None:
    await deposit_many(rig.store, 30)
    faults = Faults()
    faults.refuse(7, times=2)
    runner = el.ProjectionRunner(rig.store, [rig.ledger(faults=faults)], batch_size=10, retry=FAST)
    await runner.run_until_caught_up()
    assert faults.attempts[7] >= 3
    assert await ledger_view(rig.reader) == await expected_view(rig.store)


async def test_when_retries_run_out_the_projection_fails_at_that_event_having_applied_those_before(
    rig: Rig,
) -> None:
    await deposit_many(rig.store, 30)
    faults = Faults()
    faults.refuse(17)
    runner = el.ProjectionRunner(rig.store, [rig.ledger(faults=faults)], batch_size=10, retry=FAST)
    running = await start(runner)
    try:
        status = await wait_for_state(runner, el.ProjectionState.FAILED)
        poison = await position_of_amount(rig.store, 17)
        assert status.failure is not None
        assert (status.failure.position, status.failure.event_type, status.failure.stream_id) == (
            poison.position,
            "test.projections.deposited",
            poison.stream_id,
        )
        assert "refusing amount 17" in status.failure.error
        assert status.last_error is not None and "refusing amount 17" in status.last_error
        assert faults.attempts[17] == FAST.attempts + 1  # once in its batch, then alone each time
        expected = await expected_view(rig.store)
        view = await ledger_view(rig.reader)
        assert view.applied == [p for p in expected.applied if p < poison.position]
    finally:
        runner.stop()
        await running


async def test_run_until_caught_up_raises_projection_failed_naming_the_event(rig: Rig) -> None:
    await deposit_many(rig.store, 12)
    faults = Faults()
    faults.refuse(4)
    runner = el.ProjectionRunner(rig.store, [rig.ledger(faults=faults)], retry=FAST)
    poison = await position_of_amount(rig.store, 4)
    with pytest.raises(
        ProjectionFailed, match=rf"position {poison.position} .*test.projections.deposited"
    ):
        await runner.run_until_caught_up()


async def test_skipping_the_failed_event_records_a_dead_letter_and_carries_on(rig: Rig) -> None:
    await deposit_many(rig.store, 30)
    faults = Faults()
    faults.refuse(17)
    runner = el.ProjectionRunner(rig.store, [rig.ledger(faults=faults)], batch_size=10, retry=FAST)
    running = await start(runner)
    try:
        await wait_for_state(runner, el.ProjectionState.FAILED)
        skipped = await runner.skip_failed_event("ledger")
        await caught_up(runner)
        poison = await position_of_amount(rig.store, 17)
        assert skipped.position == poison.position
        everything_else = [r async for r in rig.store.read_all() if r.position != poison.position]
        assert await ledger_view(rig.reader) == expected_from(everything_else)
        [letter] = await runner.dead_letters("ledger")
        assert (letter.position, letter.event_type, letter.stream_id, letter.event_id) == (
            poison.position,
            "test.projections.deposited",
            poison.stream_id,
            poison.event_id,
        )
        assert "refusing amount 17" in letter.error
        assert (await runner.status_of("ledger")).state is el.ProjectionState.LIVE
    finally:
        runner.stop()
        await running


async def test_retrying_after_the_cause_is_fixed_applies_the_event(rig: Rig) -> None:
    await deposit_many(rig.store, 20)
    faults = Faults()
    faults.refuse(9)
    runner = el.ProjectionRunner(rig.store, [rig.ledger(faults=faults)], batch_size=10, retry=FAST)
    running = await start(runner)
    try:
        await wait_for_state(runner, el.ProjectionState.FAILED)
        faults.heal()
        retried = await runner.retry("ledger")
        await caught_up(runner)
        assert retried.position == (await position_of_amount(rig.store, 9)).position
        assert await ledger_view(rig.reader) == await expected_view(rig.store)
        assert await runner.dead_letters("ledger") == []
    finally:
        runner.stop()
        await running


async def test_skip_or_retry_is_refused_when_the_projection_has_not_failed() -> None:
    async with el.open_store("memory://") as store:
        runner = el.ProjectionRunner(store, [MemoryLedger(MemoryTarget())])
        with pytest.raises(ProjectionStateError, match="'ledger' is starting, not failed"):
            await runner.skip_failed_event("ledger")
        with pytest.raises(ProjectionStateError, match="not failed"):
            await runner.retry("ledger")


async def test_an_event_that_cannot_be_decoded_stops_the_projection_exactly_at_it(rig: Rig) -> None:
    await deposit_many(rig.store, 23)
    poison = await insert_undecodable(rig, "foreign-1")
    await deposit_many(rig.store, 9, start=900)
    runner = el.ProjectionRunner(rig.store, [rig.ledger()], batch_size=10, retry=FAST)
    running = await start(runner)
    try:
        status = await wait_for_state(runner, el.ProjectionState.FAILED)
        assert status.failure is not None
        assert (status.failure.position, status.failure.event_type, status.failure.stream_id) == (
            poison,
            "test.projections.vanished",
            "foreign-1",
        )
        readable = await readable_events(rig.store)
        before = [r for r in readable if r.position < poison]
        assert status.checkpoint == before[-1].position
        assert await ledger_view(rig.reader) == expected_from(before)

        await runner.skip_failed_event("ledger")
        await caught_up(runner)
        assert await ledger_view(rig.reader) == expected_from(readable)
        [letter] = await runner.dead_letters("ledger")
        assert (letter.position, letter.event_type, letter.event_id) == (
            poison,
            "test.projections.vanished",
            None,
        )
        assert "unknown event type" in letter.error
    finally:
        runner.stop()
        await running


async def test_the_listener_hears_every_failed_attempt_and_which_was_the_last(rig: Rig) -> None:
    await deposit_many(rig.store, 5)
    faults = Faults()
    faults.refuse(3)
    failures = Failures()
    runner = el.ProjectionRunner(rig.store, [rig.ledger(faults=faults)], retry=FAST, listeners=[failures])
    with pytest.raises(ProjectionFailed):
        await runner.run_until_caught_up()
    alone = [f for f in failures.seen]
    assert [(f.attempt, f.final) for f in alone] == [(1, False), (2, False), (3, True)]
    assert {f.position for f in alone} == {(await position_of_amount(rig.store, 3)).position}


async def test_a_projection_retrying_an_event_reports_stalled_with_the_error(rig: Rig) -> None:
    await deposit_many(rig.store, 5)
    faults = Faults()
    faults.refuse(2, times=3)
    patient = ProjectionRetryPolicy(attempts=10, first_delay=0.2, max_delay=0.2)
    runner = el.ProjectionRunner(rig.store, [rig.ledger(faults=faults)], retry=patient)
    running = await start(runner)
    try:
        status = await wait_for_state(runner, el.ProjectionState.STALLED)
        assert status.last_error is not None and "refusing amount 2" in status.last_error
        assert status.failure is None
        await caught_up(runner)
        assert await ledger_view(rig.reader) == await expected_view(rig.store)
    finally:
        runner.stop()
        await running


async def test_a_failed_projection_does_not_hold_up_the_others() -> None:
    class Healthy(MemoryLedger, name="healthy"):
        pass

    faults = Faults()
    faults.refuse(5)
    async with el.open_store("memory://") as store:
        await deposit_many(store, 20)
        failing, healthy = MemoryTarget(), MemoryTarget()
        runner = el.ProjectionRunner(
            store, [MemoryLedger(failing, faults=faults), Healthy(healthy)], batch_size=4, retry=FAST
        )
        running = await start(runner)
        try:
            await wait_for_state(runner, el.ProjectionState.FAILED)
            await eventually(
                lambda: (
                    dict(healthy.table("healthy", "balances")) != {}
                    and sum(n for _, n in healthy.table("healthy", "balances").values()) == 20
                )
            )
            assert (await runner.status_of("healthy")).state is el.ProjectionState.LIVE
        finally:
            runner.stop()
            await running


async def test_an_event_of_a_retired_type_is_passed_over_like_any_event_without_a_handler(rig: Rig) -> None:
    await deposit_many(rig.store, 8)
    retired = await insert_undecodable(rig, "foreign-1")
    await deposit_many(rig.store, 4, start=900)
    registry = UpcasterRegistry()
    registry.retire("test.projections.vanished", reason="nobody reads it any more")
    with use_upcasters(registry):
        runner = el.ProjectionRunner(rig.store, [rig.ledger()], batch_size=5, retry=FAST)
        [status] = await runner.run_until_caught_up()
        everything = [r async for r in rig.store.read_all()]
    assert any(r.position == retired and isinstance(r.event, RetiredEvent) for r in everything)
    assert (status.checkpoint, status.failure) == (everything[-1].position, None)
    assert await ledger_view(rig.reader) == expected_from(everything)
