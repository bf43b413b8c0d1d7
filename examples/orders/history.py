"""The order history read model: every event of every order, for the page's timeline.

A projection like any other: the service answers "what happened to order X" from this table,
never by reading the event store. One row per event, keyed by (order id, version), with the
global position, the time the store recorded it and the event's data as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import eventledger as el
from eventledger.projections import Projection, SQLTransaction, handles
from examples.orders.events import OrderCancelled, OrderConfirmed, OrderCreated

OrderEvent = OrderCreated | OrderConfirmed | OrderCancelled


class OrderHistory(Projection[SQLTransaction], name="order-history", version=1):
    """Writes each order event into ``order_history`` (SQLite or PostgreSQL)."""

    tables = ("order_history",)

    async def setup(self, sql: SQLTransaction) -> None:
        """Create the table of this build."""
        await sql.execute(
            f"CREATE TABLE {sql.table('order_history')} ("
            "order_id TEXT NOT NULL, version INTEGER NOT NULL, position BIGINT NOT NULL, "
            "type TEXT NOT NULL, recorded_at TEXT NOT NULL, data TEXT NOT NULL, "
            "PRIMARY KEY (order_id, version))"
        )

    @handles
    async def record(self, event: OrderEvent, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        """One row per event; the stream version orders an order's timeline."""
        await sql.execute(
            f"INSERT INTO {sql.table('order_history')} "
            "(order_id, version, position, type, recorded_at, data) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                recorded.stream_id,
                recorded.version,
                recorded.position,
                recorded.type,
                recorded.recorded_at.isoformat(),
                event.model_dump_json(),
            ),
        )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One event in an order's timeline."""

    order_id: str
    version: int
    position: int
    type: str
    recorded_at: str
    data: dict[str, Any]


async def order_history(sql: SQLTransaction, order_id: str) -> list[HistoryEntry]:
    """The events of ``order_id`` in version order (empty when the read model has none)."""
    rows = await sql.fetch_all(
        f"SELECT order_id, version, position, type, recorded_at, data FROM {sql.table('order_history')} "
        "WHERE order_id = %s ORDER BY version",
        (order_id,),
    )
    return [
        HistoryEntry(row[0], int(row[1]), int(row[2]), row[3], row[4], json.loads(row[5])) for row in rows
    ]
