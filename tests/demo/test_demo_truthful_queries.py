"""The demo's answers tell the truth: a read model that is behind says so (503), list queries are
checked and paged, every error has the documented format, numbers have one JSON type each."""

from __future__ import annotations

import pytest
from demo_service import create
from examples.orders.service import create_app
from examples.orders.settings import DemoSettings
from fastapi.testclient import TestClient
from test_demo_failed_projection import failed_status, poison

PROBLEM = "application/problem+json"


def test_min_position_on_a_failed_read_model_is_a_503_with_retry_after_not_a_404(client: TestClient) -> None:
    position = poison(client)
    failed_status(client)

    response = client.get(f"/api/orders/order-poison?min_position={position}")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert (body["code"], body["projection"]) == ("read-model-behind", "order-list")
    assert body["min_position"] == position
    assert f"the read model 'order-list' has not reached position {position} yet" in body["detail"]


def test_min_position_waits_only_for_the_read_model_serving_the_query(client: TestClient) -> None:
    position = poison(client)
    failed_status(client)  # order-list has stopped; order-history, serving the events, has not

    response = client.get(f"/api/orders/order-poison/events?min_position={position}")

    assert response.status_code == 200, response.text
    assert [event["position"] for event in response.json()["events"]] == [position]


def test_an_unknown_route_and_a_wrong_method_answer_problem_details(client: TestClient) -> None:
    unknown = client.get("/api/nowhere")
    wrong = client.delete("/api/orders")

    assert (unknown.status_code, unknown.headers["content-type"]) == (404, PROBLEM)
    assert (unknown.json()["code"], unknown.json()["detail"]) == ("http-error", "nothing at /api/nowhere")
    assert (wrong.status_code, wrong.headers["content-type"]) == (405, PROBLEM)
    assert wrong.json()["detail"] == "DELETE is not allowed on /api/orders"


def test_an_unknown_status_filter_is_a_400_naming_it(client: TestClient) -> None:
    response = client.get("/api/orders?status=bogus")

    assert (response.status_code, response.headers["content-type"]) == (400, PROBLEM)
    assert response.json()["code"] == "invalid-argument"
    assert response.json()["detail"] == "status 'bogus' is not one of pending, confirmed, cancelled"


def test_a_limit_outside_1_to_1000_or_a_negative_offset_is_a_400(client: TestClient) -> None:
    details = {
        query: client.get(f"/api/orders?{query}").json()["detail"]
        for query in ("limit=-1", "limit=0", "limit=1001", "offset=-1")
    }

    assert details == {
        "limit=-1": "limit -1 is not between 1 and 1000",
        "limit=0": "limit 0 is not between 1 and 1000",
        "limit=1001": "limit 1001 is not between 1 and 1000",
        "offset=-1": "offset -1 is below 0",
    }


def test_a_conflict_answers_both_versions_as_numbers(client: TestClient) -> None:
    create(client, "order-1")

    response = client.post("/api/orders/order-1/confirm", json={"expected_version": 5})

    assert response.status_code == 409
    body = response.json()
    assert (body["expected_version"], body["actual_version"]) == (5, 1)
    assert type(body["expected_version"]) is int


def test_totals_are_strings_with_two_decimals(client: TestClient) -> None:
    create(client, "order-1", ("book", 3, "10"))
    last = create(client, "order-2", ("book", 2, "12.5"), ("pen", 3, "1.2"))

    orders = client.get(f"/api/orders?min_position={last['position']}").json()["orders"]

    assert {order["order_id"]: order["total"] for order in orders} == {"order-1": "30.00", "order-2": "28.60"}


def test_the_list_says_how_many_orders_exist_and_where_the_next_page_is(client: TestClient) -> None:
    last = {}
    for number in range(5):
        last = create(client, f"order-{number}")

    first = client.get(f"/api/orders?limit=2&min_position={last['position']}").json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()

    assert [order["order_id"] for order in first["orders"]] == ["order-4", "order-3"]
    assert (first["total_count"], first["offset"], first["next"]) == (5, 0, "/api/orders?limit=2&offset=2")
    assert [order["order_id"] for order in second["orders"]] == ["order-2", "order-1"]
    assert [order["order_id"] for order in third["orders"]] == ["order-0"]
    assert third["next"] is None


def test_the_list_can_be_searched_by_an_order_id_prefix(client: TestClient) -> None:
    create(client, "shop-1")
    create(client, "shop_2")  # an underscore is a plain character, not a wildcard
    last = create(client, "other-1")

    response = client.get(f"/api/orders?q=shop-&min_position={last['position']}").json()

    assert [order["order_id"] for order in response["orders"]] == ["shop-1"]
    assert response["total_count"] == 1


@pytest.mark.postgres
def test_search_and_paging_work_the_same_on_postgresql(postgres_url: str) -> None:
    settings = DemoSettings.from_environment({"EVENTLEDGER_URL": postgres_url})
    with TestClient(create_app(settings)) as client:
        create(client, "shop-1")
        create(client, "shop_2")
        last = create(client, "shop-3", ("book", 3, "10"))

        page = client.get(f"/api/orders?q=shop-&limit=1&min_position={last['position']}").json()
        rest = client.get(page["next"]).json()

    assert [order["order_id"] for order in page["orders"]] == ["shop-3"]
    assert page["orders"][0]["total"] == "30.00"
    assert (page["total_count"], page["next"]) == (2, "/api/orders?q=shop-&limit=1&offset=1")
    assert [order["order_id"] for order in rest["orders"]] == ["shop-1"]
