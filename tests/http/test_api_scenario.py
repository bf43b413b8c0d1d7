"""``api_scenario``: given events in the app's store, when a request, then its answer and new events.

The helper runs the real application in process, its lifespan around each scenario, and says
what differed when a ``then`` does not hold.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from cart_api import CartOpened, ItemAdded, create_app
from fastapi import FastAPI, Request

import eventledger as el
from eventledger.http import install_problem_handlers
from eventledger.http.testing import ApiScenario, api_scenario

OPENED = CartOpened(cart_id="cart-1")
BOOK = ItemAdded(cart_id="cart-1", sku="book", quantity=1)


async def add_book(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/carts/cart-1/items", json={"sku": "book", "quantity": 1})


async def confirm(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/carts/cart-1/confirm")


def cart_scenario(url: str) -> ApiScenario:
    app = create_app(url)
    return api_scenario(app, store=lambda: app.state.store)


async def test_a_scenario_that_holds_returns_the_response(store_url: str) -> None:
    response = await (
        cart_scenario(store_url)
        .given("cart-1", OPENED)
        .when(add_book)
        .then(
            200,
            headers={"etag": 'W/"2"'},
            body={"cart_id": "cart-1", "version": 2},
            events={"cart-1": [BOOK]},
        )
    )

    assert response.json()["version"] == 2


async def test_given_events_of_several_streams_are_in_the_store_before_the_request(sqlite_url: str) -> None:
    await (
        cart_scenario(sqlite_url)
        .given("cart-1", OPENED, BOOK)
        .given("cart-2", CartOpened(cart_id="cart-2"))
        .when(lambda client: client.get("/carts/cart-1"))
        .then(200, headers={"ETag": 'W/"2"'}, body={"items": [["book", 1]], "confirmed": False}, events={})
    )


async def test_another_status_fails_showing_the_answer(sqlite_url: str) -> None:
    scenario = cart_scenario(sqlite_url).given("cart-1", OPENED).when(confirm)

    answer = r"expected status 200, got 422 \(POST /carts/cart-1/confirm answered 422: .*empty"
    with pytest.raises(AssertionError, match=answer):
        await scenario.then(200)


async def test_another_header_value_fails_naming_the_header(sqlite_url: str) -> None:
    scenario = cart_scenario(sqlite_url).given("cart-1", OPENED).when(add_book)

    with pytest.raises(AssertionError, match="expected header ETag: 'W/\"9\"', got 'W/\"2\"'"):
        await scenario.then(200, headers={"ETag": 'W/"9"'})


async def test_another_body_fails_showing_both(sqlite_url: str) -> None:
    scenario = cart_scenario(sqlite_url).given("cart-1", OPENED).when(add_book)

    difference = "expected the body {'version': 9}, got {'cart_id': 'cart-1', 'version': 2}"
    with pytest.raises(AssertionError, match=re.escape(difference)):
        await scenario.then(200, body={"version": 9})


async def test_other_new_events_fail_side_by_side(sqlite_url: str) -> None:
    scenario = cart_scenario(sqlite_url).given("cart-1", OPENED).when(add_book)
    pen = ItemAdded(cart_id="cart-1", sku="pen", quantity=1)

    with pytest.raises(AssertionError, match="stream 'cart-1': the new events differ") as raised:
        await scenario.then(200, events={"cart-1": [pen]})

    assert "<- differs" in str(raised.value)


async def test_new_events_in_a_stream_not_named_fail(sqlite_url: str) -> None:
    scenario = cart_scenario(sqlite_url).given("cart-1", OPENED).when(add_book)

    with pytest.raises(AssertionError, match=r"stream 'cart-1'.*\n.*\n.*<- unexpected"):
        await scenario.then(200, events={})


async def test_a_problem_that_differs_fails_naming_each_member(sqlite_url: str) -> None:
    scenario = cart_scenario(sqlite_url).given("cart-1", OPENED).when(confirm)

    differences = (
        "code: expected 'not-found', got 'rule-violated'\n  stream_id: expected 'cart-1', got '<missing>'"
    )
    with pytest.raises(AssertionError, match=re.escape(differences)):
        await scenario.then_problem(422, code="not-found", stream_id="cart-1")


async def test_a_problem_expected_where_the_answer_is_plain_json_fails(sqlite_url: str) -> None:
    scenario = cart_scenario(sqlite_url).given("cart-1", OPENED).when(add_book)

    wrong = "expected a problem (application/problem+json), got application/json"
    with pytest.raises(AssertionError, match=re.escape(wrong)):
        await scenario.then_problem(200)


async def test_a_problem_after_which_events_were_appended_fails() -> None:
    async with await el.open_store("memory://") as memory:
        app = FastAPI()
        install_problem_handlers(app)

        @app.post("/half")
        async def half_done() -> None:
            await memory.append("cart-1", [OPENED], expected_version=el.NO_STREAM)
            raise el.DomainError("refused after writing")

        scenario = api_scenario(app, store=memory).when(lambda client: client.post("/half"))

        with pytest.raises(AssertionError, match="stream 'cart-1': the new events differ"):
            await scenario.then_problem(422, code="rule-violated")


async def test_a_scenario_without_a_request_is_refused(sqlite_url: str) -> None:
    with pytest.raises(el.InvalidArgument, match="needs a request"):
        await cart_scenario(sqlite_url).given("cart-1", OPENED).then(200)


async def test_the_apps_lifespan_runs_around_each_scenario(sqlite_url: str) -> None:
    app = create_app(sqlite_url)
    scenario = api_scenario(app, store=lambda: app.state.store).when(lambda client: client.get("/nowhere"))

    await scenario.then_problem(404)
    first = app.state.store
    await scenario.then_problem(404)

    assert first.closed and app.state.store.closed
    assert app.state.store is not first


async def test_the_lifespan_state_reaches_the_requests() -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        yield {"greeting": "hello"}

    app = FastAPI(lifespan=lifespan)

    @app.get("/greeting")
    async def greeting(request: Request) -> dict[str, str]:
        return {"greeting": request.state.greeting}

    async with await el.open_store("memory://") as memory:
        await (
            api_scenario(app, store=memory)
            .when(lambda client: client.get("/greeting"))
            .then(200, body={"greeting": "hello"})
        )


async def test_a_failing_startup_raises_the_apps_own_error() -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await el.open_store("nope://")
        yield

    app = FastAPI(lifespan=lifespan)
    async with await el.open_store("memory://") as memory:
        scenario = api_scenario(app, store=memory).when(lambda client: client.get("/"))

        with pytest.raises(el.InvalidArgument, match="unknown scheme 'nope'"):
            await scenario.then(200)
