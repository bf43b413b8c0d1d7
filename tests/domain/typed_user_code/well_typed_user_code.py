"""Code a user would write against the write-side API: it must pass mypy --strict with no casts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import eventledger as el
from eventledger.domain import UnitOfWork
from eventledger.testing import given


class CartOpened(el.Event, type_name="typing.cart-opened"):
    cart_id: str


class ItemAdded(el.Event, type_name="typing.item-added"):
    sku: str
    quantity: int


class CartCheckedOut(el.Event, type_name="typing.cart-checked-out"):
    pass


class Cart(el.Aggregate, type_name="typing.cart", schema_version=2):
    quantities: dict[str, int] = {}
    checked_out: bool = False

    @classmethod
    def open(cls, cart_id: str) -> Cart:
        cart = cls.new(cart_id)
        cart.record(CartOpened(cart_id=cart_id))
        return cart

    def add(self, sku: str, quantity: int) -> None:
        if self.checked_out:
            raise el.DomainError("Cannot add to a checked-out cart")
        self.record(ItemAdded(sku=sku, quantity=quantity))

    def check_out(self) -> None:
        self.record(CartCheckedOut())

    @property
    def item_count(self) -> int:
        return sum(self.quantities.values())

    @el.applies
    def _opened(self, event: CartOpened) -> None:
        self.quantities = {}

    @el.applies
    def _added(self, event: ItemAdded) -> None:
        self.quantities[event.sku] = self.quantities.get(event.sku, 0) + event.quantity

    @el.applies
    def _checked_out(self, event: CartCheckedOut) -> None:
        self.checked_out = True


class AddItem(el.Command):
    cart_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class CartState:
    count: int = 0
    checked_out: bool = False


def evolve(state: CartState, event: el.Event) -> CartState:
    match event:
        case ItemAdded(quantity=quantity):
            return replace(state, count=state.count + quantity)
        case CartCheckedOut():
            return replace(state, checked_out=True)
    return state


def decide(command: AddItem, state: CartState) -> list[el.Event]:
    if state.checked_out:
        raise el.DomainError("Cannot add to a checked-out cart")
    return [ItemAdded(sku=command.sku, quantity=command.quantity)]


cart_decider = el.Decider(initial_state=CartState, evolve=evolve, decide=decide)


async def add_item(store: el.EventStore, command: AddItem) -> int:
    carts = el.Repository(store, Cart, snapshot_every=50, retry=el.RetryPolicy(attempts=3))
    cart = await carts.update(
        command.cart_id,
        lambda cart: cart.add(command.sku, command.quantity),
        metadata=command.event_metadata(),
    )
    count: int = cart.item_count
    return count


async def add_item_functionally(store: el.EventStore, command: AddItem) -> int:
    handler = el.CommandHandler(store, cart_decider)
    result = await handler.handle(command.cart_id, command)
    state: CartState = result.state
    positions: tuple[int, ...] = result.positions
    return state.count + len(positions)


async def open_and_load(store: el.EventStore) -> bool:
    carts = el.Repository(store, Cart)
    await carts.save(Cart.open("cart-1"))
    cart = await carts.load("cart-1")
    cart.check_out()
    appended: el.AppendResult = await carts.save(cart)
    return cart.checked_out and appended.version == cart.version


async def move_item(store: el.EventStore, source_id: str, target_id: str, sku: str) -> int:
    carts = el.Repository(store, Cart)

    async def move(work: UnitOfWork) -> int:
        source = await work.load(carts, source_id)
        target = await work.find(carts, target_id) or work.add(carts, Cart.open(target_id))
        source.add(sku, -1)
        target.add(sku, 1)
        count: int = target.item_count
        return count

    moved: int = await UnitOfWork.run(store, move, retry=el.RetryPolicy(attempts=3))
    work = UnitOfWork(store, metadata={"correlation_id": "c-1"})
    (await work.load(carts, source_id)).check_out()
    results: list[el.AppendResult] = await work.commit()
    return moved + len(results)


async def cart_then(store: el.EventStore) -> bool:
    carts = el.Repository(store, Cart)
    at_three: Cart = await carts.load("cart-1", version=3)
    yesterday: Cart = await carts.load("cart-1", as_of=datetime.now(UTC) - timedelta(days=1))
    return at_three.checked_out or yesterday.checked_out


def test_adding_an_item() -> None:
    cart = (
        given(Cart, CartOpened(cart_id="c"))
        .when(lambda cart: cart.add("pen", 2))
        .then(ItemAdded(sku="pen", quantity=2))
    )
    assert cart.item_count == 2
    error: el.DomainError = (
        given(Cart, CartOpened(cart_id="c"), CartCheckedOut())
        .when(Cart.check_out)
        .then_raises(el.DomainError)
    )
    assert error
    state: CartState = (
        given(cart_decider)
        .when(AddItem(cart_id="c", sku="pen", quantity=1))
        .then(ItemAdded(sku="pen", quantity=1))
    )
    assert state.count == 1


class PageEvent(el.Event, type_namespace="typing.wiki"):
    user: str


class Page(el.Aggregate[UUID]):
    """An aggregate with a UUID id, a field without a default and a handler every event runs."""

    class Created(PageEvent):
        title: str

    class Renamed(PageEvent):
        title: str

    title: str
    modified_by: str = ""

    @classmethod
    def create(cls, page_id: UUID, title: str, user: str) -> Page:
        page = cls.new(page_id)
        page.record(Page.Created(title=title, user=user))
        return page

    def rename(self, title: str, user: str) -> None:
        self.record(Page.Renamed(title=title, user=user))

    @el.applies
    def _modified(self, event: Page.Created | Page.Renamed) -> None:
        self.modified_by = event.user

    @el.applies
    def _titled(self, event: Page.Created | Page.Renamed) -> None:
        self.title = event.title


async def rename_page(store: el.EventStore, page_id: UUID, title: str) -> str:
    pages: el.Repository[Page, UUID] = el.Repository(store, Page, snapshot_every=10)
    await pages.save(Page.create(page_id, "Home", "ada"))
    page = await pages.update(page_id, lambda page: page.rename(title, "bo"), expected_version=1)
    typed_id: UUID = page.id
    stream_id: str = page.stream_id

    async def rename_again(work: UnitOfWork) -> str:
        held = await work.load(pages, typed_id)
        held.rename(title.upper(), "cy")
        return held.title

    renamed: str = await UnitOfWork.run(store, rename_again)
    scenario = given(Page, Page.Created(title="a", user="u"), aggregate_id=stream_id)
    renamed_page = scenario.when(lambda page: page.rename("b", "v")).then(Page.Renamed(title="b", user="v"))
    return stream_id + renamed + renamed_page.modified_by
