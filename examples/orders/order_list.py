"""The order list read model behind the demo page: one row per order, as the page shows it.

Status, item count, total and currency, the stream version (the page sends it back as the
expected version of its next command), the position of the order's latest event and the
times it was created, last changed, confirmed or cancelled. Written by a projection into
SQLite or PostgreSQL; the service's queries read only this table (and the order history).

Every order the commands accept fits (see the limits in :mod:`examples.orders.domain`): the
item count is a ``BIGINT`` and the total exact decimal text. Version 1 had an ``INTEGER``
item count, which PostgreSQL caps at 2,147,483,647; version 2 is rebuilt beside it (blue/green)
the first time a runner of this version starts on an older database.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import eventledger as el
from eventledger.projections import Projection, SQLTransaction, handles
from examples.orders.events import OrderCancelled, OrderConfirmed, OrderCreated

ORDER_STATUSES = ("pending", "confirmed", "cancelled")
MAX_PAGE = 1000
"""The most orders one list query answers."""

_COLUMNS = (
    "order_id, status, item_count, total, currency, version, position, "
    "created_at, updated_at, confirmed_at, cancelled_at, cancel_reason"
)


class OrderList(Projection[SQLTransaction], name="order-list", version=2):
    """Keeps ``order_list`` up to date from the order events."""

    tables = ("order_list",)

    async def setup(self, sql: SQLTransaction) -> None:
        """Create the table of this build."""
        await sql.execute(
            f"CREATE TABLE {sql.table('order_list')} ("
            "order_id TEXT PRIMARY KEY, status TEXT NOT NULL, item_count BIGINT NOT NULL, "
            "total TEXT NOT NULL, currency TEXT NOT NULL, version BIGINT NOT NULL, "
            "position BIGINT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
            "confirmed_at TEXT, cancelled_at TEXT, cancel_reason TEXT)"
        )

    @handles
    async def created(self, event: OrderCreated, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        """A new pending order."""
        total = sum((item.quantity * item.unit_price for item in event.items), Decimal(0))
        at = recorded.recorded_at.isoformat()
        await sql.execute(
            f"INSERT INTO {sql.table('order_list')} ({_COLUMNS}) "
            "VALUES (%s, 'pending', %s, %s, %s, %s, %s, %s, %s, NULL, NULL, NULL)",
            (
                recorded.stream_id,
                sum(item.quantity for item in event.items),
                str(total),
                event.currency,
                recorded.version,
                recorded.position,
                at,
                at,
            ),
        )

    @handles
    async def confirmed(self, event: OrderConfirmed, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        """The order is confirmed."""
        at = recorded.recorded_at.isoformat()
        await sql.execute(
            f"UPDATE {sql.table('order_list')} SET status = 'confirmed', version = %s, position = %s, "
            "updated_at = %s, confirmed_at = %s WHERE order_id = %s",
            (recorded.version, recorded.position, at, at, recorded.stream_id),
        )

    @handles
    async def cancelled(self, event: OrderCancelled, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        """The order is cancelled (it keeps its confirmed_at if it had one)."""
        at = recorded.recorded_at.isoformat()
        await sql.execute(
            f"UPDATE {sql.table('order_list')} SET status = 'cancelled', version = %s, position = %s, "
            "updated_at = %s, cancelled_at = %s, cancel_reason = %s WHERE order_id = %s",
            (recorded.version, recorded.position, at, at, event.reason, recorded.stream_id),
        )


@dataclass(frozen=True, slots=True)
class OrderRow:
    """One order as the list shows it."""

    order_id: str
    status: str
    item_count: int
    total: Decimal
    currency: str
    version: int
    position: int
    created_at: str
    updated_at: str
    confirmed_at: str | None
    cancelled_at: str | None
    cancel_reason: str | None


def _row(values: tuple[object, ...]) -> OrderRow:
    (
        order_id,
        status,
        items,
        total,
        currency,
        version,
        position,
        created,
        updated,
        confirmed,
        cancelled,
        reason,
    ) = values
    return OrderRow(
        str(order_id),
        str(status),
        int(str(items)),
        Decimal(str(total)),
        str(currency),
        int(str(version)),
        int(str(position)),
        str(created),
        str(updated),
        None if confirmed is None else str(confirmed),
        None if cancelled is None else str(cancelled),
        None if reason is None else str(reason),
    )


def _where(status: str | None, prefix: str | None) -> tuple[str, tuple[object, ...]]:
    """The filter of a list query: a status, and an order id prefix (compared exactly, so ``%``
    and ``_`` in it are plain characters, the same on SQLite and PostgreSQL)."""
    conditions: list[str] = []
    parameters: list[object] = []
    if status:
        conditions.append("status = %s")
        parameters.append(status)
    if prefix:
        conditions.append("substr(order_id, 1, %s) = %s")
        parameters += [len(prefix), prefix]
    return ("WHERE " + " AND ".join(conditions) + " " if conditions else ""), tuple(parameters)


async def list_orders(
    sql: SQLTransaction,
    *,
    status: str | None = None,
    prefix: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[OrderRow]:
    """Orders, the most recently changed first, optionally only those in ``status`` or whose id
    starts with ``prefix``: ``limit`` of them after the first ``offset``."""
    where, parameters = _where(status, prefix)
    rows = await sql.fetch_all(
        f"SELECT {_COLUMNS} FROM {sql.table('order_list')} {where}ORDER BY position DESC LIMIT %s OFFSET %s",
        (*parameters, limit, offset),
    )
    return [_row(row) for row in rows]


async def count_orders(sql: SQLTransaction, *, status: str | None = None, prefix: str | None = None) -> int:
    """How many orders there are (in ``status``, with ids starting with ``prefix``, when given)."""
    where, parameters = _where(status, prefix)
    row = await sql.fetch_one(f"SELECT count(*) FROM {sql.table('order_list')} {where}", parameters)
    return int(row[0]) if row else 0


async def find_order(sql: SQLTransaction, order_id: str) -> OrderRow | None:
    """One order, or None."""
    row = await sql.fetch_one(
        f"SELECT {_COLUMNS} FROM {sql.table('order_list')} WHERE order_id = %s", (order_id,)
    )
    return None if row is None else _row(row)


def check_list_query(status: str | None, limit: int, offset: int) -> None:
    """Refuse (400) a list query outside what the list answers, naming the parameter."""
    if status is not None and status not in ORDER_STATUSES:
        raise el.InvalidArgument(f"status {status!r} is not one of {', '.join(ORDER_STATUSES)}")
    if not 1 <= limit <= MAX_PAGE:
        raise el.InvalidArgument(f"limit {limit} is not between 1 and {MAX_PAGE}")
    if offset < 0:
        raise el.InvalidArgument(f"offset {offset} is below 0")
