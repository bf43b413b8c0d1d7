"""A short scripted tour of eventledger: append and read events in a SQLite file.

Run it with ``make demo`` (or ``python examples/quickstart.py``).
"""

from __future__ import annotations

import asyncio
import tempfile
from decimal import Decimal
from pathlib import Path

import pydantic

import eventledger as el


class OrderItem(pydantic.BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal


class OrderCreated(el.Event):
    order_id: str
    items: list[OrderItem]


class OrderConfirmed(el.Event):
    order_id: str


async def main() -> None:
    path = Path(tempfile.mkdtemp(prefix="eventledger-quickstart-")) / "orders.db"
    print(f"Opening a SQLite event store at {path}")
    async with el.open_store(f"sqlite:///{path}") as store:
        created = OrderCreated(
            order_id="order-1",
            items=[OrderItem(sku="book", quantity=2, unit_price=Decimal("12.50"))],
        )
        result = await store.append(
            "order-1",
            [created],
            expected_version=el.NO_STREAM,
            metadata={"correlation_id": "demo-1"},
        )
        print(f"Appended OrderCreated: stream version {result.version}, position {result.positions}")

        result = await store.append(
            "order-1", [OrderConfirmed(order_id="order-1")], expected_version=result.version
        )
        print(f"Appended OrderConfirmed: stream version {result.version}")

        try:
            await store.append("order-1", [OrderConfirmed(order_id="order-1")], expected_version=1)
        except el.ConcurrencyError as error:
            print(f"A stale writer was refused, nothing written: {error}")

        print("Reading the stream back:")
        async for recorded in store.read_stream("order-1"):
            print(
                f"  v{recorded.version} @{recorded.position} {recorded.type:<15} "
                f"{recorded.event.model_dump(mode='json')} metadata={recorded.metadata}"
            )
        print(f"Head of the global log: position {await store.head_position()}")


if __name__ == "__main__":
    asyncio.run(main())
