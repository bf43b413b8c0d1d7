"""The mission's order read model: one row per order with its status, total and confirmation time.

It is the mission's ``OrderProjection`` on eventledger: ``OrderCreated`` inserts the order as
pending with the total of its items, ``OrderConfirmed`` sets it confirmed with the time the
store recorded the confirmation, ``OrderCancelled`` sets it cancelled (a compensating event;
nothing is deleted). The runner applies each event exactly once, into SQLite or PostgreSQL::

    summaries = OrderSummaries(el.SQLiteTarget("read.db"))      # or PostgresTarget(url)
    await el.ProjectionRunner(store, [summaries]).run_until_caught_up()
    async with summaries.target.read() as sql:
        summary = await find_order_summary(sql, "order-1")

Money is exact: ``NUMERIC`` on PostgreSQL, decimal text on SQLite, ``Decimal`` in Python. The
total is an unconstrained ``NUMERIC``, so it holds the largest order the commands accept
(10**14); version 1's ``NUMERIC(18, 4)`` held at most 10**14 - 1, and version 2 is rebuilt
beside it when a runner of this version first starts on an older database.
Times are ``timestamptz`` on PostgreSQL and ISO 8601 text on SQLite, ``datetime`` in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import eventledger as el
from eventledger.projections import Projection, SQLTransaction, handles
from examples.orders.events import OrderCancelled, OrderConfirmed, OrderCreated

_COLUMNS = "order_id, status, total, currency, created_at, confirmed_at, cancelled_at, cancel_reason"


class OrderSummaries(Projection[SQLTransaction], name="order-summaries", version=2):
    """Keeps ``order_summaries`` (order id, status, total, confirmed_at, ...) up to date."""

    tables = ("order_summaries",)

    async def setup(self, sql: SQLTransaction) -> None:
        """Create this build's table in the dialect's own types for money and time."""
        money, moment = ("NUMERIC", "TIMESTAMPTZ") if sql.dialect == "postgresql" else ("TEXT", "TEXT")
        await sql.execute(
            f"CREATE TABLE {sql.table('order_summaries')} ("
            "order_id TEXT PRIMARY KEY, "
            "status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled')), "
            f"total {money} NOT NULL, currency TEXT NOT NULL, created_at {moment} NOT NULL, "
            f"confirmed_at {moment}, cancelled_at {moment}, cancel_reason TEXT)"
        )

    @handles
    async def created(self, event: OrderCreated, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        """A new order, pending, with the total of its items."""
        total = sum((item.quantity * item.unit_price for item in event.items), Decimal(0))
        await sql.execute(
            f"INSERT INTO {sql.table('order_summaries')} (order_id, status, total, currency, created_at) "
            "VALUES (%s, 'pending', %s, %s, %s)",
            (event.order_id, total, event.currency, recorded.recorded_at),
        )

    @handles
    async def confirmed(self, event: OrderConfirmed, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        """Confirmed, at the time the store recorded the confirmation."""
        await sql.execute(
            f"UPDATE {sql.table('order_summaries')} SET status = 'confirmed', confirmed_at = %s "
            "WHERE order_id = %s",
            (recorded.recorded_at, event.order_id),
        )

    @handles
    async def cancelled(self, event: OrderCancelled, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        """Cancelled, with the reason; a confirmed order keeps its confirmation time."""
        await sql.execute(
            f"UPDATE {sql.table('order_summaries')} SET status = 'cancelled', cancelled_at = %s, "
            "cancel_reason = %s WHERE order_id = %s",
            (recorded.recorded_at, event.reason, event.order_id),
        )


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """One order as the read model holds it."""

    order_id: str
    status: str
    total: Decimal
    currency: str
    created_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None


async def find_order_summary(sql: SQLTransaction, order_id: str) -> OrderSummary | None:
    """The summary of ``order_id``, or None when the read model has no such order (yet)."""
    row = await sql.fetch_one(
        f"SELECT {_COLUMNS} FROM {sql.table('order_summaries')} WHERE order_id = %s", (order_id,)
    )
    return None if row is None else _summary(row)


async def list_order_summaries(
    sql: SQLTransaction, *, status: str | None = None, limit: int = 100
) -> list[OrderSummary]:
    """Orders, newest first, optionally only those in ``status`` (pending, confirmed, cancelled)."""
    where, parameters = ("WHERE status = %s ", (status,)) if status else ("", ())
    rows = await sql.fetch_all(
        f"SELECT {_COLUMNS} FROM {sql.table('order_summaries')} {where}"
        "ORDER BY created_at DESC, order_id LIMIT %s",
        (*parameters, limit),
    )
    return [_summary(row) for row in rows]


def _summary(row: tuple[object, ...]) -> OrderSummary:
    order_id, status, total, currency, created, confirmed, cancelled, reason = row
    return OrderSummary(
        order_id=str(order_id),
        status=str(status),
        total=Decimal(str(total)),
        currency=str(currency),
        created_at=_moment(created),
        confirmed_at=None if confirmed is None else _moment(confirmed),
        cancelled_at=None if cancelled is None else _moment(cancelled),
        cancel_reason=None if reason is None else str(reason),
    )


def _moment(value: object) -> datetime:
    # PostgreSQL hands back datetimes; SQLite keeps the ISO text the session wrote.
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
