"""Carts as document read models: the events, the documents and the projection the document tests share."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import pydantic
from projection_rig import Rig

import eventledger as el
from eventledger.projections import handles
from eventledger.projections.documents import DocumentProjection, DocumentSession


class ItemAdded(el.Event, type_name="test.documents.item_added"):
    cart_id: str
    customer: str
    sku: str
    quantity: int
    price: float


class ItemRemoved(el.Event, type_name="test.documents.item_removed"):
    cart_id: str
    sku: str


class CartClosed(el.Event, type_name="test.documents.cart_closed"):
    cart_id: str
    at: datetime


class CartDiscarded(el.Event, type_name="test.documents.cart_discarded"):
    cart_id: str


class Cart(pydantic.BaseModel):
    id: str
    customer: str
    items: dict[str, int] = {}
    total: float = 0.0
    closed: bool = False
    closed_at: datetime | None = None


class Customer(pydantic.BaseModel):
    name: str
    carts: int = 0


class CartDetails(DocumentProjection, name="cart-details", documents={"carts": Cart, "customers": Customer}):
    @handles
    async def added(self, event: ItemAdded, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        carts = docs[Cart]
        cart = await carts.get(event.cart_id)
        if cart is None:
            cart = Cart(id=event.cart_id, customer=event.customer)
            customer = await docs[Customer].get(event.customer) or Customer(name=event.customer)
            counted = customer.model_copy(update={"carts": customer.carts + 1})
            await docs[Customer].put(event.customer, counted)
        items = {**cart.items, event.sku: cart.items.get(event.sku, 0) + event.quantity}
        total = cart.total + event.quantity * event.price
        await carts.put(event.cart_id, cart.model_copy(update={"items": items, "total": total}))

    @handles
    async def removed(self, event: ItemRemoved, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        cart = await docs["carts"].get(event.cart_id)
        assert isinstance(cart, Cart)
        items = {sku: quantity for sku, quantity in cart.items.items() if sku != event.sku}
        await docs["carts"].put(event.cart_id, cart.model_copy(update={"items": items}))

    @handles
    async def closed(self, event: CartClosed, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        cart = await docs[Cart].get(event.cart_id)
        assert cart is not None
        await docs[Cart].put(event.cart_id, cart.model_copy(update={"closed": True, "closed_at": event.at}))

    @handles
    async def discarded(
        self, event: CartDiscarded, recorded: el.RecordedEvent, docs: DocumentSession
    ) -> None:
        await docs[Cart].delete(event.cart_id)


async def project(rig: Rig, projection: DocumentProjection, *events: tuple[str, el.Event]) -> None:
    for stream_id, event in events:
        await rig.store.append(stream_id, [event], expected_version=el.ANY)
    await el.ProjectionRunner(rig.store, [projection]).run_until_caught_up()


def added(
    cart_id: str, sku: str, quantity: int = 1, price: float = 2.5, customer: str = "ada"
) -> tuple[str, el.Event]:
    return (cart_id, ItemAdded(cart_id=cart_id, customer=customer, sku=sku, quantity=quantity, price=price))


class Reading(pydantic.BaseModel):
    value: float
    sensor: UUID


class ReadingAdded(el.Event, type_name="test.documents.reading_added"):
    reading_id: UUID
    value: float


class Readings(DocumentProjection, name="readings", documents={"readings": Reading}):
    @handles
    async def added(self, event: ReadingAdded, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        await docs[Reading].put(event.reading_id, Reading(value=event.value, sensor=event.reading_id))
