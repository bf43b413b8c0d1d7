"""Event classes the tests share."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pydantic

import eventledger as el


class LineItem(pydantic.BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal


class OrderCreated(el.Event, type_name="test.order-created"):
    order_id: str
    items: list[LineItem] = []


class OrderConfirmed(el.Event, type_name="test.order-confirmed"):
    order_id: str
    at: datetime | None = None


class OrderNoted(el.Event, type_name="test.order-noted"):
    note: str


class Opaque(el.Event):
    """Holds anything, so a test can give it something that cannot be serialised."""

    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    payload: Any = None


def created(order_id: str = "o1", quantity: int = 1) -> OrderCreated:
    return OrderCreated(
        order_id=order_id,
        items=[LineItem(sku="sku-1", quantity=quantity, unit_price=Decimal("9.99"))],
    )


def noted(note: str) -> OrderNoted:
    return OrderNoted(note=note)
