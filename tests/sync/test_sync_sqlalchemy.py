"""Synchronous code end to end: commands from threads, a projection into SQLAlchemy, ORM reads."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

from examples.orders.domain import Order
from examples.orders.events import OrderItem
from examples.orders.read_model_sqlalchemy import Base, OrderSummaryRow, SQLAlchemyOrderSummaries
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from eventledger.projections.targets.sqlalchemy_target import SQLAlchemyTarget
from eventledger.sync import EventStore, ProjectionRunner, Repository

ITEMS = [OrderItem(sku="book", quantity=1, unit_price=Decimal("4.20"))]


def test_orders_placed_and_confirmed_from_threads_reach_the_orm_read_model(
    store: EventStore, tmp_path: Path
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'read.db'}")
    orders = Repository(store, Order)
    runner = ProjectionRunner(store, [SQLAlchemyOrderSummaries(SQLAlchemyTarget(engine, Base.metadata))])
    versions: list[int] = []

    def serve(number: int) -> None:
        order_id = f"order-{number}"
        orders.save(Order.create(order_id, ITEMS))
        confirmed = orders.update(order_id, lambda order: order.confirm())
        versions.append(confirmed.version)

    with runner:
        workers = [threading.Thread(target=serve, args=(n,)) for n in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        runner.wait_for_position(store.head_position(), timeout=30)

    with Session(engine) as session:
        rows = session.scalars(select(OrderSummaryRow).order_by(OrderSummaryRow.order_id)).all()
    engine.dispose()

    assert versions == [2] * 8
    assert [(row.order_id, row.status, row.total) for row in rows] == [
        (f"order-{n}", "confirmed", Decimal("4.20")) for n in range(8)
    ]
