"""A user's document projection and reader under mypy --strict; mistakes marked ``# expect: <code>``."""

from __future__ import annotations

import pydantic

import eventledger as el
from eventledger.projections import DocumentProjection, DocumentSession, handles


class ItemAdded(el.Event, type_name="typed_documents.item_added"):
    cart_id: str
    sku: str


class Cart(pydantic.BaseModel):
    id: str
    skus: list[str] = []


class Customer(pydantic.BaseModel):
    name: str


class CartDetails(
    DocumentProjection, name="typed-cart-details", documents={"carts": Cart, "customers": Customer}
):
    @handles
    async def added(self, event: ItemAdded, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        carts = docs[Cart]
        cart = await carts.get(event.cart_id) or Cart(id=event.cart_id)
        await carts.put(event.cart_id, cart.model_copy(update={"skus": [*cart.skus, event.sku]}))
        await carts.put(event.cart_id, Customer(name="x"))  # expect: arg-type
        missing = await carts.get(event.cart_id)
        print(missing.skus)  # expect: union-attr


async def read(details: CartDetails) -> list[str]:
    cart = await details.reader()[Cart].get("cart-1")
    if cart is None:
        return []
    names = [customer.name for customer in await details.reader()[Customer].find()]
    await details.reader()[Cart].put("cart-1", cart)  # expect: attr-defined
    return [*cart.skus, *names]
