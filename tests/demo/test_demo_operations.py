"""Operating the demo: its /metrics endpoint, simulated load, and PostgreSQL by URL alone."""

from __future__ import annotations

import time

import pytest
from demo_service import create
from examples.orders.service import create_app
from examples.orders.settings import DemoSettings
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_appends_conflicts_and_projection_lag(client: TestClient) -> None:
    create(client, "order-1")
    client.post(
        "/api/orders", json={"order_id": "order-1", "items": [{"sku": "a", "quantity": 1, "unit_price": "1"}]}
    )
    confirmed = client.post("/api/orders/order-1/confirm").json()
    client.get(f"/api/orders?min_position={confirmed['position']}")

    scraped = samples(client)

    store = (("store", "sqlite"),)
    assert scraped[("eventledger_events_appended_total", store)] == 2
    assert scraped[("eventledger_concurrency_conflicts_total", store)] == 1
    assert scraped[("eventledger_append_duration_seconds_count", store)] == 3
    for name in ("order-list", "order-history"):
        labels = (("projection", name),)
        assert scraped[("eventledger_projection_events_processed_total", labels)] == 2
        assert scraped[("eventledger_projection_checkpoint_position", labels)] == 2
        assert scraped[("eventledger_projection_lag_events", labels)] == 0
        assert scraped[("eventledger_projection_lag_seconds", labels)] == 0


def wait_for_simulation(client: TestClient, timeout: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress: dict[str, object] = client.get("/api/simulations/current").json()["simulation"]
        if not progress["running"]:
            return progress
        time.sleep(0.05)
    raise AssertionError("the simulation did not finish")


def test_a_simulation_places_every_order_and_the_read_model_catches_up(client: TestClient) -> None:
    started = client.post("/api/simulations", json={"orders": 60, "concurrency": 8})
    assert started.status_code == 202

    progress = wait_for_simulation(client)
    head = client.get("/api/projections").json()["head_position"]
    listed = client.get(f"/api/orders?min_position={head}&limit=1000").json()

    assert progress["orders_done"] == 60
    assert progress["failed"] == 0
    assert listed["total_count"] == 60
    statuses = client.get("/api/projections").json()["projections"]
    assert all(status["checkpoint"] == head and status["lag_events"] == 0 for status in statuses)


def test_a_second_simulation_waits_for_the_first(client: TestClient) -> None:
    client.post("/api/simulations", json={"orders": 2000, "concurrency": 2})

    response = client.post("/api/simulations", json={"orders": 10})

    assert response.status_code == 409
    assert response.json()["code"] == "simulation-running"
    assert response.json()["simulation"]["orders"] == 2000


def test_simulation_sizes_are_bounded(client: TestClient) -> None:
    response = client.post("/api/simulations", json={"orders": 1_000_000})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "orders"


@pytest.mark.postgres
def test_a_postgresql_url_switches_store_and_read_models_with_no_code_change(postgres_url: str) -> None:
    settings = DemoSettings.from_environment({"EVENTLEDGER_URL": postgres_url})

    with TestClient(create_app(settings)) as client:
        create(client, "order-pg")
        confirmed = client.post("/api/orders/order-pg/confirm").json()
        order = client.get(f"/api/orders/order-pg?min_position={confirmed['position']}").json()
        after = confirmed["position"]
        history = client.get(f"/api/orders/order-pg/events?min_position={after}").json()["events"]
        info = client.get("/api/info").json()

    assert order["status"] == "confirmed"
    assert [event["type"] for event in history] == ["OrderCreated", "OrderConfirmed"]
    assert info["store"] == postgres_url
    assert info["read_model"].startswith("postgresql://127.0.0.1:5432/test")
