"""The order domain's write side: the Order aggregate, its commands and their handlers.

An order is created with its items and is then pending. An order has 1 to :data:`MAX_LINES`
items; each has a quantity of 1 to :data:`MAX_QUANTITY` and a unit price of 0 to
:data:`MAX_UNIT_PRICE` with at most two decimal places: the commands refuse anything else, so
that every read model can hold every order the commands accept (the largest order totals
10**14). A pending order can be confirmed; any
other order cannot (``DomainError("Cannot confirm")``). A pending or confirmed order can be
cancelled: the cancellation is a compensating event, nothing is deleted. A cancelled order stays
cancelled.

The same rules are written twice, in the two styles eventledger supports: the ``Order``
aggregate (object style, used by ``OrderHandlers``) and ``order_decider`` (functional style,
run by ``eventledger.CommandHandler``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Annotated, Final, assert_never

import pydantic
from pydantic_core import PydanticCustomError

import eventledger as el
from examples.orders.events import OrderCancelled, OrderConfirmed, OrderCreated, OrderItem


class OrderStatus(enum.StrEnum):
    """Where an order is in its life."""

    NEW = "new"
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


CANCELLABLE = frozenset({OrderStatus.PENDING, OrderStatus.CONFIRMED})

MAX_LINES: Final = 100
"""The most items an order can have."""
MAX_QUANTITY: Final = 1_000_000
"""The largest quantity of one item."""
MAX_UNIT_PRICE: Final = Decimal("1000000.00")
"""The highest unit price (two decimal places at most)."""


def within_limits(items: list[OrderItem]) -> list[OrderItem]:
    """``items`` if every quantity and unit price is within the limits above; else a validation error."""
    for number, item in enumerate(items, start=1):
        if item.quantity > MAX_QUANTITY:
            raise PydanticCustomError(
                "order_limit",
                "item {number}: quantity {value} is above the limit of {limit}",
                {"number": number, "value": item.quantity, "limit": MAX_QUANTITY},
            )
        if item.unit_price > MAX_UNIT_PRICE:
            raise PydanticCustomError(
                "order_limit",
                "item {number}: unit price {value} is above the limit of {limit}",
                {"number": number, "value": str(item.unit_price), "limit": str(MAX_UNIT_PRICE)},
            )
        exponent = item.unit_price.normalize().as_tuple().exponent
        if not isinstance(exponent, int) or exponent < -2:
            raise PydanticCustomError(
                "order_limit",
                "item {number}: unit price {value} has more than two decimal places",
                {"number": number, "value": str(item.unit_price)},
            )
    return items


OrderLines = Annotated[
    list[OrderItem],
    pydantic.Field(min_length=1, max_length=MAX_LINES),
    pydantic.AfterValidator(within_limits),
]
"""An order's items as the commands accept them: 1 to MAX_LINES, each within the limits."""


# --------------------------------------------------------------------- commands


class CreateOrder(el.Command):
    """Place a new order with at least one item, priced in ``currency`` (ISO 4217)."""

    order_id: str = pydantic.Field(min_length=1)
    items: OrderLines
    currency: str = pydantic.Field(default="EUR", pattern=r"^[A-Z]{3}$")


class ConfirmOrder(el.Command):
    """Confirm a pending order."""

    order_id: str = pydantic.Field(min_length=1)


class CancelOrder(el.Command):
    """Cancel a pending or confirmed order."""

    order_id: str = pydantic.Field(min_length=1)
    reason: str = ""


OrderCommand = CreateOrder | ConfirmOrder | CancelOrder


# --------------------------------------------------------------------- the aggregate


class Order(el.Aggregate):
    """An order: its items and its status, changed only by its events."""

    status: OrderStatus = OrderStatus.NEW
    items: list[OrderItem] = []
    currency: str = "EUR"
    cancel_reason: str | None = None

    @classmethod
    def create(cls, order_id: str, items: Sequence[OrderItem], currency: str = "EUR") -> Order:
        """A new pending order with ``items``, priced in ``currency``."""
        if not items:
            raise el.DomainError(f"Cannot create order {order_id!r}: an order needs at least one item")
        order = cls.new(order_id)
        order.record(OrderCreated(order_id=order_id, items=list(items), currency=currency))
        return order

    @property
    def total(self) -> Decimal:
        """What the order costs: the sum of quantity times unit price."""
        return sum((item.quantity * item.unit_price for item in self.items), Decimal(0))

    def confirm(self) -> None:
        """Confirm the order; only a pending order can be confirmed."""
        if self.status is not OrderStatus.PENDING:
            raise el.DomainError(f"Cannot confirm order {self.id!r}: it is {self.status}")
        self.record(OrderConfirmed(order_id=self.id))

    def cancel(self, reason: str = "") -> None:
        """Cancel the order (a compensating event); a cancelled order cannot be cancelled again."""
        if self.status not in CANCELLABLE:
            raise el.DomainError(f"Cannot cancel order {self.id!r}: it is {self.status}")
        self.record(OrderCancelled(order_id=self.id, reason=reason))

    @el.applies
    def _created(self, event: OrderCreated) -> None:
        self.status = OrderStatus.PENDING
        self.items = list(event.items)
        self.currency = event.currency

    @el.applies
    def _confirmed(self, event: OrderConfirmed) -> None:
        self.status = OrderStatus.CONFIRMED

    @el.applies
    def _cancelled(self, event: OrderCancelled) -> None:
        self.status = OrderStatus.CANCELLED
        self.cancel_reason = event.reason


