"""The service's queries: answered from read models that projections build, never from the store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from demo_service import create
from examples.orders.settings import DemoSettings, sqlite_path
from fastapi.testclient import TestClient


def test_the_order_list_shows_each_order_after_its_events_are_projected(client: TestClient) -> None:
    create(client, "order-1", ("book", 2, "12.50"), ("pen", 3, "1.20"))
    confirmed = client.post("/api/orders/order-1/confirm").json()
    create(client, "order-2")

    position = confirmed["position"] + 1
    response = client.get(f"/api/orders?min_position={position}")

    assert response.status_code == 200
    orders = {order["order_id"]: order for order in response.json()["orders"]}
    assert orders["order-1"]["status"] == "confirmed"
    assert orders["order-1"]["total"] == "28.60"
    assert orders["order-1"]["version"] == 2
    assert orders["order-1"]["confirmed_at"] is not None
    assert orders["order-2"]["status"] == "pending"
    assert response.json()["total_count"] == 2


def test_the_list_can_be_filtered_by_status(client: TestClient) -> None:
    create(client, "order-1")
    create(client, "order-2")
    cancelled = client.post("/api/orders/order-2/cancel").json()

    response = client.get(f"/api/orders?status=cancelled&min_position={cancelled['position']}")

    assert [order["order_id"] for order in response.json()["orders"]] == ["order-2"]


def test_an_orders_history_lists_its_events_with_version_position_and_time(client: TestClient) -> None:
    create(client, "order-1")
    create(client, "order-2")
    confirmed = client.post("/api/orders/order-1/confirm").json()

    response = client.get(f"/api/orders/order-1/events?min_position={confirmed['position']}")

    assert response.status_code == 200
    events = response.json()["events"]
    assert [(event["type"], event["version"], event["position"]) for event in events] == [
        ("OrderCreated", 1, 1),
        ("OrderConfirmed", 2, 3),
    ]
    assert all(event["recorded_at"] for event in events)
    assert events[0]["data"]["items"] == [{"sku": "book", "quantity": 1, "unit_price": "10.00"}]


def test_an_order_the_read_model_does_not_know_is_a_404(client: TestClient) -> None:
    assert client.get("/api/orders/order-404").status_code == 404
    assert client.get("/api/orders/order-404/events").status_code == 404


def test_queries_read_the_read_model_not_the_event_store(client: TestClient, settings: DemoSettings) -> None:
    # A row only the read model has (no event in the store says so) is what the API answers.
    created = create(client, "order-1")
    assert client.get(f"/api/orders/order-1?min_position={created['position']}").status_code == 200
    read_model = sqlite_path(settings.read_model)
    with sqlite3.connect(read_model) as database:
        database.execute("UPDATE order_list_v2_b1 SET status = 'confirmed' WHERE order_id = 'order-1'")

    response = client.get("/api/orders/order-1")

    assert response.json()["status"] == "confirmed"


def test_the_read_models_live_beside_the_store_file(settings: DemoSettings, tmp_path: Path) -> None:
    assert sqlite_path(settings.read_model) == tmp_path / "orders-read.db"


def test_projection_status_reports_checkpoint_and_lag(client: TestClient) -> None:
    created = create(client, "order-1")
    client.get(f"/api/orders?min_position={created['position']}")

    response = client.get("/api/projections")

    assert response.status_code == 200
    body = response.json()
    assert body["head_position"] == 1
    by_name = {projection["name"]: projection for projection in body["projections"]}
    assert set(by_name) == {"order-list", "order-history"}
    for projection in by_name.values():
        assert projection["checkpoint"] == 1
        assert projection["lag_events"] == 0
        assert projection["lag_seconds"] == 0
        assert projection["state"] == "live"


def test_an_order_answers_the_etag_of_the_version_it_shows_and_a_change_can_send_it_back(
    client: TestClient,
) -> None:
    created = create(client, "order-1")

    shown = client.get(f"/api/orders/order-1?min_position={created['position']}")
    changed = client.post("/api/orders/order-1/confirm", headers={"If-Match": shown.headers["ETag"]})
    stale = client.post("/api/orders/order-1/cancel", headers={"If-Match": shown.headers["ETag"]})

    assert shown.headers["ETag"] == 'W/"1"'
    assert changed.status_code == 200
    assert stale.status_code == 412
