"""The mission's order example: its rules (as an aggregate and as a decider) and its handlers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from examples.orders.domain import (
    CancelOrder,
    ConfirmOrder,
    CreateOrder,
    Order,
    OrderCommand,
    OrderHandlers,
    OrderStatus,
    order_decider,
)
from examples.orders.events import OrderCreated
from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st
from order_fixtures import ITEMS, cancelled, confirmed, created

import eventledger as el
from eventledger.testing import given

# --------------------------------------------------------------------- the rules, object style


def test_an_order_is_created_pending_with_its_items() -> None:
    order = given(Order).when(lambda _: Order.create("order-1", ITEMS)).then(created())
    assert (order.status, order.items, order.total) == (OrderStatus.PENDING, ITEMS, Decimal("26.99"))


def test_an_order_is_priced_in_the_currency_it_was_created_with() -> None:
    order = (
        given(Order)
        .when(lambda _: Order.create("order-1", ITEMS, currency="GBP"))
        .then(OrderCreated(order_id="order-1", items=ITEMS, currency="GBP"))
    )
    assert order.currency == "GBP"
    given(order_decider).when(CreateOrder(order_id="order-1", items=ITEMS, currency="USD")).then(
        OrderCreated(order_id="order-1", items=ITEMS, currency="USD")
    )


def test_an_order_needs_at_least_one_item() -> None:
    given(Order).when(lambda _: Order.create("order-1", [])).then_raises(
        el.DomainError, match="an order needs at least one item"
    )


def test_a_pending_order_can_be_confirmed() -> None:
    given(Order, created(), aggregate_id="order-1").when(Order.confirm).then(confirmed())


def test_a_confirmed_order_cannot_be_confirmed_again() -> None:
    given(Order, created(), confirmed(), aggregate_id="order-1").when(Order.confirm).then_raises(
        el.DomainError, match="^Cannot confirm order 'order-1': it is confirmed$"
    )


def test_a_cancelled_order_cannot_be_confirmed() -> None:
    given(Order, created(), cancelled(), aggregate_id="order-1").when(Order.confirm).then_raises(
        el.DomainError, match="^Cannot confirm"
    )


def test_a_pending_order_can_be_cancelled_with_a_reason() -> None:
    order = (
        given(Order, created(), aggregate_id="order-1")
        .when(lambda order: order.cancel("out of stock"))
        .then(cancelled(reason="out of stock"))
    )
    assert (order.status, order.cancel_reason) == (OrderStatus.CANCELLED, "out of stock")


def test_cancelling_a_confirmed_order_compensates_the_confirmation() -> None:
    given(Order, created(), confirmed(), aggregate_id="order-1").when(lambda order: order.cancel()).then(
        cancelled()
    )


def test_a_cancelled_order_cannot_be_cancelled_again() -> None:
    given(Order, created(), cancelled(), aggregate_id="order-1").when(
        lambda order: order.cancel()
    ).then_raises(el.DomainError, match="^Cannot cancel order 'order-1': it is cancelled$")


# --------------------------------------------------------------------- the rules, functional style


def test_the_decider_creates_a_pending_order() -> None:
    state = given(order_decider).when(CreateOrder(order_id="order-1", items=ITEMS)).then(created())
    assert state.status is OrderStatus.PENDING


def test_the_decider_refuses_to_create_an_order_twice() -> None:
    given(order_decider, created()).when(CreateOrder(order_id="order-1", items=ITEMS)).then_raises(
        el.DomainError, match="it already exists"
    )


def test_the_decider_confirms_only_a_pending_order() -> None:
    given(order_decider, created()).when(ConfirmOrder(order_id="order-1")).then(confirmed())
    given(order_decider, created(), cancelled()).when(ConfirmOrder(order_id="order-1")).then_raises(
        el.DomainError, match="^Cannot confirm"
    )


def test_the_decider_cancels_a_confirmed_order_but_not_a_cancelled_one() -> None:
    given(order_decider, created(), confirmed()).when(CancelOrder(order_id="order-1", reason="r")).then(
        cancelled(reason="r")
    )
    given(order_decider, created(), cancelled()).when(CancelOrder(order_id="order-1")).then_raises(
        el.DomainError, match="^Cannot cancel"
    )


commands = st.lists(
    st.sampled_from(
        [
            CreateOrder(order_id="order-1", items=ITEMS),
            ConfirmOrder(order_id="order-1"),
            CancelOrder(order_id="order-1", reason="r"),
        ]
    ),
    max_size=8,
)


def run_on_aggregate(order: Order | None, command: OrderCommand) -> tuple[Order | None, list[el.Event]]:
    match command:
        case CreateOrder():
            if order is not None:
                raise el.DomainError("Cannot create order: it already exists")
            order = Order.create(command.order_id, command.items)
        case ConfirmOrder():
            if order is None:
                raise el.AggregateNotFound(command.order_id, "Order")
            order.confirm()
        case CancelOrder():
            if order is None:
                raise el.AggregateNotFound(command.order_id, "Order")
            order.cancel(command.reason)
    events = list(order.uncommitted_events)
    order._mark_committed()
    return order, events


@for_all(commands)
@settings(max_examples=200, deadline=None)
def test_the_aggregate_and_the_decider_agree_on_every_sequence_of_commands(
    sequence: list[OrderCommand],
) -> None:
    order: Order | None = None
    state = order_decider.initial_state()
    for command in sequence:
        try:
            decided = list(order_decider.decide(command, state))
        except el.DomainError:
            decided = None
        try:
            order, recorded = run_on_aggregate(order, command)
        except (el.DomainError, el.AggregateNotFound):
            recorded = None
        assert decided == recorded, command
        state = order_decider.fold(decided or [], state)
        assert order is None or order.status is state.status


# --------------------------------------------------------------------- the handlers, on every backend


async def test_the_handlers_create_confirm_and_store_the_events_with_their_command_ids(
    store: el.EventStore,
) -> None:
    handlers = OrderHandlers(store)
    create = CreateOrder(order_id="order-1", items=ITEMS, correlation_id="checkout-1")
    confirm = ConfirmOrder(order_id="order-1", correlation_id="checkout-1", causation_id=create.command_id)
    await handlers.create(create)
    order = await handlers.confirm(confirm)
    assert (order.status, order.version) == (OrderStatus.CONFIRMED, 2)
    recorded = [r async for r in store.read_stream("order-1")]
    assert [r.event for r in recorded] == [created(), confirmed()]
    assert [(r.correlation_id, r.causation_id) for r in recorded] == [
        ("checkout-1", create.command_id),
        ("checkout-1", create.command_id),
    ]
    assert [r.metadata["command_type"] for r in recorded] == ["CreateOrder", "ConfirmOrder"]


async def test_handle_dispatches_each_command_to_its_handler(store: el.EventStore) -> None:
    handlers = OrderHandlers(store)
    await handlers.handle(CreateOrder(order_id="order-1", items=ITEMS))
    await handlers.handle(ConfirmOrder(order_id="order-1"))
    order = await handlers.handle(CancelOrder(order_id="order-1", reason="changed my mind"))
    assert (order.status, order.cancel_reason, order.version) == (OrderStatus.CANCELLED, "changed my mind", 3)


async def test_confirming_a_missing_order_raises_aggregate_not_found(store: el.EventStore) -> None:
    with pytest.raises(el.AggregateNotFound, match="Order 'order-404' not found"):
        await OrderHandlers(store).confirm(ConfirmOrder(order_id="order-404"))


async def test_creating_an_order_that_exists_raises_concurrency_error_and_writes_nothing(
    store: el.EventStore,
) -> None:
    handlers = OrderHandlers(store)
    await handlers.create(CreateOrder(order_id="order-1", items=ITEMS))
    with pytest.raises(el.ConcurrencyError, match="stream 'order-1'"):
        await handlers.create(CreateOrder(order_id="order-1", items=ITEMS[:1]))
    assert await store.stream_version("order-1") == 1


async def test_a_refused_command_writes_nothing(store: el.EventStore) -> None:
    handlers = OrderHandlers(store)
    await handlers.create(CreateOrder(order_id="order-1", items=ITEMS))
    await handlers.cancel(CancelOrder(order_id="order-1"))
    with pytest.raises(el.DomainError, match=r"^Cannot confirm"):
        await handlers.confirm(ConfirmOrder(order_id="order-1"))
    assert await store.stream_version("order-1") == 2


def test_commands_validate_their_input() -> None:
    with pytest.raises(ValueError, match="items"):
        CreateOrder(order_id="order-1", items=[])
    with pytest.raises(ValueError, match="order_id"):
        ConfirmOrder(order_id="")