# --------------------------------------------------------------------- command handlers


class OrderHandlers:
    """Handles order commands: load the order, let it decide, append with the expected version.

    Errors a caller should expect: ``el.AggregateNotFound`` (no such order),
    ``el.DomainError`` (a rule forbids the command), ``el.ConcurrencyError`` (creating an order
    that exists, or conflicts that outlasted the retries).
    """

    def __init__(
        self,
        store: el.EventStore,
        *,
        snapshot_every: int | None = 100,
        retry: el.RetryPolicy | None = None,
    ) -> None:
        self.orders = el.Repository(store, Order, snapshot_every=snapshot_every, retry=retry)

    async def create(self, command: CreateOrder) -> Order:
        """Place the order; its stream must not exist yet."""
        order = Order.create(command.order_id, command.items, command.currency)
        await self.orders.save(order, metadata=command.event_metadata())
        return order

    async def confirm(self, command: ConfirmOrder, *, expected_version: int | None = None) -> Order:
        """Confirm the order, retrying on conflicts with other writers; with ``expected_version``
        (the version a client saw), only if the order is still at it, checked once."""
        return await self.orders.update(
            command.order_id,
            Order.confirm,
            expected_version=expected_version,
            metadata=command.event_metadata(),
        )

    async def cancel(self, command: CancelOrder, *, expected_version: int | None = None) -> Order:
        """Cancel the order, retrying on conflicts with other writers; with ``expected_version``
        (the version a client saw), only if the order is still at it, checked once."""
        return await self.orders.update(
            command.order_id,
            lambda order: order.cancel(command.reason),
            expected_version=expected_version,
            metadata=command.event_metadata(),
        )

    async def handle(self, command: OrderCommand) -> Order:
        """Dispatch any order command to its handler."""
        match command:
            case CreateOrder():
                return await self.create(command)
            case ConfirmOrder():
                return await self.confirm(command)
            case CancelOrder():
                return await self.cancel(command)


# --------------------------------------------------------------------- the same rules as a decider


@dataclass(frozen=True, slots=True)
class OrderState:
    """An order's state for the decider: immutable, replaced by each event."""

    status: OrderStatus = OrderStatus.NEW
    items: tuple[OrderItem, ...] = ()


OrderEvent = OrderCreated | OrderConfirmed | OrderCancelled
"""Every event of an order's stream: the decider's event type, so mypy checks both functions."""


def evolve(state: OrderState, event: OrderEvent) -> OrderState:
    """The order's state after one more event (mypy proves every order event is handled)."""
    match event:
        case OrderCreated(items=items):
            return replace(state, status=OrderStatus.PENDING, items=tuple(items))
        case OrderConfirmed():
            return replace(state, status=OrderStatus.CONFIRMED)
        case OrderCancelled():
            return replace(state, status=OrderStatus.CANCELLED)
        case _:
            assert_never(event)


def decide(command: OrderCommand, state: OrderState) -> list[OrderEvent]:
    """The events ``command`` produces on an order in ``state``, or a DomainError."""
    match command:
        case CreateOrder(order_id=order_id, items=items, currency=currency):
            if state.status is not OrderStatus.NEW:
                raise el.DomainError(f"Cannot create order {order_id!r}: it already exists")
            return [OrderCreated(order_id=order_id, items=items, currency=currency)]
        case ConfirmOrder(order_id=order_id):
            if state.status is not OrderStatus.PENDING:
                raise el.DomainError(f"Cannot confirm order {order_id!r}: it is {state.status}")
            return [OrderConfirmed(order_id=order_id)]
        case CancelOrder(order_id=order_id, reason=reason):
            if state.status not in CANCELLABLE:
                raise el.DomainError(f"Cannot cancel order {order_id!r}: it is {state.status}")
            return [OrderCancelled(order_id=order_id, reason=reason)]


order_decider: el.Decider[OrderCommand, OrderState, OrderEvent] = el.Decider(
    initial_state=OrderState, evolve=evolve, decide=decide
)
"""The order rules as a decider; run it with ``el.CommandHandler(store, order_decider)``."""
