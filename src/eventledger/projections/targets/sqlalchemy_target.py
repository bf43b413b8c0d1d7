"""A read model kept with SQLAlchemy: tables declared as ``Table``s or ORM classes, written by handlers
in the same transaction as the checkpoint (``eventledger[sqlalchemy]``).

>>> engine = create_async_engine("postgresql+psycopg://...")          # doctest: +SKIP
>>> summaries = OrderRows(SQLAlchemyTarget(engine, Base.metadata))     # doctest: +SKIP

It is a SQL target like :class:`~eventledger.projections.SQLiteTarget` and
:class:`~eventledger.projections.targets.postgres.PostgresTarget`, reached through an engine the
application already has, sync or async, on SQLite (``sqlite``, ``sqlite+aiosqlite``) or PostgreSQL
(``postgresql+psycopg``): the builds, the checkpoint compare-and-set, blue/green activation and
the dead letters are theirs (:mod:`eventledger.projections.targets.sql`), and so is exactly once.
The lease is a row with an expiry renewed in every batch
(:mod:`eventledger.projections.targets.row_leases`), since a pooled connection holds no lock
for the lease's lifetime.

Each worker holds one connection of the engine's pool, in autocommit mode, and opens each
transaction itself: ``BEGIN IMMEDIATE`` on SQLite (the file's write lock before the checkpoint
is read), ``BEGIN`` on PostgreSQL with an advisory lock when a projection's builds change. With
a synchronous engine, each statement blocks the runner's event loop while it runs (as the
SQLite target's do); an async engine keeps the loop free.

``schema`` (PostgreSQL only) puts the read model and the bookkeeping tables in that schema; the
target's connections translate the default schema to it, so the ``Table``s and ORM classes are
declared without a schema. Readers on other connections use the same
``execution_options(schema_translate_map={None: schema})``, or :meth:`SQLAlchemyTarget.read`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, cast

import sqlalchemy.exc
from sqlalchemy import Engine, MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from eventledger.errors import InvalidArgument, StoreUnavailable
from eventledger.projections.checkpoints import CheckpointTables
from eventledger.projections.leases import LeaseRows, advisory_lock_id
from eventledger.projections.sql import Dialect, SQLTransaction, quote_identifier
from eventledger.projections.targets.base import Bookkeeping, Target, TargetConnection
from eventledger.projections.targets.row_leases import RowLeaseConnection
from eventledger.projections.targets.sql import read_sql_bookkeeping
from eventledger.projections.targets.sqlalchemy_session import (
    AlchemySession,
    AsyncLink,
    Link,
    SyncLink,
    TableCopies,
)
from eventledger.store.drivers.options import option, target_prefix

_PARAMSTYLES: dict[str, tuple[str, ...]] = {"sqlite": ("qmark",), "postgresql": ("pyformat", "format")}
"""The drivers whose placeholders the bookkeeping's SQL text is written for, by dialect."""


class SQLAlchemyTarget(Target[AlchemySession]):
    """A read model in the database of an SQLAlchemy ``engine`` (sync or async).

    ``metadata`` holds the read model's tables (``Base.metadata`` of ORM classes, or a
    ``MetaData`` of ``Table``s); a projection declares the names it writes in ``tables`` and
    creates them in ``setup`` with ``await sql.create_tables()``. ``prefix`` names the
    bookkeeping tables, as for the other SQL targets. An engine of another database or driver
    (asyncpg, say), or a ``schema`` on SQLite, raises :class:`~eventledger.InvalidArgument`.
    The engine stays the application's: :meth:`close` leaves it open.
    """

    def __init__(
        self,
        engine: Engine | AsyncEngine,
        metadata: MetaData,
        *,
        schema: str | None = None,
        prefix: str = "eventledger_",
    ) -> None:
        if not isinstance(engine, Engine | AsyncEngine):
            raise InvalidArgument(f"SQLAlchemyTarget needs an Engine or AsyncEngine, not {engine!r}")
        if not isinstance(metadata, MetaData):
            raise InvalidArgument(f"SQLAlchemyTarget needs the read model's MetaData, not {metadata!r}")
        name, driver = engine.dialect.name, engine.dialect.driver
        if engine.dialect.paramstyle not in _PARAMSTYLES.get(name, ()):
            raise InvalidArgument(
                f"SQLAlchemyTarget supports SQLite (sqlite://, sqlite+aiosqlite://) and PostgreSQL through "
                f"psycopg (postgresql+psycopg://), not {name}+{driver}"
            )
        if schema is not None and name != "postgresql":
            raise InvalidArgument(f"schema={schema!r}: only a PostgreSQL read model has schemas")
        self.engine = engine
        self.metadata = metadata
        self.dialect: Dialect = "postgresql" if name == "postgresql" else "sqlite"
        self.schema = None if schema is None else _identifier("schema", schema)
        self.prefix = option("prefix", prefix, target_prefix)
        self.checkpoints = CheckpointTables(
            self.dialect,
            self.qualify(f"{self.prefix}projections"),
            self.qualify(f"{self.prefix}dead_letters"),
        )
        self.leases = LeaseRows(self.qualify(f"{self.prefix}leases"))
        self.copies = TableCopies(metadata)
        self._ready = False

    def __repr__(self) -> str:
        return f"SQLAlchemyTarget({self.describe()!r})"

    def describe(self) -> str:
        """The engine's URL without its password, and the schema."""
        url = self.engine.url.render_as_string(hide_password=True)
        return url if self.schema is None else f"{url} (schema {self.schema})"

    def qualify(self, name: str) -> str:
        """A validated table name as it appears in SQL text (schema-qualified when there is one)."""
        quoted = quote_identifier(name)
        return quoted if self.schema is None else f"{quote_identifier(self.schema)}.{quoted}"

    async def link(self) -> Link:
        """A connection of the engine's pool in autocommit mode, the schema translated."""
        options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"}
        if self.schema is not None:
            options["schema_translate_map"] = {None: self.schema}
        try:
            if isinstance(self.engine, AsyncEngine):
                connection = await self.engine.connect()
                return AsyncLink(await connection.execution_options(**options), self.dialect)
            return SyncLink(self.engine.connect().execution_options(**options), self.dialect)
        except sqlalchemy.exc.DBAPIError as error:
            raise StoreUnavailable(f"cannot connect to the read model {self.describe()}: {error}") from error

    async def connect(self) -> TargetConnection[AlchemySession]:
        """A connection for one projection worker (creates the bookkeeping tables once)."""
        connection = SQLAlchemyTargetConnection(self, await self.link())
        if not self._ready:
            try:
                await connection.create_bookkeeping()
            except BaseException:
                await connection.close()
                raise
            self._ready = True
        # Its transactions are AlchemySessions; the SQL base class is typed for SQLTransaction.
        return cast(TargetConnection[AlchemySession], connection)

    def read(self) -> AbstractAsyncContextManager[AlchemySession]:
        """A read transaction on a connection of its own; ``table(Model)`` is the name readers query.

        >>> async with target.read() as sql:                                 # doctest: +SKIP
        ...     rows = (await sql.run(select(OrderRow))).scalars().all()
        """
        return self._read()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AlchemySession]:
        link = await self.link()
        try:
            try:
                await link.driver_sql("BEGIN")
                yield AlchemySession(link, self.qualify, self.copies)
            finally:
                await roll_back(link)
        finally:
            await link.close()

    async def read_bookkeeping(self, projection: str) -> Bookkeeping:
        """See :meth:`Target.read_bookkeeping` (read-only transactions)."""
        return await read_sql_bookkeeping(self.read, self.checkpoints, projection, _missing_table)


