"""A projection's status read from another process: what its runner reported, lag measured now."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from projection_rig import Rig, deposit_many
from waits import caught_up, eventually

import eventledger as el
from eventledger.projections import FailureInfo, MemoryTarget, Projection, StalledReason
from eventledger.projections.progress import stored_status
from eventledger.projections.targets.base import ProjectionReport
from eventledger.store.records import OpenTransaction

AN_HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)
FAILURE = FailureInfo(7, "test.projections.deposited", "acct-3", "RuntimeError: no", 5, AN_HOUR_AGO)
STALL = StalledReason(
    12, AN_HOUR_AGO, OpenTransaction(4242, "test", "idle in transaction", timedelta(seconds=90))
)


def report(state: el.ProjectionState, reported_at: datetime, **changes: Any) -> ProjectionReport:
    values: dict[str, Any] = {
        "projection": "ledger",
        "version": 1,
        "owner": "elsewhere:1:abc",
        "state": state,
        "build": 1,
        "events_per_second": 12.5,
        "last_error": None,
        "failure": None,
        "stalled_reason": None,
        "reported_at": reported_at,
        "interval": 2.0,
    }
    return ProjectionReport(**{**values, **changes})


async def record(projection: Projection[Any], made: ProjectionReport) -> None:
    connection = await projection.target.connect()
    try:
        await connection.record_report(made)
    finally:
        await connection.close()


async def test_a_report_reads_back_with_its_failure_and_its_stall(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 3)
    ledger = sql_rig.ledger()
    await el.ProjectionRunner(sql_rig.store, [ledger]).run_until_caught_up()
    made = report(
        el.ProjectionState.FAILED, AN_HOUR_AGO, failure=FAILURE, stalled_reason=STALL, last_error="x"
    )

    await record(ledger, made)
    bookkeeping = await ledger.target.read_bookkeeping("ledger")

    assert bookkeeping is not None and bookkeeping.reports == (made,)


async def test_a_running_state_whose_runner_stopped_reporting_is_unknown(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 3)
    ledger = sql_rig.ledger()
    await el.ProjectionRunner(sql_rig.store, [ledger]).run_until_caught_up()
    await record(ledger, report(el.ProjectionState.LIVE, AN_HOUR_AGO))

    status = await stored_status(sql_rig.store, ledger)

    assert (status.state, status.events_per_second) == ("unknown", None)
    assert status.report_age is not None and status.report_age >= 3600


async def test_a_failure_is_still_shown_after_its_runner_has_gone(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 3)
    ledger = sql_rig.ledger()
    await el.ProjectionRunner(sql_rig.store, [ledger]).run_until_caught_up()
    await record(ledger, report(el.ProjectionState.FAILED, AN_HOUR_AGO, failure=FAILURE))

    status = await stored_status(sql_rig.store, ledger)

    assert (status.state, status.failure) == ("failed", FAILURE)


async def test_the_runner_reports_live_while_it_runs_and_stopped_when_it_stops(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 10)
    ledger = sql_rig.ledger()
    runner = el.ProjectionRunner(sql_rig.store, [ledger])
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        await caught_up(runner)

        async def reported_live() -> bool:
            return (await stored_status(sql_rig.store, sql_rig.ledger())).state == "live"

        await eventually(reported_live, what="the runner's report says live", store=sql_rig.store)
        status = await stored_status(sql_rig.store, sql_rig.ledger())
        assert (status.checkpoint, status.lag_events, status.lag_seconds) == (status.head_position, 0, 0.0)
        assert status.events_per_second is not None and status.events_per_second > 0
    finally:
        runner.stop()
        await running
    assert (await stored_status(sql_rig.store, sql_rig.ledger())).state == "stopped"


async def test_a_projection_no_runner_has_built_is_not_started(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 2)

    status = await stored_status(sql_rig.store, sql_rig.ledger())

    assert (status.state, status.checkpoint, status.lag_events) == ("not started", None, None)


async def test_an_in_memory_read_models_status_lives_only_in_its_process() -> None:
    async with el.open_store("memory://") as store:
        from projection_rig import MemoryLedger

        status = await stored_status(store, MemoryLedger(MemoryTarget()))

    assert status.state == "in another process"
