"""A typed user module on the synchronous API and an SQLAlchemy read model (mypy --strict, no casts)."""

from __future__ import annotations

from decimal import Decimal

from examples.orders.domain import Order
from examples.orders.events import OrderItem
from examples.orders.read_model_sqlalchemy import Base, OrderSummaryRow, SQLAlchemyOrderSummaries
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

import eventledger as el
from eventledger.projections.targets.sqlalchemy_target import SQLAlchemyTarget
from eventledger.sync import EventStore, ProjectionRunner, Repository, open_store


def place_and_confirm(store: EventStore, order_id: str) -> int:
    orders: Repository[Order, str] = Repository(store, Order)
    orders.save(Order.create(order_id, [OrderItem(sku="book", quantity=1, unit_price=Decimal("1.00"))]))
    confirmed: Order = orders.update(order_id, lambda order: order.confirm())
    return confirmed.version


def history(store: EventStore, order_id: str) -> list[str]:
    return [recorded.type for recorded in store.read_stream(order_id)]


def project_and_read(store: EventStore, read_url: str) -> list[tuple[str, str]]:
    engine = create_engine(read_url)
    runner = ProjectionRunner(store, [SQLAlchemyOrderSummaries(SQLAlchemyTarget(engine, Base.metadata))])
    statuses: list[el.ProjectionStatus] = runner.run_until_caught_up()
    assert statuses
    with Session(engine) as session:
        return [(row.order_id, row.status) for row in session.scalars(select(OrderSummaryRow))]


def main() -> None:
    with open_store("sqlite:///orders.db") as store:
        version: int = place_and_confirm(store, "order-1")
        result: el.AppendResult = store.append("notes", [], expected_version=el.ANY)
        print(version, result.version, history(store, "order-1"), project_and_read(store, "sqlite:///read.db"))
