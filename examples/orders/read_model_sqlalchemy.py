"""The order read model with SQLAlchemy: the same summaries as :mod:`examples.orders.read_model`,
declared as an ORM class and written with SQLAlchemy Core statements.

The projection runs on any engine the application has, sync or async, SQLite or PostgreSQL::

    engine = create_async_engine("postgresql+psycopg://app@db/shop")  # or create_engine("sqlite:///r.db")
    summaries = SQLAlchemyOrderSummaries(SQLAlchemyTarget(engine, Base.metadata))
    await el.ProjectionRunner(store, [summaries]).run_until_caught_up()

Readers query ``OrderSummaryRow`` with their own SQLAlchemy session: its table name is a view on
the serving build, so a blue/green rebuild never shows them an empty or half-built table::

    with Session(engine) as session:
        row = session.get(OrderSummaryRow, "order-1")

Money is exact (``NUMERIC`` on PostgreSQL, decimal text on SQLite, ``Decimal`` in Python) and
times keep their zone (``timestamptz`` on PostgreSQL, ISO 8601 text on SQLite), as in the SQL
variant: :class:`Money` and :class:`Moment` choose the column type per dialect.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Dialect, Index, Numeric, String, insert, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

import eventledger as el
from eventledger.projections import Projection, handles
from eventledger.projections.targets.sqlalchemy_session import AlchemySession
from eventledger.projections.targets.sqlalchemy_target import SQLAlchemyTarget
from examples.orders.events import OrderCancelled, OrderConfirmed, OrderCreated
from examples.orders.read_model import OrderSummary


class Money(TypeDecorator[Decimal]):
    """An exact amount: ``NUMERIC`` on PostgreSQL, decimal text on SQLite (whose numbers are floats)."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Text on SQLite, unconstrained ``NUMERIC`` elsewhere."""
        return dialect.type_descriptor(String() if dialect.name == "sqlite" else Numeric())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        """A ``Decimal`` as the column stores it."""
        return str(value) if value is not None and dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Back to a ``Decimal``."""
        return None if value is None else Decimal(str(value))


class Moment(TypeDecorator[datetime]):
    """A time with its zone: ``timestamptz`` on PostgreSQL, ISO 8601 text on SQLite."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Text on SQLite (its DATETIME drops the zone), ``timestamptz`` elsewhere."""
        return dialect.type_descriptor(String() if dialect.name == "sqlite" else DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """A ``datetime`` as the column stores it."""
        return value.isoformat() if value is not None and dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Back to an aware ``datetime``."""
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromisoformat(str(value))


class Base(DeclarativeBase):
    """The read model's ORM classes; ``Base.metadata`` is what the target is given."""


class OrderSummaryRow(Base):
    """One order as the read model holds it (readers query it with an ORM session)."""

    __tablename__ = "sqlalchemy_order_summaries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'confirmed', 'cancelled')", name="status_known"),
        Index("by_status_and_time", "status", "created_at"),
    )

    order_id: Mapped[str] = mapped_column(String, primary_key=True)
    status: Mapped[str] = mapped_column(String)
    total: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(Moment)
    confirmed_at: Mapped[datetime | None] = mapped_column(Moment)
    cancelled_at: Mapped[datetime | None] = mapped_column(Moment)
    cancel_reason: Mapped[str | None] = mapped_column(String)


class SQLAlchemyOrderSummaries(Projection[AlchemySession], name="order-summaries-sqlalchemy"):
    """Keeps ``sqlalchemy_order_summaries`` up to date, one row per order."""

    tables = (OrderSummaryRow.__tablename__,)

    async def setup(self, sql: AlchemySession) -> None:
        """Create this build's copy of the table (with its check and its index)."""
        await sql.create_tables()

    @handles
    async def created(self, event: OrderCreated, recorded: el.RecordedEvent, sql: AlchemySession) -> None:
        """A new order, pending, with the total of its items."""
        total = sum((item.quantity * item.unit_price for item in event.items), Decimal(0))
        await sql.run(
            insert(sql.table(OrderSummaryRow)).values(
                order_id=event.order_id,
                status="pending",
                total=total,
                currency=event.currency,
                created_at=recorded.recorded_at,
            )
        )

    @handles
    async def confirmed(self, event: OrderConfirmed, recorded: el.RecordedEvent, sql: AlchemySession) -> None:
        """Confirmed, at the time the store recorded the confirmation."""
        rows = sql.table(OrderSummaryRow)
        await sql.run(
            update(rows)
            .where(rows.c.order_id == event.order_id)
            .values(status="confirmed", confirmed_at=recorded.recorded_at)
        )

    @handles
    async def cancelled(self, event: OrderCancelled, recorded: el.RecordedEvent, sql: AlchemySession) -> None:
        """Cancelled, with the reason; a confirmed order keeps its confirmation time."""
        rows = sql.table(OrderSummaryRow)
        await sql.run(
            update(rows)
            .where(rows.c.order_id == event.order_id)
            .values(status="cancelled", cancelled_at=recorded.recorded_at, cancel_reason=event.reason)
        )


async def find_order_summary(target: SQLAlchemyTarget, order_id: str) -> OrderSummary | None:
    """The summary of ``order_id`` as readers see it, or None when the read model has no such order (yet)."""
    async with target.read() as sql:
        query = select(OrderSummaryRow.__table__).where(OrderSummaryRow.order_id == order_id)
        row = (await sql.run(query)).first()
    if row is None:
        return None
    return OrderSummary(
        order_id=row.order_id,
        status=row.status,
        total=row.total,
        currency=row.currency,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        cancelled_at=row.cancelled_at,
        cancel_reason=row.cancel_reason,
    )
