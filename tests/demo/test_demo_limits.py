"""The order commands' limits: what they accept, every read model holds (SQLite and PostgreSQL).

An order has 1 to 100 items; a quantity is 1 to 1,000,000 and a unit price 0 to 1,000,000.00
with at most two decimal places. Beyond that the service answers 422 as a problem; at
the limits the order is listed exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from demo_service import items
from examples.orders.domain import MAX_LINES, MAX_QUANTITY, MAX_UNIT_PRICE
from examples.orders.service import create_app
from examples.orders.settings import DemoSettings
from fastapi.testclient import TestClient

LARGEST = items(*[(f"sku-{number}", MAX_QUANTITY, str(MAX_UNIT_PRICE)) for number in range(MAX_LINES)])
"""The largest order the commands accept: every line at the highest quantity and price."""


def place(client: TestClient, *lines: dict[str, Any]) -> Any:
    return client.post("/api/orders", json={"items": list(lines)})


@pytest.mark.parametrize(
    ("quantity", "unit_price"),
    [(MAX_QUANTITY, "12.50"), (1, str(MAX_UNIT_PRICE)), (1, "0"), (1, "0.01"), (1, "12.500")],
)
def test_quantities_and_prices_within_the_limits_are_accepted(
    client: TestClient, quantity: int, unit_price: str
) -> None:
    response = place(client, {"sku": "book", "quantity": quantity, "unit_price": unit_price})

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("quantity", "unit_price", "problem"),
    [
        (MAX_QUANTITY + 1, "12.50", "item 1: quantity 1000001 is above the limit of 1000000"),
        (
            99999999999999999999999999999999,
            "12.50",
            "item 1: quantity 99999999999999999999999999999999 is above the limit of 1000000",
        ),
        (1, "1000000.01", "item 1: unit price 1000000.01 is above the limit of 1000000.00"),
        (1, "0.001", "item 1: unit price 0.001 has more than two decimal places"),
    ],
)
def test_quantities_and_prices_beyond_the_limits_are_a_422_saying_which(
    client: TestClient, quantity: int, unit_price: str, problem: str
) -> None:
    response = place(client, {"sku": "book", "quantity": quantity, "unit_price": unit_price})

    assert response.status_code == 422
    answer = response.json()
    assert answer["code"] == "invalid-request"
    assert answer["detail"] == f"items: {problem}"
    assert answer["errors"] == [{"in": "body", "field": "items", "problem": problem}]


def test_the_limit_is_checked_on_every_item_not_only_the_first(client: TestClient) -> None:
    ok = {"sku": "book", "quantity": 1, "unit_price": "1.00"}
    response = place(client, ok, {**ok, "quantity": MAX_QUANTITY + 1})

    assert response.status_code == 422
    assert "item 2: quantity" in response.json()["detail"]


def test_an_order_has_at_most_100_items(client: TestClient) -> None:
    line = {"sku": "book", "quantity": 1, "unit_price": "1.00"}

    assert place(client, *[line] * MAX_LINES).status_code == 201
    assert place(client, *[line] * (MAX_LINES + 1)).status_code == 422


def assert_listed_exactly(client: TestClient) -> None:
    created = client.post("/api/orders", json={"order_id": "order-max", "items": LARGEST})
    assert created.status_code == 201, created.text
    position = created.json()["position"]

    order = client.get(f"/api/orders/order-max?min_position={position}")

    assert order.status_code == 200, order.text
    assert order.json()["item_count"] == MAX_LINES * MAX_QUANTITY
    assert Decimal(order.json()["total"]) == MAX_LINES * MAX_QUANTITY * MAX_UNIT_PRICE


def test_the_largest_accepted_order_is_listed_exactly_on_sqlite(client: TestClient) -> None:
    assert_listed_exactly(client)


@pytest.mark.postgres
def test_the_largest_accepted_order_is_listed_exactly_on_postgresql(postgres_url: str) -> None:
    with TestClient(create_app(DemoSettings(store_url=postgres_url))) as client:
        assert_listed_exactly(client)
