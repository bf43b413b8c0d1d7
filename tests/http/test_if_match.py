"""``If-Match`` through a command: the version the client saw is checked once; stale is 412.

Every test drives the real cart API (``cart_api.py``) on a real store, SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio

import httpx
from cart_api import CartOpened, ItemAdded, create_app

from eventledger.http.testing import Request, api_scenario, running

OPENED = CartOpened(cart_id="cart-1")
BOOK = {"sku": "book", "quantity": 1}


def add_book(if_match: str | None = None) -> Request:
    """A request adding a book to cart-1, with ``If-Match`` when given one."""
    headers = {} if if_match is None else {"If-Match": if_match}
    return lambda client: client.post("/carts/cart-1/items", json=BOOK, headers=headers)


async def test_a_change_at_the_current_version_succeeds_and_answers_the_new_etag(store_url: str) -> None:
    app = create_app(store_url)

    await (
        api_scenario(app, store=lambda: app.state.store)
        .given("cart-1", OPENED)
        .when(add_book('W/"1"'))
        .then(
            200,
            headers={"ETag": 'W/"2"'},
            body={"cart_id": "cart-1", "version": 2},
            events={"cart-1": [ItemAdded(cart_id="cart-1", sku="book", quantity=1)]},
        )
    )


async def test_a_strong_tag_of_the_current_version_is_accepted_too(store_url: str) -> None:
    app = create_app(store_url)

    await (
        api_scenario(app, store=lambda: app.state.store)
        .given("cart-1", OPENED)
        .when(add_book('"1"'))
        .then(200, headers={"ETag": 'W/"2"'})
    )


async def test_a_change_at_a_stale_version_is_a_412_naming_both_versions(store_url: str) -> None:
    app = create_app(store_url)

    await (
        api_scenario(app, store=lambda: app.state.store)
        .given("cart-1", OPENED, ItemAdded(cart_id="cart-1", sku="pen", quantity=2))
        .when(add_book('W/"1"'))
        .then_problem(
            412,
            code="precondition-failed",
            title="Precondition Failed",
            type="about:blank",
            stream_id="cart-1",
            expected_version=1,
            actual_version=2,
            detail=(
                "stream 'cart-1' is at version 2, not version 1 as expected; read it again and decide anew"
            ),
        )
    )


async def test_a_change_ahead_of_the_stream_is_a_412_too(store_url: str) -> None:
    app = create_app(store_url)

    await (
        api_scenario(app, store=lambda: app.state.store)
        .given("cart-1", OPENED)
        .when(add_book('W/"5"'))
        .then_problem(412, expected_version=5, actual_version=1)
    )


async def test_if_match_star_on_an_existing_cart_changes_it(store_url: str) -> None:
    app = create_app(store_url)

    await (
        api_scenario(app, store=lambda: app.state.store)
        .given("cart-1", OPENED)
        .when(add_book("*"))
        .then(200, headers={"ETag": 'W/"2"'})
    )


async def test_if_match_star_on_a_missing_cart_is_a_412(store_url: str) -> None:
    app = create_app(store_url)

    response = await (
        api_scenario(app, store=lambda: app.state.store)
        .when(add_book("*"))
        .then_problem(412, stream_id="cart-1", actual_version=0, detail="stream 'cart-1' does not exist")
    )

    assert "expected_version" not in response.json()


async def test_a_bad_if_match_is_a_400_naming_the_value_and_writes_nothing(store_url: str) -> None:
    app = create_app(store_url)

    await (
        api_scenario(app, store=lambda: app.state.store)
        .given("cart-1", OPENED)
        .when(add_book("version-1"))
        .then_problem(
            400,
            code="invalid-precondition",
            header="If-Match",
            value="version-1",
            detail="If-Match 'version-1': not an entity tag; send the ETag as it was given, e.g. W/\"3\"",
        )
    )


async def test_without_if_match_the_change_applies_to_whatever_version_is_current(store_url: str) -> None:
    app = create_app(store_url)

    await (
        api_scenario(app, store=lambda: app.state.store)
        .given("cart-1", OPENED, ItemAdded(cart_id="cart-1", sku="pen", quantity=2))
        .when(add_book())
        .then(200, headers={"ETag": 'W/"3"'})
    )


async def test_a_read_answers_the_etag_a_change_can_send_back(store_url: str) -> None:
    app = create_app(store_url)

    async def read_then_change(client: httpx.AsyncClient) -> httpx.Response:
        read = await client.get("/carts/cart-1")
        return await client.post("/carts/cart-1/items", json=BOOK, headers={"If-Match": read.headers["ETag"]})

    await (
        api_scenario(app, store=lambda: app.state.store)
        .given("cart-1", OPENED)
        .when(read_then_change)
        .then(200, headers={"ETag": 'W/"2"'})
    )


async def test_of_concurrent_changes_sent_with_the_same_etag_exactly_one_succeeds(store_url: str) -> None:
    """Eight clients saw version 1 and change at once (real concurrent connections on
    PostgreSQL): one wins, the others are told 412, and the stream holds one change."""
    app = create_app(store_url)
    async with running(app):
        store = app.state.store
        await store.append("cart-1", [OPENED], expected_version=0)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/carts/cart-1/items",
                        json={"sku": f"sku-{n}", "quantity": 1},
                        headers={"If-Match": 'W/"1"'},
                    )
                    for n in range(8)
                )
            )
        versions = [recorded.version async for recorded in store.read_stream("cart-1")]
    assert sorted(response.status_code for response in responses) == [200] + [412] * 7
    assert versions == [1, 2]
    for response in responses:
        if response.status_code == 412:
            assert response.json()["expected_version"] == 1
            assert response.json()["actual_version"] == 2
