"""The order API as given / when / then scenarios (``eventledger.http.testing.api_scenario``).

Each scenario starts the real service (its lifespan: store, read models, projection runner)
on a fresh SQLite store, appends the given events to that store, sends one request and checks
the answer and the events it appended.
"""

from __future__ import annotations

from decimal import Decimal

from examples.orders.events import OrderCancelled, OrderConfirmed, OrderCreated, OrderItem
from examples.orders.service import create_app
from examples.orders.settings import DemoSettings

from eventledger.http.testing import ApiScenario, api_scenario

BOOK = OrderItem(sku="book", quantity=1, unit_price=Decimal("9.50"))
CREATED = OrderCreated(order_id="order-1", items=[BOOK])


def orders(settings: DemoSettings) -> ApiScenario:
    app = create_app(settings)
    return api_scenario(app, store=lambda: app.state.service.store)


async def test_a_pending_order_confirmed_at_its_version_answers_the_next_etag(settings: DemoSettings) -> None:
    await (
        orders(settings)
        .given("order-1", CREATED)
        .when(lambda client: client.post("/api/orders/order-1/confirm", headers={"If-Match": 'W/"1"'}))
        .then(
            200,
            headers={"ETag": 'W/"2"'},
            body={"order_id": "order-1", "version": 2, "status": "confirmed", "position": 2},
            events={"order-1": [OrderConfirmed(order_id="order-1")]},
        )
    )


async def test_a_cancellation_on_a_stale_version_is_a_412_recording_nothing(settings: DemoSettings) -> None:
    await (
        orders(settings)
        .given("order-1", CREATED, OrderConfirmed(order_id="order-1"))
        .when(lambda client: client.post("/api/orders/order-1/cancel", headers={"If-Match": 'W/"1"'}))
        .then_problem(
            412, code="precondition-failed", stream_id="order-1", expected_version=1, actual_version=2
        )
    )


async def test_a_cancelled_order_cannot_be_confirmed(settings: DemoSettings) -> None:
    await (
        orders(settings)
        .given("order-1", CREATED, OrderCancelled(order_id="order-1", reason="changed my mind"))
        .when(lambda client: client.post("/api/orders/order-1/confirm"))
        .then_problem(422, code="rule-violated", detail="Cannot confirm order 'order-1': it is cancelled")
    )
