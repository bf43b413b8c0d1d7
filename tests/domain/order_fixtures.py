"""Order events and commands the write-side tests share."""

from __future__ import annotations

from decimal import Decimal

from examples.orders.events import OrderCancelled, OrderConfirmed, OrderCreated, OrderItem

ITEMS = [
    OrderItem(sku="book", quantity=2, unit_price=Decimal("12.50")),
    OrderItem(sku="pen", quantity=1, unit_price=Decimal("1.99")),
]


def created(order_id: str = "order-1") -> OrderCreated:
    return OrderCreated(order_id=order_id, items=ITEMS)


def confirmed(order_id: str = "order-1") -> OrderConfirmed:
    return OrderConfirmed(order_id=order_id)


def cancelled(order_id: str = "order-1", reason: str = "") -> OrderCancelled:
    return OrderCancelled(order_id=order_id, reason=reason)
