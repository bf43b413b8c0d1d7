"""A projection that fails is shown failed, with its error and position, by the service and the CLI.

The commands no longer accept an order the read model cannot hold, but a store can hold one
from before the limits (here appended straight to the store, as an older release would have
let it through). The order list then fails at it, and says so everywhere; an operator skips it
through the API and the list goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from demo_service import create
from examples.orders.events import OrderCreated, OrderItem
from examples.orders.service import OrderService
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import eventledger as el
from eventledger.cli import app

POISON = OrderCreated(
    order_id="order-poison",
    items=[OrderItem(sku="book", quantity=99999999999999999999999999999999, unit_price=Decimal("1"))],
)


def poison(client: TestClient) -> int:
    """Append the order straight to the service's store; its position."""
    service: OrderService = client.app.state.service  # type: ignore[attr-defined]

    async def append() -> int:
        result = await service.store.append("order-poison", [POISON], expected_version=el.NO_STREAM)
        return result.positions[-1]

    return client.portal.call(append)  # type: ignore[union-attr]


def until(condition: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:.0f} s")
        time.sleep(0.05)


def order_list_status(client: TestClient) -> dict[str, Any]:
    statuses = client.get("/api/projections").json()["projections"]
    return next(status for status in statuses if status["name"] == "order-list")


def failed_status(client: TestClient) -> dict[str, Any]:
    def failed() -> dict[str, Any] | None:
        status = order_list_status(client)
        return status if status["state"] == "failed" else None

    result: dict[str, Any] = until(failed, "order-list to fail")
    return result


def test_the_service_shows_the_failed_projection_with_its_error_and_position(client: TestClient) -> None:
    create(client, "order-1")
    position = poison(client)

    status = failed_status(client)

    failure = status["failure"]
    assert (failure["position"], failure["event_type"], failure["stream_id"]) == (
        position,
        "OrderCreated",
        "order-poison",
    )
    assert "OverflowError" in failure["error"]
    assert status["checkpoint"] == position - 1


def test_the_cli_shows_the_failed_projection_as_the_service_does(
    client: TestClient, settings: Any, tmp_path: Path
) -> None:
    create(client, "order-1")
    position = poison(client)
    status = failed_status(client)

    def shown() -> str | None:
        result = CliRunner().invoke(
            app,
            ["projections", "--app", "examples.orders.service:projections"],
            env={"EVENTLEDGER_URL": settings.store_url, "ORDERS_READ_MODEL": "", "COLUMNS": "250"},
        )
        assert result.exit_code == 0, result.output
        return result.stdout if " failed " in result.stdout else None

    output: str = until(shown, "the CLI to show order-list failed")
    row = next(line.split() for line in output.splitlines() if line.strip().startswith("order-list"))
    assert row[:4] == ["order-list", "v2", "failed", str(position - 1)]
    assert (
        f"order-list failed at position {position} (OrderCreated in order-poison) after "
        f"{status['failure']['attempts']} attempts"
    ) in output
    assert "OverflowError" in output


def test_skipping_the_failed_event_through_the_api_lets_the_list_go_on(client: TestClient) -> None:
    position = poison(client)
    failed_status(client)

    skipped = client.post("/api/projections/order-list/skip")
    later = create(client, "order-after")

    assert skipped.status_code == 200
    assert skipped.json()["skipped"]["position"] == position
    assert client.get(f"/api/orders/order-after?min_position={later['position']}").status_code == 200
    assert order_list_status(client)["state"] == "live"


def test_retrying_or_skipping_a_projection_that_has_not_failed_is_a_409(client: TestClient) -> None:
    response = client.post("/api/projections/order-list/retry")

    assert response.status_code == 409
    assert response.json()["code"] == "projection-not-failed"
    unknown = client.post("/api/projections/no-such/skip")
    assert (unknown.status_code, unknown.json()["projection"]) == (404, "no-such")




def test_the_cli_skips_the_failed_event_and_the_services_runner_carries_it_out(
    client: TestClient, settings: Any
) -> None:
    position = poison(client)
    failed_status(client)

    result = CliRunner().invoke(
        app,
        ["projections", "skip", "order-list", "--app", "examples.orders.service:projections", "--yes"],
        env={"EVENTLEDGER_URL": settings.store_url, "ORDERS_READ_MODEL": "", "COLUMNS": "250"},
    )

    assert result.exit_code == 0, result.output
    assert f"skipping position {position} (OrderCreated in order-poison)" in result.stdout
    until(lambda: order_list_status(client)["state"] == "live", "order-list live again")
