"""The session an SQLAlchemy read model's handlers receive: SQLAlchemy statements in the batch's transaction.

A handler runs SQLAlchemy Core statements on the tables of the build being written, through one
awaitable call whatever the engine (sync or async)::

    @handles
    async def created(self, event: OrderCreated, recorded: RecordedEvent, sql: AlchemySession) -> None:
        await sql.run(insert(sql.table(OrderRow)).values(order_id=event.order_id, status="pending"))

``sql.table(OrderRow)`` (an ORM class or a :class:`~sqlalchemy.Table` of the target's
``MetaData``) is a copy of that table named for the build (``order_rows_v2_b3``), with its
explicitly named indexes and constraints renamed alike, so a blue/green rebuild's tables sit
beside the serving ones. Readers query the plain names (views on the serving build) with their
own Table or ORM classes. ``sql.connection`` is the SQLAlchemy ``Connection`` or
``AsyncConnection`` itself, in the same transaction as the checkpoint; the session is also a
:class:`~eventledger.projections.sql.SQLTransaction`, for handlers written as SQL text.
"""

from __future__ import annotations

import asyncio
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar, overload

from sqlalchemy import Connection, Constraint, Index, MetaData, Table
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import conv

from eventledger.errors import ProjectionDefinitionError
from eventledger.projections.sql import Dialect, Parameters, Row, RowMapping, SQLTransaction
from eventledger.projections.targets.sqlite import adapt_parameters
from eventledger.store.drivers.placeholders import to_qmark

T = TypeVar("T")

_MAX_IDENTIFIER = 63
"""PostgreSQL's limit on a name; SQLite has none, so the stricter one holds for both."""


class Link(ABC):
    """One SQLAlchemy connection, sync or async, seen through awaitables."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    @property
    @abstractmethod
    def connection(self) -> Connection | AsyncConnection:
        """The SQLAlchemy connection."""

    async def driver_sql(self, statement: str, parameters: Parameters = ()) -> CursorResult[Any]:
        """Run SQL text written with psycopg's placeholders (see :mod:`eventledger.projections.sql`)."""
        if self.dialect == "sqlite":
            statement, parameters = to_qmark(statement), adapt_parameters(parameters)
        if isinstance(parameters, list):  # SQLAlchemy reads a list as several parameter sets
            parameters = tuple(parameters)
        return await self._driver_sql(statement, parameters)

    @abstractmethod
    async def _driver_sql(self, statement: str, parameters: Any) -> CursorResult[Any]: ...

    @abstractmethod
    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        """Run an SQLAlchemy statement; the result's rows are fetched already."""

    @abstractmethod
    async def run_sync(self, function: Callable[[Connection], T]) -> T:
        """Call ``function`` with a synchronous ``Connection`` (for DDL such as ``Table.create``)."""

    @property
    @abstractmethod
    def broken(self) -> bool:
        """True when the connection is closed or was invalidated."""

    @abstractmethod
    async def close(self) -> None:
        """Give the connection back to the engine's pool."""


class SyncLink(Link):
    """A :class:`Link` over a synchronous ``Connection``: each call blocks the loop while it runs."""

    def __init__(self, connection: Connection, dialect: Dialect) -> None:
        super().__init__(dialect)
        self._connection = connection

    @property
    def connection(self) -> Connection:
        """The ``Connection``."""
        return self._connection

    async def _driver_sql(self, statement: str, parameters: Any) -> CursorResult[Any]:
        return self._connection.exec_driver_sql(statement, parameters)

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        """Run the statement; rows are buffered, as the async engine's are."""
        result = self._connection.execute(statement, parameters)
        return result.freeze()() if result.returns_rows else result

    async def run_sync(self, function: Callable[[Connection], T]) -> T:
        """``function(connection)``."""
        return function(self._connection)

    @property
    def broken(self) -> bool:
        """See :attr:`Link.broken`."""
        return self._connection.closed or self._connection.invalidated

    async def close(self) -> None:
        """See :meth:`Link.close`."""
        self._connection.close()


class AsyncLink(Link):
    """A :class:`Link` over an ``AsyncConnection``.

    A statement in flight is let finish when the task awaiting it is cancelled (the runner
    cancels tasks when it stops), and the cancellation goes on from there: SQLAlchemy would
    otherwise invalidate the connection, and with it the transaction's rollback and the
    lease's release.
    """

    def __init__(self, connection: AsyncConnection, dialect: Dialect) -> None:
        super().__init__(dialect)
        self._connection = connection

    @property
    def connection(self) -> AsyncConnection:
        """The ``AsyncConnection``."""
        return self._connection

    async def _driver_sql(self, statement: str, parameters: Any) -> CursorResult[Any]:
        return await _finished(self._connection.exec_driver_sql(statement, parameters))

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        """Run the statement (the async engine buffers rows)."""
        return await _finished(self._connection.execute(statement, parameters))

    async def run_sync(self, function: Callable[[Connection], T]) -> T:
        """``function`` with the synchronous facade SQLAlchemy gives an async connection."""
        return await _finished(self._connection.run_sync(function))

    @property
    def broken(self) -> bool:
        """See :attr:`Link.broken`."""
        return self._connection.closed or self._connection.invalidated

    async def close(self) -> None:
        """See :meth:`Link.close`."""
        await self._connection.close()


async def _finished(operation: Awaitable[T]) -> T:
    """Await ``operation``; if cancelled meanwhile, wait for it to finish, then raise the cancellation."""
    task = asyncio.ensure_future(operation)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