async def roll_back(link: Link) -> None:
    """Roll back the transaction ``link`` may have open (none is fine: its BEGIN may have failed)."""
    if link.broken:
        return
    try:
        await link.driver_sql("ROLLBACK")
    except sqlalchemy.exc.DBAPIError as error:
        if "no transaction is active" not in str(error):  # SQLite's word for it; PostgreSQL only warns
            raise


def _identifier(what: str, name: str) -> str:
    try:
        quote_identifier(name)
    except ValueError as error:
        raise InvalidArgument(f"{what}: {error}") from None
    return name


def _missing_table(error: Exception) -> bool:
    if not isinstance(error, sqlalchemy.exc.DBAPIError):
        return False
    return "no such table" in str(error) or getattr(error.orig, "sqlstate", None) == "42P01"


class SQLAlchemyTargetConnection(RowLeaseConnection):
    """One worker's connection to a :class:`SQLAlchemyTarget`."""

    def __init__(self, target: SQLAlchemyTarget, link: Link) -> None:
        super().__init__(target.checkpoints, target.leases)
        self.target = target
        self.link = link

    async def create_bookkeeping(self) -> None:
        """The schema and the bookkeeping tables (idempotent, safe across processes)."""
        async with self.transaction({}) as sql:
            if self.target.dialect == "postgresql":
                # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog; take turns.
                await self._advisory_lock(sql, "setup")
            if self.target.schema is not None:
                await sql.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(self.target.schema)}")
            await self.checkpoints.create(sql)
            await sql.execute(self.leases.create_statement())

    def transaction(self, tables: Mapping[str, str]) -> AbstractAsyncContextManager[AlchemySession]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), rolled back on any exception."""
        return self._transaction(tables, "BEGIN IMMEDIATE" if self.target.dialect == "sqlite" else "BEGIN")

    def read_transaction(self) -> AbstractAsyncContextManager[AlchemySession]:
        """A transaction that only reads (on SQLite it takes no write lock)."""
        return self._transaction({}, "BEGIN")

    @asynccontextmanager
    async def _transaction(self, tables: Mapping[str, str], begin: str) -> AsyncIterator[AlchemySession]:
        link = self.link
        try:
            # Inside the try: cancelled while it ran, BEGIN has still run (see AsyncLink).
            await link.driver_sql(begin)
            yield AlchemySession(link, tables, self.target.copies)
        except BaseException:
            await roll_back(link)
            raise
        else:
            await link.driver_sql("COMMIT")

    async def lock_projection(self, sql: SQLTransaction, projection: str) -> None:
        """PostgreSQL: a transaction-level advisory lock; SQLite: ``BEGIN IMMEDIATE`` did it."""
        if self.target.dialect == "postgresql":
            await self._advisory_lock(sql, f"builds:{projection}")

    async def _advisory_lock(self, sql: SQLTransaction, key: str) -> None:
        namespace = self.target.schema or "public"
        await sql.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_lock_id(namespace, key),))

    def qualify(self, name: str) -> str:
        """See :meth:`SQLAlchemyTarget.qualify`."""
        return self.target.qualify(name)

    @property
    def broken(self) -> bool:
        """True when the connection was closed or invalidated (its lease row expires)."""
        return self.link.broken

    def is_transient(self, error: Exception) -> bool:
        """The database's passing trouble (a locked file, a deadlock, a lost connection): retry it."""
        return isinstance(error, sqlalchemy.exc.OperationalError)

    async def close(self) -> None:
        """Release the lease and give the connection back to the pool."""
        try:
            if not self.link.broken:
                await self.release_lease()
        except sqlalchemy.exc.SQLAlchemyError:
            pass  # the lease row expires after its ttl
        finally:
            await self.link.close()


