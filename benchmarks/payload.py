"""The one kind of event every contender writes and reads.

Each contender gets the same fields with the same values; only the container differs (a
pydantic event for eventledger, a frozen dataclass for `eventsourcing`, a dict for the raw
driver), because that container is what its users would hand it.
"""

from __future__ import annotations

from typing import Any

import eventledger as el

TYPE_NAME = "bench.ItemAdded"


class ItemAdded(el.Event, type_name=TYPE_NAME):
    """An item was added to an order: a small, typical domain event."""

    order_id: str
    sku: str
    quantity: int
    unit_price: str
    note: str


def fields(index: int) -> dict[str, Any]:
    """The event data for the ``index``-th event of a workload (varied, JSON-native)."""
    return {
        "order_id": f"order-{index}",
        "sku": f"SKU-{index % 97:04d}",
        "quantity": index % 7 + 1,
        "unit_price": f"{(index % 50) + 0.99:.2f}",
        "note": "added from the benchmark",
    }


class BenchOrder(el.Aggregate):
    """W2c's aggregate: an order whose state counts its items (every event is applied)."""

    items: int = 0
    quantity: int = 0

    def add_item(self, index: int) -> None:
        """Record the ``index``-th item of a workload."""
        self.record(ItemAdded(**fields(index)))

    @el.applies
    def _added(self, event: ItemAdded) -> None:
        self.items += 1
        self.quantity += event.quantity


def ledger_events(count: int, offset: int = 0) -> list[ItemAdded]:
    """``count`` eventledger events."""
    return [ItemAdded(**fields(offset + index)) for index in range(count)]
