"""The read-side given / when / then helpers, with their "run it twice" check."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from examples.orders.events import OrderConfirmed, OrderCreated, OrderItem
from examples.orders.read_model import OrderSummaries, find_order_summary
from projection_rig import Deposited, MemoryLedger

import eventledger as el
from eventledger.projections import AtLeastOnceTarget, MemoryReadModel, MemoryTarget, Projection, handles
from eventledger.testing import projection_scenario

CREATED = OrderCreated(order_id="o1", items=[OrderItem(sku="book", quantity=2, unit_price=Decimal("4.50"))])


async def test_a_scenario_projects_given_and_when_events_into_the_real_target(tmp_path: Path) -> None:
    summaries = OrderSummaries(el.SQLiteTarget(tmp_path / "read.db"))

    async def the_order_is_confirmed() -> None:
        async with summaries.target.read() as sql:  # type: ignore[attr-defined]
            summary = await find_order_summary(sql, "o1")
        assert summary is not None
        assert (summary.status, summary.total) == ("confirmed", Decimal("9.00"))

    await (
        projection_scenario(summaries)
        .given(("o1", CREATED))
        .when(("o1", OrderConfirmed(order_id="o1")))
        .then(the_order_is_confirmed)
    )


async def test_a_failing_check_fails_the_scenario() -> None:
    ledger = MemoryLedger(MemoryTarget())

    async def impossible() -> None:
        raise AssertionError("the check says no")

    with pytest.raises(AssertionError, match="the check says no"):
        await projection_scenario(ledger).when(Deposited(account="a", amount=1)).then(impossible)


async def test_running_it_twice_catches_a_handler_that_is_not_idempotent_on_an_at_least_once_target() -> None:
    received: list[UUID] = []

    class CountingCalls(Projection[list[UUID]], name="counting"):
        @handles
        async def deposited(self, event: Deposited, recorded: el.RecordedEvent, calls: list[UUID]) -> None:
            calls.append(recorded.event_id)  # no idempotency key check: a redelivery doubles it

    target = AtLeastOnceTarget(received, bookkeeping=MemoryTarget())

    async def one_call_per_event() -> None:
        assert len(received) == 1, f"{len(received)} calls for one event"

    with pytest.raises(AssertionError, match="2 calls for one event"):
        await (
            projection_scenario(CountingCalls(target))
            .when(Deposited(account="a", amount=1))
            .then(one_call_per_event)
        )


async def test_running_it_twice_passes_for_an_idempotent_handler_on_an_at_least_once_target() -> None:
    received: dict[UUID, int] = {}

    class KeyedCalls(Projection[dict[UUID, int]], name="keyed"):
        @handles
        async def deposited(
            self, event: Deposited, recorded: el.RecordedEvent, calls: dict[UUID, int]
        ) -> None:
            calls.setdefault(recorded.event_id, event.amount)

    target = AtLeastOnceTarget(received, bookkeeping=MemoryTarget())

    async def one_entry() -> None:
        assert list(received.values()) == [5]

    await (
        projection_scenario(KeyedCalls(target)).when(("a", Deposited(account="a", amount=5))).then(one_entry)
    )


async def test_on_an_exactly_once_target_the_second_delivery_is_refused_and_changes_nothing() -> None:
    target = MemoryTarget()
    handled: list[int] = []

    class Tally(Projection[MemoryReadModel], name="tally"):
        tables = ("tally",)

        @handles
        async def deposited(
            self, event: Deposited, recorded: el.RecordedEvent, model: MemoryReadModel
        ) -> None:
            handled.append(event.amount)
            model.table("tally")["sum"] = model.table("tally").get("sum", 0) + event.amount

    async def summed_once() -> None:
        assert target.table("tally", "tally")["sum"] == 7

    await (
        projection_scenario(Tally(target))
        .given(Deposited(account="a", amount=3))
        .when(Deposited(account="a", amount=4))
        .then(summed_once)
    )
    assert handled == [3, 4]  # the refused second delivery never reached the handler