class TableCopies:
    """The tables of a ``MetaData`` copied under other names (a build's), made once each."""

    def __init__(self, metadata: MetaData) -> None:
        self.metadata = metadata
        self._copies = MetaData()

    def declared(self, model: Table | type[Any]) -> Table:
        """The ``Table`` of ``model`` (itself, or an ORM class's ``__table__``), if it is the metadata's."""
        table = getattr(model, "__table__", model)
        if not isinstance(table, Table) or self.metadata.tables.get(table.key) is not table:
            raise ProjectionDefinitionError(
                f"{model!r} is not a table of the target's MetaData (tables: "
                f"{', '.join(sorted(self.metadata.tables)) or 'none'})"
            )
        return table

    def named(self, table: Table, name: str) -> Table:
        """``table`` under ``name`` (no schema: the target's connections translate it)."""
        existing = self._copies.tables.get(name)
        if existing is not None:
            return existing
        # No schema of its own: the target's connections translate the default schema.
        copy = table.to_metadata(self._copies, name=name, schema=None)  # type: ignore[arg-type]
        if name != table.name:
            # Named indexes and constraints are unique per schema in PostgreSQL: two builds
            # side by side need names of their own (conventional names follow the table's).
            items: list[Index | Constraint] = [*copy.indexes, *copy.constraints]
            for item in items:
                if isinstance(item.name, str) and not isinstance(item.name, conv):
                    item.name = _renamed(name, item.name)
        return copy


def _renamed(table: str, original: str) -> str:
    name = f"{table}_{original}"
    if len(name) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.blake2b(name.encode(), digest_size=6).hexdigest()
    return f"{table}_{digest}"


def unqualified(qualified: str) -> str:
    """The bare name in ``"schema"."name"`` or ``"name"`` (validated identifiers hold no quotes or dots)."""
    return qualified.rsplit(".", 1)[-1].strip('"')


class AlchemySession(SQLTransaction):
    """What an SQLAlchemy read model's handlers, ``setup`` and readers receive.

    In a batch it is the batch's transaction, checkpoint included: the handlers' statements
    and the checkpoint commit or roll back together.
    """

    def __init__(
        self, link: Link, tables: Mapping[str, str] | Callable[[str], str], copies: TableCopies
    ) -> None:
        super().__init__(tables)
        self.dialect = link.dialect
        self._link = link
        self._copies = copies

    @property
    def connection(self) -> Connection | AsyncConnection:
        """The SQLAlchemy ``Connection`` (sync engine) or ``AsyncConnection`` (async engine)."""
        return self._link.connection

    @overload
    def table(self, name: str) -> str: ...

    @overload
    def table(self, name: Table | type[Any]) -> Table: ...

    def table(self, name: str | Table | type[Any]) -> str | Table:
        """The build's copy of a ``Table`` or ORM class of the target's ``MetaData``; for a
        name (``str``), its SQL name, as in every SQL session."""
        if isinstance(name, str):
            return super().table(name)
        declared = self._copies.declared(name)
        return self._copies.named(declared, unqualified(super().table(declared.name)))

    async def run(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        """Run an SQLAlchemy statement (``insert``, ``update``, ``select``, ...) in this transaction.

        The rows of a ``select`` are fetched already, on sync and async engines alike.
        """
        return await self._link.execute(statement, parameters)

    async def create_tables(self, *models: Table | type[Any]) -> None:
        """Create the build's copies of ``models`` (default: every declared table), for ``setup``.

        >>> async def setup(self, sql: AlchemySession) -> None:   # doctest: +SKIP
        ...     await sql.create_tables()
        """
        names = [self._copies.declared(model).name for model in models] or self._declared_names()
        tables = []
        for name in names:
            source = self._copies.metadata.tables.get(name)
            if source is None:
                raise ProjectionDefinitionError(
                    f"table {name!r} is declared by the projection but not in the target's MetaData"
                )
            tables.append(self.table(source))

        def create(connection: Connection) -> None:
            for table in tables:
                table.create(connection)

        await self._link.run_sync(create)

    def _declared_names(self) -> list[str]:
        if callable(self._tables):
            raise ProjectionDefinitionError("create_tables() is for setup; name the tables to create")
        return list(self._tables)

    # ------------------------------------------------------------------ SQLTransaction

    async def execute(self, statement: str, parameters: Parameters = ()) -> int:
        """Run SQL text; the number of rows it changed."""
        return (await self._link.driver_sql(statement, parameters)).rowcount

    async def execute_many(self, statement: str, rows: Iterable[Parameters]) -> None:
        """Run SQL text once per parameter row."""
        for row in rows:
            await self._link.driver_sql(statement, row)

    async def fetch_one(self, statement: str, parameters: Parameters = ()) -> Row | None:
        """The first row of a query, or None."""
        row = (await self._link.driver_sql(statement, parameters)).fetchone()
        return None if row is None else tuple(row)

    async def fetch_all(self, statement: str, parameters: Parameters = ()) -> list[Row]:
        """Every row of a query."""
        return [tuple(row) for row in (await self._link.driver_sql(statement, parameters)).fetchall()]

    async def fetch_mapping(self, statement: str, parameters: Parameters = ()) -> RowMapping | None:
        """The first row of a query by column name, or None."""
        row = (await self._link.driver_sql(statement, parameters)).mappings().fetchone()
        return None if row is None else dict(row)

    async def fetch_mappings(self, statement: str, parameters: Parameters = ()) -> list[RowMapping]:
        """Every row of a query by column name."""
        return [dict(row) for row in (await self._link.driver_sql(statement, parameters)).mappings()]
