"""Segmented projections: one projection applied by several workers, each the streams of its segment.

The ledger (increments, and an ``applied`` row per event without a key) reveals a lost or
doubled event; with four segments each segment applies only its streams, and the read model
must still equal a replay of the whole log.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from projection_rig import Deposited, Rig, Withdrawn, deposit_many, expected_view
from shared_ledgers import SegmentedLedger, numbered_view

import eventledger as el
from eventledger.errors import InvalidArgument, ProjectionDefinitionError, ProjectionStateError
from eventledger.operations import stored_statuses
from eventledger.projections import (
    BatchApplied,
    MemoryTarget,
    Projection,
    ProjectionListener,
    SQLTransaction,
)
from eventledger.projections.segments import Segment, segment_of


def test_a_stream_always_falls_in_the_same_segment() -> None:
    assert segment_of("acct-1", 4) == segment_of("acct-1", 4)
    assert {segment_of(f"acct-{n}", 4) for n in range(100)} == {0, 1, 2, 3}
    assert Segment(segment_of("acct-1", 4), 4).owns("acct-1")


def test_segments_must_be_a_positive_int() -> None:
    with pytest.raises(ProjectionDefinitionError, match="segments"):

        class Bad(Projection[SQLTransaction], name="bad", segments=0):
            pass


async def test_a_target_without_segment_checkpoints_refuses_segments(sql_rig: Rig) -> None:
    with pytest.raises(InvalidArgument, match="segment"):
        el.ProjectionRunner(sql_rig.store, [SegmentedLedger(MemoryTarget())])  # type: ignore[arg-type]


async def test_a_segmented_projection_equals_a_replay(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 300)
    runner = el.ProjectionRunner(sql_rig.store, [SegmentedLedger(sql_rig.new_target())], batch_size=40)
    statuses = await runner.run_until_caught_up()

    expected = await expected_view(sql_rig.store)
    view = await numbered_view(sql_rig.reader, SegmentedLedger.number)
    assert view.balances == expected.balances
    assert view.applied == expected.applied
    head = await sql_rig.store.head_position()
    assert [(s.name, s.checkpoint) for s in statuses] == [(f"ledger-segmented[{k}]", head) for k in range(4)]


class Handled(ProjectionListener):
    """Counts the events each segment's handlers ran for."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def batch_applied(self, batch: BatchApplied) -> None:
        self.counts[batch.projection] += batch.handled


async def test_each_segment_applies_only_the_events_of_its_streams(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 200)
    handled = Handled()
    runner = el.ProjectionRunner(
        sql_rig.store, [SegmentedLedger(sql_rig.new_target())], batch_size=40, listeners=[handled]
    )
    await runner.run_until_caught_up()

    expected: Counter[str] = Counter()
    async for recorded in sql_rig.store.read_all():
        if isinstance(recorded.event, Deposited | Withdrawn):
            expected[f"ledger-segmented[{segment_of(recorded.stream_id, 4)}]"] += 1
    assert handled.counts == expected
    assert len(expected) > 1


async def test_the_stored_status_shows_each_segment_with_its_checkpoint_and_runner(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 50)
    ledger = SegmentedLedger(sql_rig.new_target())
    runner = el.ProjectionRunner(sql_rig.store, [ledger], owner="host-a:123:abc")
    await runner.run_until_caught_up()

    statuses = await stored_statuses(sql_rig.store, [SegmentedLedger(sql_rig.reader)])
    head = await sql_rig.store.head_position()
    assert [s.name for s in statuses] == [f"ledger-segmented[{k}]" for k in range(4)]
    assert all(s.checkpoint == head and s.lag_events == 0 for s in statuses)
    assert all(s.report is not None and s.report.owner == "host-a:123:abc" for s in statuses)


async def test_a_segmented_projection_cannot_be_rebuilt_in_place(sql_rig: Rig) -> None:
    runner = el.ProjectionRunner(sql_rig.store, [SegmentedLedger(sql_rig.new_target())])
    with pytest.raises(ProjectionStateError, match="raising its version"):
        await runner.rebuild("ledger-segmented[0]")


class SegmentedLedgerV2(SegmentedLedger, name="ledger-segmented", version=2, segments=3):
    """The next version of the segmented ledger, split three ways instead of four."""


async def test_a_new_version_with_other_segments_switches_once_every_segment_caught_up(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 200)
    await el.ProjectionRunner(sql_rig.store, [SegmentedLedger(sql_rig.new_target())]).run_until_caught_up()
    await deposit_many(sql_rig.store, 100, start=5_000)

    runner = el.ProjectionRunner(sql_rig.store, [SegmentedLedgerV2(sql_rig.new_target())], batch_size=30)
    statuses = await runner.run_until_caught_up()

    assert [s.name for s in statuses] == [f"ledger-segmented[{k}]" for k in range(3)]
    assert {s.version for s in statuses} == {2}
    expected = await expected_view(sql_rig.store)
    view = await numbered_view(sql_rig.reader, SegmentedLedger.number)
    assert view.balances == expected.balances
    assert view.applied == expected.applied
    async with sql_rig.reader.read() as sql:
        table = sql.table("eventledger_projections")
        query = f"SELECT version, state FROM {table} WHERE projection = %s"
        rows = await sql.fetch_all(query, ("ledger-segmented",))
    assert sorted((int(v), str(s)) for v, s in rows) == [(2, "active")]


async def test_waiting_for_a_position_waits_for_every_segment_of_the_projection(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 50)
    runner = el.ProjectionRunner(sql_rig.store, [SegmentedLedger(sql_rig.new_target())], batch_size=10)
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        await runner.wait_until_caught_up(timeout=60)
        late = [Deposited(account="acct-late", amount=5)]
        result = await sql_rig.store.append("acct-late", late, expected_version=el.ANY)
        await runner.wait_for_position(result.positions[-1], timeout=60, projection="ledger-segmented")
        view = await numbered_view(sql_rig.reader, SegmentedLedger.number)
        assert view.balances["acct-late"] == (5, 1)
    finally:
        runner.stop()
        await running
