"""The mission's order read model, built by a projection into SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

from examples.orders.domain import MAX_LINES, MAX_QUANTITY, MAX_UNIT_PRICE, CreateOrder
from examples.orders.events import OrderCancelled, OrderConfirmed, OrderCreated, OrderItem
from examples.orders.read_model import (
    OrderSummaries,
    OrderSummary,
    find_order_summary,
    list_order_summaries,
)
from projection_rig import Rig
from waits import visible

import eventledger as el
from eventledger.projections import SQLTransaction, Target


def order(order_id: str, *lines: tuple[str, int, str], currency: str = "EUR") -> OrderCreated:
    items = [
        OrderItem(sku=sku, quantity=quantity, unit_price=Decimal(price)) for sku, quantity, price in lines
    ]
    return OrderCreated(order_id=order_id, items=items, currency=currency)


async def append(rig: Rig, order_id: str, *events: el.Event) -> el.AppendResult:
    result = await rig.store.append(order_id, list(events), expected_version=el.ANY)
    await visible(rig.store, result.positions[-1])
    return result


async def project(rig: Rig) -> Target[SQLTransaction]:
    target = rig.new_target()
    await el.ProjectionRunner(rig.store, [OrderSummaries(target)]).run_until_caught_up()
    return target


async def summary_of(target: Target[SQLTransaction], order_id: str) -> OrderSummary | None:
    async with target.read() as sql:  # type: ignore[attr-defined]
        return await find_order_summary(sql, order_id)


async def recorded_at(rig: Rig, position: int) -> object:
    async for recorded in rig.store.read_all():
        if recorded.position == position:
            return recorded.recorded_at
    raise AssertionError(position)


async def test_a_created_order_is_pending_with_the_exact_total_of_its_items(sql_rig: Rig) -> None:
    created = await append(sql_rig, "order-1", order("order-1", ("book", 2, "12.50"), ("pen", 3, "0.10")))
    summary = await summary_of(await project(sql_rig), "order-1")
    assert summary is not None
    assert (summary.order_id, summary.status, summary.total, summary.currency) == (
        "order-1",
        "pending",
        Decimal("25.30"),
        "EUR",
    )
    assert summary.created_at == await recorded_at(sql_rig, created.positions[0])
    assert (summary.confirmed_at, summary.cancelled_at, summary.cancel_reason) == (None, None, None)


async def test_the_largest_order_the_commands_accept_is_summed_exactly(sql_rig: Rig) -> None:
    largest = CreateOrder(  # within the commands' limits, at every limit
        order_id="order-max",
        items=[
            OrderItem(sku=f"sku-{line}", quantity=MAX_QUANTITY, unit_price=MAX_UNIT_PRICE)
            for line in range(MAX_LINES)
        ],
    )
    await append(sql_rig, "order-max", OrderCreated(order_id="order-max", items=largest.items))
    summary = await summary_of(await project(sql_rig), "order-max")
    assert summary is not None and summary.total == MAX_LINES * MAX_QUANTITY * MAX_UNIT_PRICE


async def test_a_confirmed_order_records_when_the_confirmation_was_stored(sql_rig: Rig) -> None:
    await append(sql_rig, "order-1", order("order-1", ("book", 1, "9.99")))
    confirmed = await append(sql_rig, "order-1", OrderConfirmed(order_id="order-1"))
    summary = await summary_of(await project(sql_rig), "order-1")
    assert summary is not None and summary.status == "confirmed"
    assert summary.confirmed_at == await recorded_at(sql_rig, confirmed.positions[0])


async def test_a_cancelled_order_keeps_its_reason_and_its_confirmation_time(sql_rig: Rig) -> None:
    await append(
        sql_rig, "order-1", order("order-1", ("book", 1, "9.99")), OrderConfirmed(order_id="order-1")
    )
    cancelled = await append(sql_rig, "order-1", OrderCancelled(order_id="order-1", reason="changed my mind"))
    summary = await summary_of(await project(sql_rig), "order-1")
    assert summary is not None
    assert (summary.status, summary.cancel_reason) == ("cancelled", "changed my mind")
    assert summary.confirmed_at is not None
    assert summary.cancelled_at == await recorded_at(sql_rig, cancelled.positions[0])


async def test_the_currency_of_the_order_is_kept(sql_rig: Rig) -> None:
    await append(sql_rig, "order-1", order("order-1", ("book", 1, "10"), currency="USD"))
    summary = await summary_of(await project(sql_rig), "order-1")
    assert summary is not None and (summary.total, summary.currency) == (Decimal("10"), "USD")


async def test_an_order_the_read_model_has_not_seen_is_not_found(sql_rig: Rig) -> None:
    await append(sql_rig, "order-1", order("order-1", ("book", 1, "1")))
    assert await summary_of(await project(sql_rig), "order-2") is None


async def test_orders_are_listed_newest_first_and_filtered_by_status(sql_rig: Rig) -> None:
    for index in range(1, 6):
        await append(sql_rig, f"order-{index}", order(f"order-{index}", ("sku", index, "1.00")))
    await append(sql_rig, "order-2", OrderConfirmed(order_id="order-2"))
    await append(sql_rig, "order-4", OrderConfirmed(order_id="order-4"))
    await append(sql_rig, "order-5", OrderCancelled(order_id="order-5"))
    target = await project(sql_rig)
    async with target.read() as sql:  # type: ignore[attr-defined]
        everything = await list_order_summaries(sql)
        confirmed = await list_order_summaries(sql, status="confirmed")
        first_two = await list_order_summaries(sql, limit=2)
    assert [s.order_id for s in everything] == ["order-5", "order-4", "order-3", "order-2", "order-1"]
    assert [s.order_id for s in confirmed] == ["order-4", "order-2"]
    assert [s.order_id for s in first_two] == ["order-5", "order-4"]
    assert sum((s.total for s in everything), Decimal(0)) == Decimal("15.00")


async def test_the_read_model_follows_new_orders_once_the_projection_runs_live(sql_rig: Rig) -> None:
    target = sql_rig.new_target()
    runner = el.ProjectionRunner(sql_rig.store, [OrderSummaries(target)])
    await append(sql_rig, "order-1", order("order-1", ("book", 1, "5")))
    await runner.run_until_caught_up()
    await append(sql_rig, "order-1", OrderConfirmed(order_id="order-1"))
    await append(sql_rig, "order-2", order("order-2", ("pen", 4, "0.25")))
    await runner.run_until_caught_up()
    first, second = await summary_of(target, "order-1"), await summary_of(target, "order-2")
    assert first is not None and first.status == "confirmed"
    assert second is not None and (second.status, second.total) == ("pending", Decimal("1.00"))
