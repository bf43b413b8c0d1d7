"""A decider typed with its event union: mypy --strict checks decide and evolve with no cast."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import assert_never

import eventledger as el
from eventledger.domain import Clock
from eventledger.testing import FixedClock, given


class CartOpened(el.Event, type_name="typing.deciders.good.opened"):
    cart_id: str


class ItemAdded(el.Event, type_name="typing.deciders.good.added"):
    sku: str


class CartCheckedOut(el.Event, type_name="typing.deciders.good.checked-out"):
    at: datetime


CartEvent = CartOpened | ItemAdded | CartCheckedOut


class AddItem(el.Command):
    sku: str


class CheckOut(el.Command):
    pass


CartCommand = AddItem | CheckOut


@dataclass(frozen=True)
class Cart:
    items: tuple[str, ...] = ()
    checked_out: bool = False


def evolve(state: Cart, event: CartEvent) -> Cart:
    match event:
        case CartOpened():
            return state
        case ItemAdded(sku=sku):
            return replace(state, items=(*state.items, sku))
        case CartCheckedOut():
            return replace(state, checked_out=True)
        case _:
            assert_never(event)


def decide(command: CartCommand, state: Cart) -> list[CartEvent]:
    if state.checked_out:
        raise el.DomainError("Cannot change a checked-out cart")
    match command:
        case AddItem(sku=sku):
            return [ItemAdded(sku=sku)]
        case CheckOut(now=now) if now is not None:
            return [CartCheckedOut(at=now)]
        case CheckOut():
            raise el.DomainError("Cannot check out without a time")
        case _:
            assert_never(command)


cart_decider: el.Decider[CartCommand, Cart, CartEvent] = el.Decider(Cart, evolve, decide)
untyped_events: el.Decider[CartCommand, Cart] = el.Decider(Cart, lambda state, event: state, decide)


async def check_out(store: el.EventStore, cart_id: str, clock: Clock) -> tuple[CartEvent, ...]:
    handler = el.CommandHandler(store, cart_decider, clock=clock)
    result: el.CommandResult[Cart, CartEvent] = await handler.handle(cart_id, CheckOut())
    return result.events


def scenario(clock: FixedClock) -> Cart:
    clock.advance(timedelta(minutes=5))
    return given(cart_decider, CartOpened(cart_id="c1"), ItemAdded(sku="tea"), clock=clock).when(
        CheckOut(metadata={"client_id": "web-7"})
    ).then(CartCheckedOut(at=clock.now()), metadata={"client_id": "web-7", "now": clock.now()})
