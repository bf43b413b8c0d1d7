"""The order domain's events: what happened to an order, in the past tense."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pydantic

import eventledger as el


class OrderItem(pydantic.BaseModel):
    """One line of an order."""

    model_config = pydantic.ConfigDict(frozen=True)

    sku: str = pydantic.Field(min_length=1)
    quantity: int = pydantic.Field(gt=0)
    unit_price: Decimal = pydantic.Field(ge=0)


class OrderCreated(el.Event, schema_version=2):
    """An order was placed with its items; it is pending until confirmed or cancelled.

    Schema v2 added ``currency`` (an ISO 4217 code); v1 events are upcast on read.
    """

    order_id: str
    items: list[OrderItem]
    currency: str = pydantic.Field(default="EUR", pattern=r"^[A-Z]{3}$")


@el.upcaster(OrderCreated, from_version=1)
def order_created_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Orders placed before currencies were recorded were all in euros."""
    return {**data, "currency": "EUR"}


class OrderConfirmed(el.Event):
    """A pending order was confirmed."""

    order_id: str


class OrderCancelled(el.Event):
    """An order was cancelled: the compensating event (nothing is ever deleted)."""

    order_id: str
    reason: str = ""
