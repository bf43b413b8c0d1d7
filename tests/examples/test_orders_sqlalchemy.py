"""The order read model's SQLAlchemy variant, on sync and async engines, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from examples.orders.events import OrderCancelled, OrderConfirmed, OrderCreated, OrderItem
from examples.orders.read_model_sqlalchemy import (
    Base,
    OrderSummaryRow,
    SQLAlchemyOrderSummaries,
    find_order_summary,
)
from sqlalchemy import Engine, create_engine, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session

import eventledger as el
from backends import POSTGRES_URL
from eventledger.projections.targets.sqlalchemy_target import SQLAlchemyTarget

POSTGRES_PSYCOPG = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://")


@dataclass
class Place:
    """An event store and an SQLAlchemy read model, fresh for one test."""

    store: el.EventStore
    target: SQLAlchemyTarget
    engine: Engine | AsyncEngine
    schema: str | None

    def projection(self) -> SQLAlchemyOrderSummaries:
        return SQLAlchemyOrderSummaries(self.target)

    async def project(self) -> list[el.ProjectionStatus]:
        return await el.ProjectionRunner(self.store, [self.projection()]).run_until_caught_up()


@pytest.fixture(params=["sqlite", "sqlite+aiosqlite", "postgresql+psycopg", "postgresql+psycopg async"])
async def place(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Place]:
    kind: str = request.param
    schema = f"test_orders_sqla_{uuid.uuid4().hex[:12]}" if kind.startswith("postgresql") else None
    engine: Engine | AsyncEngine
    if kind == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'read.db'}")
    elif kind == "sqlite+aiosqlite":
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'read.db'}")
    elif kind == "postgresql+psycopg":
        engine = create_engine(POSTGRES_PSYCOPG)
    else:
        engine = create_async_engine(POSTGRES_PSYCOPG)
    target = SQLAlchemyTarget(engine, Base.metadata, schema=schema)
    async with await el.open_store(f"sqlite:///{tmp_path / 'events.db'}") as store:
        yield Place(store, target, engine, schema)
    await target.close()
    if isinstance(engine, AsyncEngine):
        await engine.dispose()
    else:
        engine.dispose()
    if schema is not None:
        async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


def items(*lines: tuple[str, int, str]) -> list[OrderItem]:
    return [OrderItem(sku=sku, quantity=count, unit_price=Decimal(price)) for sku, count, price in lines]


async def test_a_created_order_is_pending_with_the_exact_total_of_its_items(place: Place) -> None:
    created = OrderCreated(order_id="order-1", items=items(("book", 2, "12.50"), ("pen", 3, "0.10")))
    result = await place.store.append("order-1", [created], expected_version=el.NO_STREAM)

    await place.project()
    summary = await find_order_summary(place.target, "order-1")

    assert summary is not None
    assert (summary.status, summary.total, summary.currency) == ("pending", Decimal("25.30"), "EUR")
    recorded = [event async for event in place.store.read_stream("order-1")]
    assert summary.created_at == recorded[0].recorded_at
    assert result.version == 1


async def test_a_cancelled_order_keeps_its_reason_and_its_confirmation_time(place: Place) -> None:
    created = OrderCreated(order_id="order-1", items=items(("book", 1, "9.99")))
    await place.store.append("order-1", [created, OrderConfirmed(order_id="order-1")], expected_version=0)
    cancelled = OrderCancelled(order_id="order-1", reason="changed my mind")
    await place.store.append("order-1", [cancelled], expected_version=2)

    await place.project()
    summary = await find_order_summary(place.target, "order-1")

    assert summary is not None
    assert (summary.status, summary.cancel_reason) == ("cancelled", "changed my mind")
    assert summary.confirmed_at is not None and summary.cancelled_at is not None


async def test_readers_query_the_orm_class_with_their_own_session(place: Place) -> None:
    await place.store.append(
        "order-1", [OrderCreated(order_id="order-1", items=items(("book", 1, "9.99")))], expected_version=0
    )
    await place.project()
    # Readers declare no schema; a read model kept in one translates it the way the target does.
    translate = {None: place.schema} if place.schema is not None else {}

    if isinstance(place.engine, AsyncEngine):
        from sqlalchemy.ext.asyncio import AsyncSession

        async with AsyncSession(place.engine.execution_options(schema_translate_map=translate)) as session:
            rows = (await session.scalars(select(OrderSummaryRow))).all()
    else:
        with Session(place.engine.execution_options(schema_translate_map=translate)) as session:
            rows = list(session.scalars(select(OrderSummaryRow)))

    assert [(row.order_id, row.status, row.total) for row in rows] == [
        ("order-1", "pending", Decimal("9.99"))
    ]


async def test_a_rebuild_builds_new_tables_beside_the_serving_ones_and_takes_over(place: Place) -> None:
    await place.store.append(
        "order-1", [OrderCreated(order_id="order-1", items=items(("book", 1, "9.99")))], expected_version=0
    )
    await place.project()
    runner = el.ProjectionRunner(place.store, [place.projection()])
    build = await runner.rebuild("order-summaries-sqlalchemy")

    await runner.run_until_caught_up()
    summary = await find_order_summary(place.target, "order-1")

    assert build.number == 2
    assert summary is not None and summary.status == "pending"
    assert build.table_name(OrderSummaryRow.__tablename__) == "sqlalchemy_order_summaries_v1_b2"


async def test_two_builds_side_by_side_keep_their_named_index_and_check_apart(place: Place) -> None:
    await place.store.append(
        "order-1", [OrderCreated(order_id="order-1", items=items(("book", 1, "9.99")))], expected_version=0
    )
    await place.project()
    runner = el.ProjectionRunner(place.store, [place.projection()])
    await runner.rebuild("order-summaries-sqlalchemy")
    connection = await place.projection().target.connect()
    try:
        # The rebuild's setup creates the second build's tables while the first still serves.
        await connection.prepare(place.projection())
    finally:
        await connection.close()

    names = await _index_names(place)

    assert {
        "sqlalchemy_order_summaries_v1_b1_by_status_and_time",
        "sqlalchemy_order_summaries_v1_b2_by_status_and_time",
    } <= names


async def _index_names(place: Place) -> set[str]:
    def read(connection: object) -> set[str]:
        inspector = inspect(connection)
        found: set[str] = set()
        for table in inspector.get_table_names(schema=place.schema):
            found.update(str(index["name"]) for index in inspector.get_indexes(table, schema=place.schema))
        return found

    if isinstance(place.engine, AsyncEngine):
        async with place.engine.connect() as connection:
            return await connection.run_sync(read)
    with place.engine.connect() as connection:
        return read(connection)
