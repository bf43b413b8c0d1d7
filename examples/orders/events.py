"""The order domain's events: what happened to an order, in the past tense."""

from __future__ import annotations

from decimal import Decimal

import pydantic

import eventledger as el


class OrderItem(pydantic.BaseModel):
    """One line of an order."""

    model_config = pydantic.ConfigDict(frozen=True)

    sku: str = pydantic.Field(min_length=1)
    quantity: int = pydantic.Field(gt=0)
    unit_price: Decimal = pydantic.Field(ge=0)


class OrderCreated(el.Event):
    """An order was placed with its items; it is pending until confirmed or cancelled."""

    order_id: str
    items: list[OrderItem]


class OrderConfirmed(el.Event):
    """A pending order was confirmed."""

    order_id: str


class OrderCancelled(el.Event):
    """An order was cancelled: the compensating event (nothing is ever deleted)."""

    order_id: str
    reason: str = ""
