"""The order service's HTTP shapes: request bodies, and the JSON of orders and statuses.

Errors are problem details, from :mod:`eventledger.http.problems`.
"""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

import pydantic

import eventledger as el
from eventledger.projections import ProjectionStatus
from eventledger.projections.targets.base import FailedEvent
from eventledger.store.records import OpenTransaction
from examples.orders.domain import Order, OrderLines
from examples.orders.order_list import OrderRow


class CreateOrderRequest(pydantic.BaseModel):
    """Place an order; without an ``order_id`` the service makes one up."""

    model_config = pydantic.ConfigDict(extra="forbid")

    order_id: str | None = pydantic.Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$", description="letters, digits, _.:-"
    )
    items: OrderLines


class ChangeOrderRequest(pydantic.BaseModel):
    """Confirm or cancel. With ``expected_version`` the command is refused (409) if the order
    has changed since the client saw it at that version, as with an ``If-Match`` header (412);
    without either, conflicts with other writers are retried."""

    model_config = pydantic.ConfigDict(extra="forbid")

    expected_version: int | None = pydantic.Field(default=None, ge=1)
    reason: str = pydantic.Field(default="", max_length=200)


class SimulationRequest(pydantic.BaseModel):
    """How much load to simulate."""

    model_config = pydantic.ConfigDict(extra="forbid")

    orders: int = pydantic.Field(default=3000, ge=1, le=20_000)
    concurrency: int = pydantic.Field(default=16, ge=1, le=128)
    rate: float | None = pydantic.Field(
        default=200.0, gt=0, le=10_000, description="orders per second; null: as fast as possible"
    )


def accepted(order: Order, position: int | None) -> dict[str, Any]:
    """What a successful command answers: the order's id, new version and status, and the
    global position of its last event (pass it as ``min_position`` to read your write)."""
    return {"order_id": order.id, "version": order.version, "status": str(order.status), "position": position}


def expected_version_of(
    order_id: str, if_match: el.ExpectedVersion | None, body: ChangeOrderRequest | None
) -> int | None:
    """The version a change expects the order at: ``If-Match``'s, else the body's, else None.

    ``If-Match: *`` only asks that the order exist, which loading it checks (404 otherwise), so
    it expects no version. When both are sent they must agree.
    """
    from_body = body.expected_version if body is not None else None
    from_header = if_match if isinstance(if_match, int) else None
    if from_header is not None and from_body is not None and from_header != from_body:
        raise el.InvalidArgument(
            f"order {order_id!r}: If-Match expects version {from_header}, the body version {from_body}; "
            "send one of them"
        )
    return from_header if from_header is not None else from_body


def status_json(status: ProjectionStatus) -> dict[str, Any]:
    """A projection's status as JSON-compatible data."""
    reason = status.stalled_reason
    return {
        "name": status.name,
        "version": status.version,
        "target": status.target,
        "state": status.state.value,
        "checkpoint": status.checkpoint,
        "head_position": status.head_position,
        "written_position": status.written_position,
        "held_back_events": status.held_back_events,
        "lag_events": status.lag_events,
        "lag_seconds": round(status.lag_seconds, 3) if status.lag_seconds is not None else None,
        "events_per_second": round(status.events_per_second, 1),
        "last_error": status.last_error,
        "holds_lease": status.holds_lease,
        "failure": None
        if status.failure is None
        else {**asdict(status.failure), "at": str(status.failure.at)},
        "stalled_reason": None
        if reason is None
        else {
            "held_back_events": reason.held_back_events,
            "since": reason.since.isoformat(),
            "transaction": None if reason.transaction is None else transaction_json(reason.transaction),
            "message": reason.describe(),
        },
    }


def transaction_json(transaction: OpenTransaction) -> dict[str, Any]:
    """The open transaction holding events back, as JSON-compatible data."""
    return {
        "pid": transaction.pid,
        "database": transaction.database,
        "state": transaction.state,
        "age_seconds": round(transaction.age.total_seconds(), 1),
    }


def failed_event_json(failed: FailedEvent) -> dict[str, Any]:
    """The event an operator retried or skipped."""
    return {
        "position": failed.position,
        "stream_id": failed.stream_id,
        "event_type": failed.event_type,
        "error": failed.error,
    }


def money(amount: Decimal) -> str:
    """An amount as the API writes every amount: a string with two decimals (``"30.00"``)."""
    return format(amount, ".2f")


def order_json(row: OrderRow) -> dict[str, Any]:
    """An order list row as JSON-compatible data."""
    return {
        "order_id": row.order_id,
        "status": row.status,
        "item_count": row.item_count,
        "total": money(row.total),
        "currency": row.currency,
        "version": row.version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "confirmed_at": row.confirmed_at,
        "cancelled_at": row.cancelled_at,
        "position": row.position,
    }
