"""The library's errors answer as RFC 9457 problem details, one status per kind of error.

Each test drives the real cart API (``cart_api.py``) on a real SQLite store; the mapping does
not depend on the backend (``test_if_match.py`` runs the conflicts on PostgreSQL too).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from cart_api import CartConfirmed, CartOpened, ItemAdded, create_app
from fastapi import FastAPI, HTTPException

import eventledger as el
from eventledger.http import PROBLEM_JSON, install_problem_handlers, problem_response
from eventledger.http.testing import ApiScenario, api_scenario, running

OPENED = CartOpened(cart_id="cart-1")
PEN = ItemAdded(cart_id="cart-1", sku="pen", quantity=2)


async def send(app: FastAPI, *requests: tuple[str, str]) -> list[httpx.Response]:
    """Send ``(method, path)`` requests to ``app`` in process, its lifespan running."""
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return [await client.request(method, path) for method, path in requests]


def scenario(url: str) -> ApiScenario:
    app = create_app(url)
    return api_scenario(app, store=lambda: app.state.store)


async def test_a_problem_has_the_standard_members_and_its_media_type(sqlite_url: str) -> None:
    response = await scenario(sqlite_url).when(lambda client: client.get("/carts/cart-9")).then_problem(404)

    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "cart 'cart-9' not found: its stream has no events",
        "code": "not-found",
        "stream_id": "cart-9",
    }


async def test_creating_what_exists_without_if_match_is_a_409(sqlite_url: str) -> None:
    await (
        scenario(sqlite_url)
        .given("cart-1", OPENED)
        .when(lambda client: client.post("/carts/cart-1"))
        .then_problem(
            409,
            code="concurrency-conflict",
            title="Conflict",
            stream_id="cart-1",
            expected_version=0,
            actual_version=1,
            detail="stream 'cart-1' already exists (it is at version 1)",
        )
    )


async def test_a_broken_business_rule_is_a_422_with_the_rules_message(sqlite_url: str) -> None:
    await (
        scenario(sqlite_url)
        .given("cart-1", OPENED, PEN, CartConfirmed(cart_id="cart-1"))
        .when(lambda client: client.post("/carts/cart-1/items", json={"sku": "book", "quantity": 1}))
        .then_problem(
            422,
            code="rule-violated",
            title="Unprocessable Content",
            detail="cart 'cart-1' is confirmed; it takes no changes",
        )
    )


async def test_an_invalid_argument_to_the_library_is_a_400_naming_the_stream(sqlite_url: str) -> None:
    long_id = "c" * 501

    response = await (
        scenario(sqlite_url)
        .when(lambda client: client.post(f"/carts/{long_id}"))
        .then_problem(400, code="invalid-argument", title="Bad Request", stream_id=long_id)
    )

    assert "501 characters; the limit is 500" in response.json()["detail"]


@contextmanager
def write_locked(url: str) -> Iterator[None]:
    """Another connection holding the SQLite file's write lock."""
    connection = sqlite3.connect(url.removeprefix("sqlite:///").split("?")[0], isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


async def test_an_unavailable_store_is_a_503_with_retry_after_and_no_cause(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{sqlite_url}?lock_timeout=0.2"
    app = create_app(url, retry_after_seconds=7)

    async def add_while_locked(client: httpx.AsyncClient) -> httpx.Response:
        with write_locked(url):
            return await client.post("/carts/cart-1/items", json={"sku": "book", "quantity": 1})

    response = await (
        api_scenario(app, store=lambda: app.state.store)
        .given("cart-1", OPENED)
        .when(add_while_locked)
        .then_problem(
            503,
            code="store-unavailable",
            title="Service Unavailable",
            detail="the event store is unavailable; retry later",
        )
    )

    assert response.headers["Retry-After"] == "7"
    assert "carts.db" not in response.text
    assert "the event store is unavailable" in caplog.text


async def test_a_body_that_does_not_fit_is_a_422_listing_each_field(sqlite_url: str) -> None:
    response = await (
        scenario(sqlite_url)
        .given("cart-1", OPENED)
        .when(lambda client: client.post("/carts/cart-1/items", json={"sku": "", "quantity": 0, "colour": 1}))
        .then_problem(422, code="invalid-request", title="Unprocessable Content")
    )

    problem = response.json()
    assert problem["errors"] == [
        {"in": "body", "field": "sku", "problem": "String should have at least 1 character"},
        {"in": "body", "field": "quantity", "problem": "Input should be greater than or equal to 1"},
        {"in": "body", "field": "colour", "problem": "Extra inputs are not permitted"},
    ]
    assert problem["detail"] == (
        "sku: String should have at least 1 character; quantity: Input should be greater than or equal to 1; "
        "colour: Extra inputs are not permitted"
    )


async def test_a_request_without_its_body_is_a_422_naming_the_body(sqlite_url: str) -> None:
    response = await (
        scenario(sqlite_url)
        .when(lambda client: client.post("/carts/cart-1/items"))
        .then_problem(422, code="invalid-request", detail="body: Field required")
    )

    assert response.json()["errors"] == [{"in": "body", "field": "", "problem": "Field required"}]


async def test_a_body_that_is_not_json_is_a_400_saying_where_it_broke(sqlite_url: str) -> None:
    async def send_broken_json(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(
            "/carts/cart-1/items", content=b'{"sku": ', headers={"Content-Type": "application/json"}
        )

    response = await (
        scenario(sqlite_url)
        .when(send_broken_json)
        .then_problem(400, code="invalid-request", title="Bad Request")
    )

    assert response.json()["errors"] == [
        {"in": "body", "field": "", "problem": "JSON decode error at character 8"}
    ]


async def test_an_unknown_route_is_a_404_problem_naming_the_path(sqlite_url: str) -> None:
    await (
        scenario(sqlite_url)
        .when(lambda client: client.get("/nowhere"))
        .then_problem(404, code="http-error", detail="nothing at /nowhere")
    )


async def test_a_wrong_method_is_a_405_problem_keeping_allow(sqlite_url: str) -> None:
    response = await (
        scenario(sqlite_url)
        .when(lambda client: client.delete("/carts/cart-1/confirm"))
        .then_problem(405, code="http-error", detail="DELETE is not allowed on /carts/cart-1/confirm")
    )

    assert response.headers["Allow"] == "POST"


async def test_any_other_library_error_is_a_500_that_keeps_its_cause_to_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/broken")
    async def broken() -> None:
        raise el.UnhandledEvent("Cart", "cart-1", "secret.Type", 3)

    async with running(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/broken")

    assert response.status_code == 500
    assert response.json()["code"] == "internal-error"
    assert "secret" not in response.text
    assert "secret.Type" in caplog.text


async def test_an_application_answers_its_own_errors_in_the_same_format() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/simulations")
    async def busy() -> object:
        return problem_response(409, "simulation-running", "a simulation is already running", done=3)

    [response] = await send(app, ("POST", "/simulations"))

    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "a simulation is already running",
        "code": "simulation-running",
        "done": 3,
    }


def test_an_applications_problem_may_bring_its_own_type_and_title() -> None:
    own_type = "https://example.com/probs/out-of-credit"
    response = problem_response(402, "out-of-credit", "30 due, 10 left", type=own_type, title="No credit")

    assert json.loads(bytes(response.body)) == {
        "type": own_type,
        "title": "No credit",
        "status": 402,
        "detail": "30 due, 10 left",
        "code": "out-of-credit",
    }


def test_a_problem_cannot_contradict_its_own_status() -> None:
    with pytest.raises(el.InvalidArgument, match="an extension member cannot be named status"):
        problem_response(409, "busy", "busy", status=200)


async def test_a_conflict_on_several_streams_lists_each() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/transfers")
    async def transfer() -> None:
        raise el.ConcurrencyError("account-1", 3, 4, also=(("account-2", 0, 2),))

    [response] = await send(app, ("POST", "/transfers"))

    assert response.status_code == 409
    problem = response.json()
    first = (problem["stream_id"], problem["expected_version"], problem["actual_version"])
    assert first == ("account-1", 3, 4)
    assert problem["conflicts"] == [
        {"stream_id": "account-1", "expected_version": 3, "actual_version": 4},
        {"stream_id": "account-2", "expected_version": 0, "actual_version": 2},
    ]
    assert problem["detail"] == (
        "stream 'account-1' is at version 4, not version 3 as expected; read it again and decide anew; "
        "stream 'account-2' already exists (it is at version 2)"
    )


async def test_a_routes_http_exception_keeps_its_detail_and_headers_and_a_304_stays_empty() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "short and stout", headers={"X-Pot": "tea"})

    @app.get("/unchanged")
    async def unchanged() -> None:
        raise HTTPException(304, headers={"ETag": 'W/"3"'})

    teapot_response, unchanged_response = await send(app, ("GET", "/teapot"), ("GET", "/unchanged"))

    assert (teapot_response.status_code, teapot_response.headers["X-Pot"]) == (418, "tea")
    assert teapot_response.json()["detail"] == "short and stout"
    assert teapot_response.json()["title"] == "I'm a Teapot"
    assert (unchanged_response.status_code, unchanged_response.content) == (304, b"")
    assert unchanged_response.headers["ETag"] == 'W/"3"'


@pytest.mark.parametrize("seconds", [-1, 1.5, "1"])
def test_retry_after_must_be_whole_seconds(seconds: object) -> None:
    with pytest.raises(el.InvalidArgument, match="retry_after_seconds"):
        install_problem_handlers(FastAPI(), retry_after_seconds=seconds)  # type: ignore[arg-type]

