"""CommandHandler runs a decider against a stream: load, fold, decide, append at the loaded version."""

from __future__ import annotations

import pytest
from examples.orders.domain import (
    CancelOrder,
    ConfirmOrder,
    CreateOrder,
    OrderCommand,
    OrderEvent,
    OrderState,
    OrderStatus,
    decide,
    evolve,
    order_decider,
)
from order_fixtures import ITEMS, cancelled, confirmed, created

import eventledger as el


async def stored_events(store: el.EventStore, stream_id: str) -> list[el.Event]:
    return [recorded.event async for recorded in store.read_stream(stream_id)]


async def test_a_command_on_an_empty_stream_is_decided_on_the_initial_state_and_creates_it(
    store: el.EventStore,
) -> None:
    result = await el.CommandHandler(store, order_decider).handle(
        "order-1", CreateOrder(order_id="order-1", items=ITEMS)
    )
    assert (result.stream_id, result.version, result.events) == ("order-1", 1, (created(),))
    assert result.state == OrderState(status=OrderStatus.PENDING, items=tuple(ITEMS))
    assert await stored_events(store, "order-1") == [created()]


async def test_a_command_is_decided_on_the_folded_stream_and_appended_after_it(store: el.EventStore) -> None:
    await store.append("order-1", [created()], expected_version=el.NO_STREAM)
    result = await el.CommandHandler(store, order_decider).handle("order-1", ConfirmOrder(order_id="order-1"))
    assert (result.version, result.events, result.state.status) == (2, (confirmed(),), OrderStatus.CONFIRMED)
    assert len(result.positions) == 1
    assert await stored_events(store, "order-1") == [created(), confirmed()]


async def test_a_broken_rule_propagates_and_appends_nothing(store: el.EventStore) -> None:
    await store.append("order-1", [created(), cancelled()], expected_version=el.NO_STREAM)
    with pytest.raises(el.DomainError, match=r"^Cannot confirm order 'order-1': it is cancelled"):
        await el.CommandHandler(store, order_decider).handle("order-1", ConfirmOrder(order_id="order-1"))
    assert await store.stream_version("order-1") == 2


async def test_a_decision_of_no_events_appends_nothing(store: el.EventStore) -> None:
    quiet: el.Decider[str, int] = el.Decider(
        initial_state=lambda: 0, evolve=lambda state, event: state + 1, decide=lambda command, state: []
    )
    await store.append("s", [created()], expected_version=el.NO_STREAM)
    result = await el.CommandHandler(store, quiet).handle("s", "do nothing")
    assert (result.events, result.version, result.state, result.positions) == ((), 1, 1, ())
    assert await store.head_position() == 1


async def test_a_commands_ids_are_stored_in_the_metadata_of_its_events(store: el.EventStore) -> None:
    command = CreateOrder(order_id="order-1", items=ITEMS, correlation_id="checkout-7", causation_id="cart-3")
    await el.CommandHandler(store, order_decider).handle("order-1", command)
    [recorded] = [r async for r in store.read_stream("order-1")]
    assert (recorded.correlation_id, recorded.causation_id) == ("checkout-7", "cart-3")
    assert recorded.metadata["command_id"] == command.command_id
    assert recorded.metadata["command_type"] == "CreateOrder"


async def test_explicit_metadata_is_stored_on_top_of_the_commands_ids(store: el.EventStore) -> None:
    command = CreateOrder(order_id="order-1", items=ITEMS, correlation_id="checkout-7")
    await el.CommandHandler(store, order_decider).handle("order-1", command, metadata={"user": "ada"})
    [recorded] = [r async for r in store.read_stream("order-1")]
    assert (recorded.correlation_id, recorded.metadata["user"]) == ("checkout-7", "ada")


class OrderNoted(el.Event, type_name="test.handler.order-noted"):
    """An event the order rules do not care about."""

    note: str


def evolve_with_notes(state: OrderState, event: OrderEvent | OrderNoted) -> OrderState:
    """The order rules on a stream that also holds notes: its event union names them."""
    return state if isinstance(event, OrderNoted) else evolve(state, event)


noted_order_decider: el.Decider[OrderCommand, OrderState, OrderEvent | OrderNoted] = el.Decider(
    OrderState, evolve_with_notes, decide
)


class OvertakenHandler(el.CommandHandler[OrderCommand, OrderState, OrderEvent | OrderNoted]):
    """A handler that, after each of its first ``overtakes`` loads, lets a rival writer append first."""

    def __init__(
        self,
        store: el.EventStore,
        rival: el.EventStore,
        rivals_event: el.Event,
        *,
        overtakes: int,
        attempts: int,
    ) -> None:
        super().__init__(
            store, noted_order_decider, retry=el.RetryPolicy(attempts=attempts, first_delay=0.001)
        )
        self.rival = rival
        self.rivals_event = rivals_event
        self.overtakes = overtakes
        self.statuses_seen: list[OrderStatus] = []

    async def load(self, stream_id: str) -> tuple[OrderState, int]:
        state, version = await super().load(stream_id)
        self.statuses_seen.append(state.status)
        if self.overtakes > 0:
            self.overtakes -= 1
            await self.rival.append(stream_id, [self.rivals_event], expected_version=el.ANY)
        return state, version


async def test_a_conflict_is_retried_and_decided_again_on_the_fresh_state(
    rival: el.EventStore, store: el.EventStore
) -> None:
    await store.append("order-1", [created()], expected_version=el.NO_STREAM)
    handler = OvertakenHandler(store, rival, cancelled(reason="rival"), overtakes=1, attempts=3)
    with pytest.raises(el.DomainError, match=r"^Cannot confirm order 'order-1': it is cancelled"):
        await handler.handle("order-1", ConfirmOrder(order_id="order-1"))
    assert handler.statuses_seen == [OrderStatus.PENDING, OrderStatus.CANCELLED]
    assert handler.conflicts == 1
    assert await stored_events(store, "order-1") == [created(), cancelled(reason="rival")]


async def test_a_retried_command_that_still_holds_is_appended_after_the_rivals_event(
    rival: el.EventStore, store: el.EventStore
) -> None:
    await store.append("order-1", [created()], expected_version=el.NO_STREAM)
    handler = OvertakenHandler(store, rival, OrderNoted(note="gift wrap"), overtakes=1, attempts=3)
    result = await handler.handle("order-1", ConfirmOrder(order_id="order-1"))
    assert (handler.conflicts, result.version) == (1, 3)
    assert await stored_events(store, "order-1") == [created(), OrderNoted(note="gift wrap"), confirmed()]


async def test_conflicts_that_outlast_the_attempts_raise_the_last_concurrency_error(
    rival: el.EventStore, store: el.EventStore
) -> None:
    await store.append("order-1", [created()], expected_version=el.NO_STREAM)
    handler = OvertakenHandler(store, rival, OrderNoted(note="again"), overtakes=10, attempts=2)
    with pytest.raises(el.ConcurrencyError) as raised:
        await handler.handle("order-1", CancelOrder(order_id="order-1"))
    assert raised.value.stream_id == "order-1"
    assert raised.value.__notes__ == ["gave up after 2 attempt(s) on stream 'order-1'"]
    assert handler.conflicts == 2
