"""The service's commands: 2xx with the order's ETag when done; 404 / 409 / 412 / 422 as problem
details (RFC 9457) that say why."""

from __future__ import annotations

from demo_service import create, items
from fastapi.testclient import TestClient


def test_creating_an_order_answers_201_with_its_version_and_position(client: TestClient) -> None:
    response = client.post("/api/orders", json={"order_id": "order-1", "items": items(("book", 2, "12.50"))})

    assert response.status_code == 201
    assert response.json() == {"order_id": "order-1", "version": 1, "status": "pending", "position": 1}
    assert response.headers["ETag"] == 'W/"1"'


def test_an_order_without_an_id_gets_one(client: TestClient) -> None:
    response = client.post("/api/orders", json={"items": items(("pen", 1, "1.20"))})

    assert response.status_code == 201
    assert response.json()["order_id"].startswith("order-")


def test_creating_an_order_that_exists_is_a_409(client: TestClient) -> None:
    create(client, "order-1")

    response = client.post("/api/orders", json={"order_id": "order-1", "items": items(("pen", 1, "1.20"))})

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "stream 'order-1' already exists (it is at version 1)",
        "code": "concurrency-conflict",
        "stream_id": "order-1",
        "expected_version": 0,
        "actual_version": 1,
    }


def test_an_invalid_item_is_a_422_naming_the_field(client: TestClient) -> None:
    response = client.post("/api/orders", json={"items": items(("book", 0, "12.50"))})

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid-request"
    assert problem["detail"].startswith("items.0.quantity: ")


def test_an_order_needs_at_least_one_item(client: TestClient) -> None:
    response = client.post("/api/orders", json={"order_id": "order-1", "items": []})

    assert response.status_code == 422
    assert response.json()["detail"].startswith("items: ")


def test_confirming_a_pending_order_moves_it_to_version_2(client: TestClient) -> None:
    create(client, "order-1")

    response = client.post("/api/orders/order-1/confirm")

    assert response.status_code == 200
    assert response.json() == {"order_id": "order-1", "version": 2, "status": "confirmed", "position": 2}
    assert response.headers["ETag"] == 'W/"2"'


def test_confirming_twice_is_a_422_from_the_business_rule(client: TestClient) -> None:
    create(client, "order-1")
    client.post("/api/orders/order-1/confirm")

    response = client.post("/api/orders/order-1/confirm")

    assert response.status_code == 422
    problem = response.json()
    assert (problem["code"], problem["detail"]) == (
        "rule-violated",
        "Cannot confirm order 'order-1': it is confirmed",
    )


def test_a_command_with_the_etag_of_the_current_version_succeeds(client: TestClient) -> None:
    created = client.post("/api/orders", json={"order_id": "order-1", "items": items(("pen", 1, "1.20"))})

    response = client.post("/api/orders/order-1/confirm", headers={"If-Match": created.headers["ETag"]})

    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"2"'


def test_a_command_with_a_stale_if_match_is_a_412_naming_both_versions(client: TestClient) -> None:
    create(client, "order-1")
    client.post("/api/orders/order-1/confirm", headers={"If-Match": 'W/"1"'})

    response = client.post(
        "/api/orders/order-1/cancel", headers={"If-Match": 'W/"1"'}, json={"reason": "late"}
    )

    assert response.status_code == 412
    problem = response.json()
    assert problem["code"] == "precondition-failed"
    assert (problem["stream_id"], problem["expected_version"], problem["actual_version"]) == ("order-1", 1, 2)
    assert problem["detail"].startswith("stream 'order-1' is at version 2, not version 1 as expected")


def test_a_command_on_a_stale_expected_version_in_the_body_is_a_409(client: TestClient) -> None:
    create(client, "order-1")
    client.post("/api/orders/order-1/confirm", json={"expected_version": 1})

    response = client.post("/api/orders/order-1/cancel", json={"expected_version": 1, "reason": "late"})

    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "concurrency-conflict"
    assert (problem["expected_version"], problem["actual_version"]) == (1, 2)


def test_a_stale_command_writes_nothing(client: TestClient) -> None:
    create(client, "order-1")
    client.post("/api/orders/order-1/confirm")

    client.post("/api/orders/order-1/cancel", headers={"If-Match": 'W/"1"'})

    events = client.get("/api/orders/order-1/events", params={"min_position": 2}).json()["events"]
    assert [event["version"] for event in events] == [1, 2]


def test_if_match_and_a_body_version_that_disagree_are_a_400(client: TestClient) -> None:
    create(client, "order-1")

    response = client.post(
        "/api/orders/order-1/confirm", headers={"If-Match": 'W/"1"'}, json={"expected_version": 2}
    )

    assert response.status_code == 400
    assert "If-Match expects version 1, the body version 2" in response.json()["detail"]


def test_a_bad_if_match_is_a_400_naming_it(client: TestClient) -> None:
    create(client, "order-1")

    response = client.post("/api/orders/order-1/confirm", headers={"If-Match": "1"})

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["value"]) == ("invalid-precondition", "1")


def test_a_command_on_an_unknown_order_is_a_404(client: TestClient) -> None:
    response = client.post("/api/orders/order-404/confirm")

    assert response.status_code == 404
    problem = response.json()
    assert (problem["code"], problem["stream_id"]) == ("not-found", "order-404")
    assert problem["detail"] == "Order 'order-404' not found: its stream has no events"


def test_cancelling_a_confirmed_order_is_a_compensating_event(client: TestClient) -> None:
    create(client, "order-1")
    client.post("/api/orders/order-1/confirm")

    response = client.post("/api/orders/order-1/cancel", json={"reason": "changed my mind"})
    again = client.post("/api/orders/order-1/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["version"] == 3
    assert again.status_code == 422
