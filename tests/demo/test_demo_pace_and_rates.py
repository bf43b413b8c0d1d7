"""A simulation can be watched (it is paced), and the projections panel rates over 10 s and a minute
and plots the lag of the last two minutes from samples the service takes once a second."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from test_demo_operations import wait_for_simulation

from eventledger.console.history import ProjectionHistory


def test_a_paced_simulation_places_order_n_no_earlier_than_n_over_the_rate(client: TestClient) -> None:
    started = client.post("/api/simulations", json={"orders": 9, "concurrency": 4, "rate": 20})
    assert started.status_code == 202
    assert started.json()["simulation"]["rate"] == 20

    progress = wait_for_simulation(client)

    assert progress["orders_done"] == 9
    assert float(str(progress["seconds"])) >= 8 / 20  # the ninth order (n = 8) waited for its turn


def test_a_simulation_without_a_rate_goes_as_fast_as_its_clients(client: TestClient) -> None:
    started = client.post("/api/simulations", json={"orders": 5, "rate": None})

    assert started.json()["simulation"]["rate"] is None
    assert wait_for_simulation(client)["orders_done"] == 5


def test_the_simulation_defaults_last_long_enough_to_watch() -> None:
    from examples.orders.http_models import SimulationRequest

    defaults = SimulationRequest()

    assert defaults.rate is not None
    assert defaults.orders / defaults.rate == 15.0  # seconds, unless the service cannot keep up


def test_the_last_minutes_rate_and_the_last_ten_seconds_rate_differ_after_a_burst() -> None:
    history = ProjectionHistory()
    for second in range(61):  # a burst of 600 events in the first ten seconds, then quiet
        history.record("order-list", at=float(second), checkpoint=min(second, 10) * 60, lag_events=0)

    assert history.rate("order-list", window=10.0, now=60.0) == 0.0
    assert history.rate("order-list", window=60.0, now=60.0) == 10.0


def test_a_rate_needs_two_samples_and_history_older_than_two_minutes_is_forgotten() -> None:
    history = ProjectionHistory()
    history.record("order-list", at=0.0, checkpoint=0, lag_events=5)
    assert history.rate("order-list", window=10.0, now=0.0) is None

    history.record("order-list", at=200.0, checkpoint=100, lag_events=0)

    assert history.as_json("order-list", now=200.0)["lag_history"] == [{"seconds_ago": 0.0, "lag_events": 0}]


def test_the_panel_answers_both_rates_and_the_lag_series(client: TestClient) -> None:
    def sampled() -> dict[str, Any] | None:
        projection: dict[str, Any] = client.get("/api/projections").json()["projections"][0]
        return projection if len(projection["lag_history"]) >= 2 else None

    deadline = time.monotonic() + 30
    while (projection := sampled()) is None:
        assert time.monotonic() < deadline, "the service took no two samples within 30 s"
        time.sleep(0.2)

    assert set(projection["events_per_second_window"]) == {"10s", "1m"}
    assert projection["events_per_second_window"]["1m"] == 0.0
    assert all(set(point) == {"seconds_ago", "lag_events"} for point in projection["lag_history"])
