"""The event classes the store kit appends and reads back.

Their type names start with ``eventledger.conformance.`` so they cannot collide with an
application's own events in the process-wide type registry.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pydantic

from eventledger.events import Event

PREFIX = "eventledger.conformance."
"""The start of every type name the kit registers."""


class LineItem(pydantic.BaseModel):
    """A nested model inside an event (decimals must survive the round trip exactly)."""

    sku: str
    quantity: int
    unit_price: Decimal


class OrderCreated(Event, type_name=PREFIX + "order-created"):
    """An event with a list of nested models."""

    order_id: str
    items: list[LineItem] = []


class OrderConfirmed(Event, type_name=PREFIX + "order-confirmed"):
    """An event with an optional time (zone-aware times must survive the round trip)."""

    order_id: str
    at: datetime | None = None


class OrderNoted(Event, type_name=PREFIX + "order-noted"):
    """The kit's plain event: one text field, easy to tell apart."""

    note: str


class Opaque(Event, type_name=PREFIX + "Opaque"):
    """Holds anything, so a test can give it something that cannot be serialised."""

    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    payload: Any = None


class Reading(Event, type_name=PREFIX + "accepted.reading"):
    """A float and an ``Any`` field: what JSON cannot hold must be refused, not mangled."""

    sensor: str
    value: float
    extra: Any = None


class Moved(Event, type_name=PREFIX + "moved"):
    """The target kit's event: an amount added to an account's total."""

    account: str
    amount: int


class Remarked(Event, type_name=PREFIX + "remarked"):
    """An event the target kit's ledger has no handler for: passed over, yet checkpointed."""

    text: str


def created(order_id: str = "o1", quantity: int = 1) -> OrderCreated:
    """An :class:`OrderCreated` with one line item."""
    return OrderCreated(
        order_id=order_id,
        items=[LineItem(sku="sku-1", quantity=quantity, unit_price=Decimal("9.99"))],
    )


def noted(note: str) -> OrderNoted:
    """An :class:`OrderNoted` saying ``note``."""
    return OrderNoted(note=note)
