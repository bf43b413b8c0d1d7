"""A small shopping-cart API on eventledger.http, the application the HTTP tests drive.

It is written the way the README tells an application to: a decider run by a
``CommandHandler``, the store opened in the lifespan, ``If-Match`` as the expected version,
``set_etag`` on every answer, and ``install_problem_handlers`` for every error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import pydantic
from fastapi import FastAPI, Request, Response

import eventledger as el
from eventledger.http import IfMatchVersion, install_problem_handlers, set_etag


class CartOpened(el.Event, type_name="http-test.CartOpened"):
    cart_id: str


class ItemAdded(el.Event, type_name="http-test.ItemAdded"):
    cart_id: str
    sku: str
    quantity: int


class CartConfirmed(el.Event, type_name="http-test.CartConfirmed"):
    cart_id: str


class AddItem(el.Command):
    cart_id: str
    sku: str
    quantity: int


class ConfirmCart(el.Command):
    cart_id: str


@dataclass(frozen=True)
class Cart:
    items: tuple[tuple[str, int], ...] = ()
    confirmed: bool = False


def evolve(cart: Cart, event: el.Event) -> Cart:
    match event:
        case ItemAdded(sku=sku, quantity=quantity):
            return replace(cart, items=(*cart.items, (sku, quantity)))
        case CartConfirmed():
            return replace(cart, confirmed=True)
    return cart


def decide(command: AddItem | ConfirmCart, cart: Cart) -> list[el.Event]:
    if cart.confirmed:
        raise el.DomainError(f"cart {command.cart_id!r} is confirmed; it takes no changes")
    match command:
        case AddItem(cart_id=cart_id, sku=sku, quantity=quantity):
            return [ItemAdded(cart_id=cart_id, sku=sku, quantity=quantity)]
        case ConfirmCart(cart_id=cart_id):
            if not cart.items:
                raise el.DomainError(f"cart {cart_id!r} is empty; add an item first")
            return [CartConfirmed(cart_id=cart_id)]


cart_decider = el.Decider(initial_state=Cart, evolve=evolve, decide=decide)


class ItemRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    sku: str = pydantic.Field(min_length=1)
    quantity: int = pydantic.Field(ge=1, le=100)


def create_app(store_url: str, *, retry_after_seconds: int = 1) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = await el.open_store(store_url)
        app.state.handler = el.CommandHandler(app.state.store, cart_decider)
        try:
            yield
        finally:
            await app.state.store.close()

    app = FastAPI(lifespan=lifespan)
    install_problem_handlers(app, retry_after_seconds=retry_after_seconds)

    def handler_of(request: Request) -> el.CommandHandler[Any, Cart]:
        handler: el.CommandHandler[Any, Cart] = request.app.state.handler
        return handler

    @app.post("/carts/{cart_id}", status_code=201)
    async def open_cart(cart_id: str, request: Request, response: Response) -> dict[str, Any]:
        """Open a cart: it must not exist yet (409 when it does)."""
        store: el.EventStore = request.app.state.store
        result = await store.append(cart_id, [CartOpened(cart_id=cart_id)], expected_version=el.NO_STREAM)
        set_etag(response, result)
        return {"cart_id": cart_id, "version": result.version}

    @app.post("/carts/{cart_id}/items")
    async def add_item(
        cart_id: str, body: ItemRequest, expected: IfMatchVersion, request: Request, response: Response
    ) -> dict[str, Any]:
        command = AddItem(cart_id=cart_id, sku=body.sku, quantity=body.quantity)
        result = await handler_of(request).handle(cart_id, command, expected_version=expected)
        set_etag(response, result)
        return {"cart_id": cart_id, "version": result.version}

    @app.post("/carts/{cart_id}/confirm")
    async def confirm(cart_id: str, expected: IfMatchVersion, request: Request, response: Response) -> None:
        command = ConfirmCart(cart_id=cart_id)
        result = await handler_of(request).handle(cart_id, command, expected_version=expected)
        set_etag(response, result)

    @app.get("/carts/{cart_id}")
    async def cart(cart_id: str, request: Request, response: Response) -> dict[str, Any]:
        state, version = await handler_of(request).load(cart_id)
        if version == 0:
            raise el.AggregateNotFound(cart_id, "cart")
        set_etag(response, version)
        return {"items": [list(item) for item in state.items], "confirmed": state.confirmed}

    return app
