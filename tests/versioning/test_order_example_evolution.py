"""The order example evolved once: ``OrderCreated`` v2 records a currency; v1 orders were in euros."""

from __future__ import annotations

import json
from decimal import Decimal

from examples.orders.domain import Order, OrderStatus
from examples.orders.events import OrderCreated, OrderItem

import eventledger as el
from backends import Backend
from eventledger.versioning import upcasters

BOOK = OrderItem(sku="book", quantity=2, unit_price=Decimal("12.50"))

# What the release before currencies wrote: schema version 1, no currency key.
V1_ROW = json.dumps({"order_id": "order-1", "items": [{"sku": "book", "quantity": 2, "unit_price": "12.50"}]})


async def test_a_v1_order_and_a_v2_order_read_side_by_side(backend: Backend, store: el.EventStore) -> None:
    await backend.insert_raw("order-1", 1, "OrderCreated", 1, V1_ROW)
    in_dollars = OrderCreated(order_id="order-2", items=[BOOK], currency="USD")
    await store.append("order-2", [in_dollars], expected_version=0)
    orders = [r.event async for r in store.read_all(types=[OrderCreated])]
    assert orders == [
        OrderCreated(order_id="order-1", items=[BOOK], currency="EUR"),
        OrderCreated(order_id="order-2", items=[BOOK], currency="USD"),
    ]


async def test_new_orders_are_stored_as_schema_version_2_with_their_currency(store: el.EventStore) -> None:
    in_dollars = OrderCreated(order_id="order-2", items=[BOOK], currency="USD")
    await store.append("order-2", [in_dollars], expected_version=0)
    [row] = [row async for row in store.read_all_raw()]
    assert row.schema_version == 2
    assert json.loads(row.data)["currency"] == "USD"  # type: ignore[arg-type]


def test_the_upcaster_gives_v1_orders_the_euro() -> None:
    assert upcasters.upcast("OrderCreated", 1, V1_ROW) == {**json.loads(V1_ROW), "currency": "EUR"}


async def test_a_store_with_both_versions_passes_the_check(backend: Backend, store: el.EventStore) -> None:
    await backend.insert_raw("order-1", 1, "OrderCreated", 1, V1_ROW)
    await store.append("order-2", [OrderCreated(order_id="order-2", items=[BOOK])], expected_version=0)
    report = await el.check_store(store)
    assert report.ok
    assert [(stored.type, stored.schema_version, stored.count) for stored in report.stored] == [
        ("OrderCreated", 1, 1),
        ("OrderCreated", 2, 1),
    ]


async def test_an_order_placed_before_currencies_loads_and_takes_new_events(
    backend: Backend, store: el.EventStore
) -> None:
    await backend.insert_raw("order-1", 1, "OrderCreated", 1, V1_ROW)
    orders = el.Repository(store, Order)
    order = await orders.load("order-1")
    assert (order.status, order.items, order.version) == (OrderStatus.PENDING, [BOOK], 1)
    order.confirm()
    await orders.save(order)
    assert (await orders.load("order-1")).status is OrderStatus.CONFIRMED
