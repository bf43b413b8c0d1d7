"""One record of a failed event, from the failed batch to the listener, the status, the error and
the dead-letter table: nothing is lost or reshaped on the way."""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import sqlite3

import psycopg
import pytest
from projection_rig import POSTGRES_URL, Faults, Rig, deposit_many
from waits import caught_up, eventually

import eventledger as el
from eventledger.errors import ProjectionFailed
from eventledger.projections import EventFailed, EventFailure, ProjectionListener, ProjectionRetryPolicy

FAST = ProjectionRetryPolicy(attempts=3, first_delay=0.001, max_delay=0.005)


async def recorded_with_amount(store: el.EventStore, amount: int) -> el.RecordedEvent:
    async for recorded in store.read_all():
        if getattr(recorded.event, "amount", None) == amount:
            return recorded
    raise AssertionError(f"no event of amount {amount}")


async def failed_status(runner: el.ProjectionRunner) -> el.ProjectionStatus:
    async def failed() -> bool:
        return (await runner.status_of("ledger")).state is el.ProjectionState.FAILED

    await eventually(failed, what="the ledger to fail")
    return await runner.status_of("ledger")


async def test_the_dead_letter_keeps_the_very_failure_the_status_showed(rig: Rig) -> None:
    await deposit_many(rig.store, 12)
    faults = Faults()
    faults.refuse(6)
    runner = el.ProjectionRunner(rig.store, [rig.ledger(faults=faults)], batch_size=5, retry=FAST)
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        shown = (await failed_status(runner)).failure
        poison = await recorded_with_amount(rig.store, 6)
        assert shown is not None
        assert (shown.position, shown.event_id, shown.attempts) == (poison.position, poison.event_id, 3)

        skipped = await runner.skip_failed_event("ledger")
        await caught_up(runner)
        [letter] = await runner.dead_letters("ledger")
    finally:
        runner.stop()
        await running
    assert skipped == shown
    assert letter.failure == shown


async def test_projection_failed_carries_the_failure_record_the_listener_heard_and_pickles(rig: Rig) -> None:
    heard: list[EventFailed] = []

    class Hearing(ProjectionListener):
        def event_failed(self, failure: EventFailed) -> None:
            heard.append(failure)

    await deposit_many(rig.store, 5)
    faults = Faults()
    faults.refuse(2)
    runner = el.ProjectionRunner(rig.store, [rig.ledger(faults=faults)], retry=FAST, listeners=[Hearing()])
    with pytest.raises(ProjectionFailed) as raised:
        await runner.run_until_caught_up()

    failure = raised.value.failure
    assert isinstance(failure, EventFailure)
    assert failure == heard[-1].failure and heard[-1].final
    assert [f.failure.attempts for f in heard] == [1, 2, 3]
    assert failure.event_id == (await recorded_with_amount(rig.store, 2)).event_id
    copy = pickle.loads(pickle.dumps(raised.value))
    assert (copy.failure, str(copy)) == (failure, str(raised.value))


async def old_dead_letter_table(rig: Rig) -> None:
    """The dead-letter table as releases before attempts and failure times made it, with one row."""
    columns = (
        "projection TEXT NOT NULL, build INTEGER NOT NULL, position BIGINT NOT NULL, event_id TEXT, "
        "stream_id TEXT NOT NULL, event_type TEXT NOT NULL, error TEXT NOT NULL, "
        "skipped_at {} NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (projection, build, position)"
    )
    row = (
        "(projection, build, position, stream_id, event_type, error) VALUES ('ledger', 1, 1, 'old', 'x', 'e')"
    )
    if rig.kind == "sqlite":
        with contextlib.closing(sqlite3.connect(rig.target_url)) as db, db:
            db.execute(f"CREATE TABLE eventledger_dead_letters ({columns.format('TEXT')})")
            db.execute(f"INSERT INTO eventledger_dead_letters {row}")
        return
    table = f'"{rig.schema}".eventledger_dead_letters'
    async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
        await connection.execute(f"CREATE TABLE {table} ({columns.format('timestamptz')})".encode())
        await connection.execute(f"INSERT INTO {table} {row}".encode())


async def test_an_older_dead_letter_table_is_brought_up_to_date_and_keeps_its_rows(sql_rig: Rig) -> None:
    await old_dead_letter_table(sql_rig)
    await deposit_many(sql_rig.store, 5)
    faults = Faults()
    faults.refuse(3)
    runner = el.ProjectionRunner(sql_rig.store, [sql_rig.ledger(faults=faults)], retry=FAST)
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        shown = (await failed_status(runner)).failure
        await runner.skip_failed_event("ledger")
        await caught_up(runner)
        old, new = await runner.dead_letters("ledger")
    finally:
        runner.stop()
        await running
    assert (old.stream_id, old.failure.attempts, old.failure.at.tzinfo is not None) == ("old", 0, True)
    assert new.failure == shown
