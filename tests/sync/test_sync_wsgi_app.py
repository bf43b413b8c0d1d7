"""A synchronous WSGI app (Flask, threaded) whose views run commands through the sync API.

Eight client threads send requests at once to a threaded server; the views share one
synchronous store and repository, and a runner in the background keeps an SQLAlchemy read
model, which is checked after.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from examples.orders.domain import Order
from examples.orders.events import OrderItem
from examples.orders.read_model_sqlalchemy import Base, OrderSummaryRow, SQLAlchemyOrderSummaries
from flask import Flask, jsonify
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

import eventledger as el
from eventledger.projections.targets.sqlalchemy_target import SQLAlchemyTarget
from eventledger.sync import EventStore, ProjectionRunner, Repository

THREADS = 8
ITEMS = [OrderItem(sku="book", quantity=1, unit_price=Decimal("3.00"))]


def order_app(store: EventStore) -> Flask:
    app = Flask(__name__)
    orders = Repository(store, Order)

    @app.post("/orders/<order_id>")
    def create(order_id: str) -> tuple[object, int]:
        result = orders.save(Order.create(order_id, ITEMS))
        return jsonify(version=result.version), 201

    @app.post("/orders/<order_id>/confirm")
    def confirm(order_id: str) -> tuple[object, int]:
        try:
            order = orders.update(order_id, lambda order: order.confirm())
        except el.DomainError as error:
            return jsonify(error=str(error)), 409
        return jsonify(version=order.version), 200

    return app


@pytest.fixture
def served(store: EventStore) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, order_app(store), threaded=True)
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    serving.join()


@pytest.fixture
def read_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'read.db'}")
    yield engine
    engine.dispose()


def post(url: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def in_threads(work: list[str]) -> list[tuple[int, dict[str, object]]]:
    outcomes: list[tuple[int, dict[str, object]]] = [(0, {})] * len(work)
    start = threading.Barrier(len(work))

    def send(index: int) -> None:
        start.wait()
        outcomes[index] = post(work[index])

    clients = [threading.Thread(target=send, args=(index,)) for index in range(len(work))]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    return outcomes


def test_orders_created_and_confirmed_by_eight_request_threads_all_reach_the_read_model(
    store: EventStore, served: str, read_engine: Engine
) -> None:
    runner = ProjectionRunner(store, [SQLAlchemyOrderSummaries(SQLAlchemyTarget(read_engine, Base.metadata))])

    with runner:
        created = in_threads([f"{served}/orders/order-{n}" for n in range(THREADS)])
        confirmed = in_threads([f"{served}/orders/order-{n}/confirm" for n in range(THREADS)])
        runner.wait_for_position(store.head_position(), timeout=30)

    with Session(read_engine) as session:
        rows = session.scalars(select(OrderSummaryRow).order_by(OrderSummaryRow.order_id)).all()
    assert [status for status, _ in created] == [201] * THREADS
    assert confirmed == [(200, {"version": 2})] * THREADS
    assert [(row.order_id, row.status) for row in rows] == [
        (f"order-{n}", "confirmed") for n in range(THREADS)
    ]


def test_eight_request_threads_confirming_one_order_confirm_it_once(store: EventStore, served: str) -> None:
    post(f"{served}/orders/order-1")

    outcomes = in_threads([f"{served}/orders/order-1/confirm"] * THREADS)

    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [200] + [409] * (THREADS - 1)
    assert [recorded.type for recorded in store.read_stream("order-1")] == ["OrderCreated", "OrderConfirmed"]
