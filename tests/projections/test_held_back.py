"""Events held back by an open transaction: lag, gauges, a stalled state naming the transaction.

On PostgreSQL a committed event can wait behind an older transaction that is still open; every
projection waits with it. That wait is lag, and past ``held_back_stall_after`` it is a stall
with a named cause. On SQLite and in memory nothing is ever held back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from held_back import HeldTransaction, append_deposits, held_transaction
from projection_rig import Rig, deposit_many, make_rig
from waits import caught_up, eventually

import eventledger as el
from eventledger.metrics import EventLedgerMetrics
from eventledger.projections.lag import HeldBackWatch, stall_reason
from eventledger.store.records import OpenTransaction, VisibilityStatus

HELD = 8
"""Events appended behind the open transaction."""

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
SESSION = OpenTransaction(pid=4242, database="orders", state="idle in transaction", age=timedelta(seconds=41))


def held_back(events: int, oldest: datetime | None = None) -> VisibilityStatus:
    return VisibilityStatus(100 + events, 100, events, oldest, SESSION if events else None)


# ----------------------------------------------------------------------------- the rule


def test_events_held_back_for_less_than_the_threshold_do_not_stall() -> None:
    assert stall_reason(held_back(3, NOW - timedelta(seconds=4)), None, 5.0, NOW) is None


def test_events_held_back_longer_than_the_threshold_stall_naming_the_transaction_and_since_when() -> None:
    oldest = NOW - timedelta(seconds=6)
    reason = stall_reason(held_back(3, oldest), None, 5.0, NOW)
    assert reason is not None
    assert (reason.held_back_events, reason.since, reason.transaction) == (3, oldest, SESSION)
    assert "pid 4242, database orders, idle in transaction, open for 41 s" in reason.describe()


def test_when_the_store_cannot_date_held_back_events_the_stall_counts_from_when_first_seen() -> None:
    watch = HeldBackWatch(stall_after=5.0)
    assert watch.observe(held_back(3), now=NOW) is None
    assert watch.observe(held_back(5), now=NOW + timedelta(seconds=4)) is None
    reason = watch.observe(held_back(5), now=NOW + timedelta(seconds=6))
    assert reason is not None and reason.since == NOW


def test_the_watch_starts_counting_again_after_nothing_was_held_back() -> None:
    watch = HeldBackWatch(stall_after=5.0)
    watch.observe(held_back(3), now=NOW)
    watch.observe(held_back(0), now=NOW + timedelta(seconds=1))
    assert watch.observe(held_back(3), now=NOW + timedelta(seconds=6)) is None
    assert watch.held_since == NOW + timedelta(seconds=6)


def test_the_threshold_must_be_a_positive_number_of_seconds() -> None:
    with pytest.raises(el.InvalidArgument, match="held_back_stall_after"):
        el.ProjectionRunner(None, [], held_back_stall_after=0)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- PostgreSQL, for real


@dataclass
class HeldBack:
    rig: Rig
    runner: el.ProjectionRunner
    held: HeldTransaction


STALL_AFTER = 0.3


@pytest.fixture
async def stalled(tmp_path: Path) -> AsyncIterator[HeldBack]:
    """A live ledger on PostgreSQL, then an open transaction and HELD events appended behind it."""
    async for rig in make_rig("postgres", tmp_path):
        await deposit_many(rig.store, 5)
        runner = el.ProjectionRunner(rig.store, [rig.ledger()], held_back_stall_after=STALL_AFTER)
        running = asyncio.create_task(runner.run(handle_signals=False))
        try:
            await caught_up(runner)
            async with held_transaction(rig) as held:
                await append_deposits(rig.store, HELD)
                await status_when(runner, lambda status: status.state is el.ProjectionState.STALLED)
                yield HeldBack(rig, runner, held)
        finally:
            runner.stop()
            await running


async def status_when(
    runner: el.ProjectionRunner, condition: Callable[[el.ProjectionStatus], bool]
) -> el.ProjectionStatus:
    found: list[el.ProjectionStatus] = []

    async def holds() -> bool:
        status = await runner.status_of("ledger")
        found[:] = [status]
        return condition(status)

    await eventually(holds, what="the ledger's status condition", store=runner.store)
    return found[0]


@pytest.mark.postgres
async def test_held_back_events_stall_a_live_projection_naming_the_session_that_holds_them(
    stalled: HeldBack,
) -> None:
    status = await stalled.runner.status_of("ledger")
    assert status.state is el.ProjectionState.STALLED
    reason = status.stalled_reason
    assert reason is not None and reason.transaction is not None
    assert reason.transaction.pid == stalled.held.pid
    assert reason.transaction.database == "test"
    assert reason.transaction.state == "idle in transaction"
    assert reason.held_back_events == HELD
    assert datetime.now(UTC) - reason.since >= timedelta(seconds=STALL_AFTER)


@pytest.mark.postgres
async def test_held_back_events_count_as_lag_in_events_and_seconds(stalled: HeldBack) -> None:
    status = await stalled.runner.status_of("ledger")
    assert (status.held_back_events, status.lag_events) == (HELD, HELD)
    assert status.written_position > status.head_position == status.checkpoint
    assert status.lag_seconds is not None and status.lag_seconds >= STALL_AFTER


@pytest.mark.postgres
async def test_the_gauges_show_the_held_back_events_and_the_age_of_the_transaction(stalled: HeldBack) -> None:
    metrics = EventLedgerMetrics()
    await metrics.refresh(stalled.runner)
    gauges = metrics.projection_gauges("ledger")
    assert (gauges.held_back_events, gauges.lag_events) == (HELD, HELD)
    assert gauges.lag_seconds >= STALL_AFTER
    assert gauges.holding_transaction_age >= STALL_AFTER


@pytest.mark.postgres
async def test_once_the_transaction_ends_the_projection_catches_up_and_is_live_again(
    stalled: HeldBack,
) -> None:
    await stalled.held.end()
    await caught_up(stalled.runner)
    status = await status_when(stalled.runner, lambda status: status.state is el.ProjectionState.LIVE)
    assert (status.lag_events, status.held_back_events, status.stalled_reason) == (0, 0, None)
    assert status.checkpoint == status.head_position == status.written_position


@pytest.mark.postgres
async def test_the_stall_is_logged_once_when_it_begins_and_once_when_it_ends(
    stalled: HeldBack, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="eventledger.projections"):
        for _ in range(5):
            await stalled.runner.status()
            await asyncio.sleep(STALL_AFTER / 2)
        await stalled.held.end()
        await caught_up(stalled.runner)
        for _ in range(5):
            await stalled.runner.status()
    # The fixture waited for the stall before this test's capture began.
    began = [record for record in caplog.records if "stalled:" in record.getMessage()]
    ended = [record for record in caplog.records if "no longer held back" in record.getMessage()]
    assert began == [] and len(ended) == 1


@pytest.mark.postgres
async def test_the_warning_that_begins_a_stall_names_the_transaction(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async for rig in make_rig("postgres", tmp_path):
        await deposit_many(rig.store, 3)
        runner = el.ProjectionRunner(rig.store, [rig.ledger()], held_back_stall_after=STALL_AFTER)
        with caplog.at_level(logging.WARNING, logger="eventledger.projections"):
            running = asyncio.create_task(runner.run(handle_signals=False))
            try:
                await caught_up(runner)
                async with held_transaction(rig) as held:
                    await append_deposits(rig.store, HELD)
                    await status_when(runner, lambda status: status.state is el.ProjectionState.STALLED)
                    for _ in range(5):
                        await runner.status()
            finally:
                runner.stop()
                await running
        began = [record for record in caplog.records if "stalled:" in record.getMessage()]
        assert len(began) == 1
        assert f"{HELD} committed events held back" in began[0].getMessage()
        assert f"pid {held.pid}, database test, idle in transaction" in began[0].getMessage()


# ----------------------------------------------------------------------------- SQLite and memory


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_where_nothing_is_ever_held_back_a_live_projection_never_stalls_for_it(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async for rig in make_rig(kind, tmp_path):
        runner = el.ProjectionRunner(rig.store, [rig.ledger()], held_back_stall_after=0.001)
        seen: list[el.ProjectionStatus] = []
        with caplog.at_level(logging.WARNING, logger="eventledger.projections"):
            running = asyncio.create_task(runner.run(handle_signals=False))
            try:
                for round_ in range(20):
                    await deposit_many(rig.store, 3, start=10 * round_ + 1)
                    seen.append(await runner.status_of("ledger"))
                    await asyncio.sleep(0.01)
                await caught_up(runner)
                seen.append(await runner.status_of("ledger"))
            finally:
                runner.stop()
                await running
        assert all(status.held_back_events == 0 and status.stalled_reason is None for status in seen)
        assert el.ProjectionState.STALLED not in {status.state for status in seen}
        assert seen[-1].state is el.ProjectionState.LIVE
        assert "stalled" not in caplog.text
