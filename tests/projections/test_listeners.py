"""Listeners are told directly, each in turn; one that raises is logged and the others still hear."""

from __future__ import annotations

import logging

import pytest
from projection_rig import MemoryLedger, deposit_many

import eventledger as el
from eventledger.projections import BatchApplied, MemoryTarget, ProjectionListener, StateChanged


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
