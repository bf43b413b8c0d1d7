"""Listeners are told directly, each in turn; one that raises is logged and the others still hear."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from projection_rig import MemoryLedger, deposit_many

import eventledger as el
from eventledger.projections import (
    BatchApplied,
    BatchStarting,
    MemoryTarget,
    ProjectionListener,
    StateChanged,
)


async def test_a_listener_that_raises_does_not_keep_the_next_listener_from_hearing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[str] = []

    class Broken(ProjectionListener):
        def batch_applied(self, batch: BatchApplied) -> None:
            raise RuntimeError("exporter down")

        def state_changed(self, change: StateChanged) -> None:
            raise RuntimeError("exporter down")

    class Hearing(ProjectionListener):
        def batch_applied(self, batch: BatchApplied) -> None:
            heard.append("batch")

        def state_changed(self, change: StateChanged) -> None:
            heard.append(change.current.value)

    async with el.open_store("memory://") as store:
        await deposit_many(store, 3)
        runner = el.ProjectionRunner(store, [MemoryLedger(MemoryTarget())], listeners=[Broken(), Hearing()])
        with caplog.at_level(logging.ERROR, logger="eventledger.projections"):
            await runner.run_until_caught_up()
    assert heard[0] == "catching_up" and "batch" in heard and heard[-1] == "stopped"
    assert caplog.text.count("exporter down") >= 2


async def test_every_listeners_batch_context_wraps_each_batch_and_a_raising_one_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entered: list[tuple[str, int, int]] = []

    class Broken(ProjectionListener):
        def applying(self, batch: BatchStarting) -> AbstractContextManager[object] | None:
            raise RuntimeError("tracer down")

    class Wrapping(ProjectionListener):
        def __init__(self, name: str) -> None:
            self.name = name

        @contextmanager
        def _around(self, batch: BatchStarting) -> Iterator[None]:
            entered.append((self.name, batch.events[0].position, batch.events[-1].position))
            yield
            entered.append((self.name, -1, -1))

        def applying(self, batch: BatchStarting) -> AbstractContextManager[object] | None:
            return self._around(batch)

    async with el.open_store("memory://") as store:
        await deposit_many(store, 5)
        listeners = [Broken(), Wrapping("first"), Wrapping("second")]
        runner = el.ProjectionRunner(store, [MemoryLedger(MemoryTarget())], batch_size=3, listeners=listeners)
        with caplog.at_level(logging.ERROR, logger="eventledger.projections"):
            await runner.run_until_caught_up()
        positions = [recorded.position async for recorded in store.read_all()]
    batches = [positions[start : start + 3] for start in range(0, len(positions), 3)]
    assert entered == [
        step
        for batch in batches
        for step in (
            ("first", batch[0], batch[-1]),
            ("second", batch[0], batch[-1]),
            ("second", -1, -1),
            ("first", -1, -1),
        )
    ]
    assert [record.getMessage().endswith("failed in applying") for record in caplog.records] == [True] * len(
        batches
    )
