"""The service's commands: 2xx when done, 404 / 409 / 422 with a JSON error that says why."""

from __future__ import annotations

from demo_service import create, items
from fastapi.testclient import TestClient


def test_creating_an_order_answers_201_with_its_version_and_position(client: TestClient) -> None:
    response = client.post("/api/orders", json={"order_id": "order-1", "items": items(("book", 2, "12.50"))})

    assert response.status_code == 201
    assert response.json() == {"order_id": "order-1", "version": 1, "status": "pending", "position": 1}


def test_an_order_without_an_id_gets_one(client: TestClient) -> None:
    response = client.post("/api/orders", json={"items": items(("pen", 1, "1.20"))})

    assert response.status_code == 201
    assert response.json()["order_id"].startswith("order-")


def test_creating_an_order_that_exists_is_a_409(client: TestClient) -> None:
    create(client, "order-1")

    response = client.post("/api/orders", json={"order_id": "order-1", "items": items(("pen", 1, "1.20"))})

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "conflict",
        "message": "order 'order-1' already exists",
        "order_id": "order-1",
    }


def test_an_invalid_item_is_a_422_naming_the_field(client: TestClient) -> None:
    response = client.post("/api/orders", json={"items": items(("book", 0, "12.50"))})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "items.0.quantity" in error["message"]


def test_an_order_needs_at_least_one_item(client: TestClient) -> None:
    response = client.post("/api/orders", json={"order_id": "order-1", "items": []})

    assert response.status_code == 422
    assert "items" in response.json()["error"]["message"]


def test_confirming_a_pending_order_moves_it_to_version_2(client: TestClient) -> None:
    create(client, "order-1")

    response = client.post("/api/orders/order-1/confirm")

    assert response.status_code == 200
    assert response.json() == {"order_id": "order-1", "version": 2, "status": "confirmed", "position": 2}


def test_confirming_twice_is_a_422_from_the_business_rule(client: TestClient) -> None:
    create(client, "order-1")
    client.post("/api/orders/order-1/confirm")

    response = client.post("/api/orders/order-1/confirm")

    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "rule_violated",
        "message": "Cannot confirm order 'order-1': it is confirmed",
    }


def test_a_command_on_a_stale_version_is_a_409_naming_both_versions(client: TestClient) -> None:
    create(client, "order-1")
    client.post("/api/orders/order-1/confirm", json={"expected_version": 1})

    response = client.post("/api/orders/order-1/cancel", json={"expected_version": 1, "reason": "late"})

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert (error["expected_version"], error["actual_version"]) == ("1", 2)
    assert "expected version 1, it is at version 2" in error["message"]


def test_a_command_on_an_unknown_order_is_a_404(client: TestClient) -> None:
    response = client.post("/api/orders/order-404/confirm")

    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "order 'order-404' not found",
        "order_id": "order-404",
    }


def test_cancelling_a_confirmed_order_is_a_compensating_event(client: TestClient) -> None:
    create(client, "order-1")
    client.post("/api/orders/order-1/confirm")

    response = client.post("/api/orders/order-1/cancel", json={"reason": "changed my mind"})
    again = client.post("/api/orders/order-1/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["version"] == 3
    assert again.status_code == 422
