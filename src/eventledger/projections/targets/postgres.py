"""A read model in PostgreSQL (psycopg 3): the event store's own database or another one.

``PostgresTarget("postgresql://user@host:port/dbname?schema=NAME")``: the read model's tables,
its views and the bookkeeping tables live in schema ``NAME`` (default ``eventledger``, the
store's default, so a store and its read models can share one schema).

Each worker has one connection of its own. It holds the projection's lease as a session
advisory lock, and every batch runs on it as one transaction with the checkpoint
compare-and-set inside. A batch therefore commits only while its lease is held: if the
connection dies, the lock and the open transaction die together, and a standby's
``pg_try_advisory_lock`` succeeds at once. Changes to a projection's builds (creating one,
switching the serving one) also take a transaction-level advisory lock on the projection, so
runners of different schema versions never interleave them.

Keep batches short when the target is on the event store's server (the same cluster, any
database): a batch's transaction has written from its first statement on, and until it
commits it holds back the store's visibility barrier (see :mod:`eventledger.store.postgres`),
so every reader of the log waits up to one batch's duration for newer events. Pipelined (the
default), a batch of 500 one-statement events takes a few tens of milliseconds on a loopback
server (about 20,000 events per second on a loaded 2-core machine, see
``benchmarks/projection_throughput.py``); with ``pipeline=False`` it is several times longer:
prefer batches of about 100 there, or a read-model server of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ClassVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from eventledger.projections.checkpoints import CheckpointTables
from eventledger.projections.leases import advisory_lock_id
from eventledger.projections.sql import Dialect, Parameters, Row, RowMapping, SQLTransaction, quote_identifier
from eventledger.projections.targets.base import Bookkeeping, Target
from eventledger.projections.targets.sql import SQLTargetConnection, read_sql_bookkeeping, read_sql_segments
from eventledger.store.drivers.options import option, target_prefix
from eventledger.store.drivers.postgres import (
    Connection,
    ConnectionSettings,
    connect,
    parse_postgres_url,
    validate_schema_name,
)
from eventledger.store.drivers.postgres_pool import fill, new_pool


class PostgresTransaction(SQLTransaction):
    """A :class:`SQLTransaction` on a psycopg ``AsyncConnection``.

    ``pipelined`` (a projection batch's session in pipeline mode): ``execute`` holds a statement
    back while the next ones repeat its text, and sends the run of them as one ``executemany``
    when another statement, a fetch, ``execute_many``, :meth:`flush` or the end of the batch
    comes. Nothing is reordered, and a handler's one statement per event costs a row of an
    ``executemany`` instead of a call into the driver (measured: 2.3-2.8x the throughput of a
    call per statement, itself pipelined).
    """

    dialect: Dialect = "postgresql"

    def __init__(
        self,
        connection: Connection,
        tables: Mapping[str, str] | Callable[[str], str],
        *,
        pipelined: bool = False,
    ) -> None:
        super().__init__(tables)
        self._connection = connection
        self.pipelined = pipelined
        self._held: str | None = None
        self._held_rows: list[Parameters] = []

    @property
    def connection(self) -> Connection:
        """The psycopg connection. In a pipelined batch, ``await flush()`` before using it
        directly, so that the statements ``execute`` holds back go first."""
        return self._connection

    async def execute(self, statement: str, parameters: Parameters = ()) -> int:
        """Run one statement; the number of rows it changed (-1, not known yet, when pipelined)."""
        if not self.pipelined:
            cursor = await self._connection.execute(statement.encode(), parameters)
            return cursor.rowcount
        if statement != self._held:
            await self.flush()
            self._held = statement
        self._held_rows.append(parameters)
        return -1

    async def flush(self) -> None:
        """Send the statements ``execute`` holds back (in a pipelined batch; otherwise there are none)."""
        statement, rows = self._held, self._held_rows
        if statement is None:
            return
        self._held, self._held_rows = None, []
        if len(rows) == 1:
            await self._connection.execute(statement.encode(), rows[0])
            return
        async with self._connection.cursor() as cursor:
            await cursor.executemany(statement.encode(), rows)

    async def _query(self, statement: str, parameters: Parameters) -> psycopg.AsyncCursor[Any]:
        if self._held is not None:
            await self.flush()
        return await self._connection.execute(statement.encode(), parameters)

    async def execute_many(self, statement: str, rows: Iterable[Parameters]) -> None:
        """Run one statement once per parameter row (pipelined by psycopg)."""
        if self._held is not None:
            await self.flush()
        async with self._connection.cursor() as cursor:
            await cursor.executemany(statement.encode(), list(rows))

    async def fetch_one(self, statement: str, parameters: Parameters = ()) -> Row | None:
        """The first row, or None."""
        cursor = await self._query(statement, parameters)
        row = await cursor.fetchone()
        return None if row is None else tuple(row)

    async def fetch_all(self, statement: str, parameters: Parameters = ()) -> list[Row]:
        """Every row."""
        cursor = await self._query(statement, parameters)
        return [tuple(row) for row in await cursor.fetchall()]

    async def fetch_mapping(self, statement: str, parameters: Parameters = ()) -> RowMapping | None:
        """The first row by column name, or None."""
        cursor = await self._query(statement, parameters)
        row = await cursor.fetchone()
        return None if row is None else dict(zip(_column_names(cursor), row, strict=True))

    async def fetch_mappings(self, statement: str, parameters: Parameters = ()) -> list[RowMapping]:
        """Every row by column name."""
        cursor = await self._query(statement, parameters)
        rows = await cursor.fetchall()
        names = _column_names(cursor)
        return [dict(zip(names, row, strict=True)) for row in rows]


def _column_names(cursor: psycopg.AsyncCursor[Any]) -> list[str]:
    return [column.name for column in cursor.description or ()]


class PostgresTarget(Target[SQLTransaction]):
    """A read model in a PostgreSQL schema.

    ``url`` is a ``postgresql://`` URL as for :func:`eventledger.open_store` (or a store's
    parsed ``settings``); ``schema`` overrides its ``?schema=``. ``prefix`` names the bookkeeping tables
    (``eventledger_projections``, ``eventledger_dead_letters``).

    By default (``pipeline=True``) the handlers' statements go out in psycopg's pipeline mode,
    and a run of statements with the same text (one upsert per event, say) as one
    ``executemany``: a batch neither waits for each statement's round trip nor calls into the
    driver per statement, so catch-up writes at the speed of the driver (measured on one
    loopback 2-core machine: about the throughput of raw psycopg's ``executemany`` of the same
    statements, 2.3-2.8x raw psycopg pipelining one ``execute`` per statement, 6-7x
    ``pipeline=False``).
    What changes for a handler:

    - ``execute`` returns -1: the row count is not known yet;
    - a failing statement raises at a later statement, at a fetch or at commit, not where it
      was issued. The runner still pins the failure on the event whose handler issued it: the
      failed batch rolls back whole and is applied again one event per transaction;
    - a fetch (``fetch_one``, ``fetch_all``, ...) first sends the statements before it and
      waits for its own rows, so a handler that reads gets what the batch wrote so far;
    - a handler that uses ``sql.connection`` directly calls ``await sql.flush()`` first.

    The checkpoint's compare-and-set runs before the pipeline starts, in the same transaction,
    so exactly-once is unchanged. ``pipeline=False`` awaits every statement on its own: for
    handlers that branch on ``execute``'s row count, or that want an error raised by the
    statement that caused it.
    """

    segmentable: ClassVar[bool] = True

    def __init__(
        self,
        url: str | ConnectionSettings,
        *,
        schema: str | None = None,
        prefix: str = "eventledger_",
        pipeline: bool = True,
    ) -> None:
        if isinstance(url, ConnectionSettings):  # a store's own (a reactor keeps its checkpoint there)
            self.settings = url if schema is None else dataclasses.replace(url, schema=schema)
        else:
            self.settings = parse_postgres_url(url, {} if schema is None else {"schema": schema})
        prefix = option("prefix", prefix, target_prefix)
        self.schema = validate_schema_name(self.settings.schema)
        self.prefix = prefix
        self.pipeline = pipeline
        self.checkpoints = CheckpointTables(
            "postgresql", self.qualify(f"{prefix}projections"), self.qualify(f"{prefix}dead_letters")
        )
        self._ready = False
        self._pool: AsyncConnectionPool[Connection] | None = None

    def __repr__(self) -> str:
        return f"PostgresTarget({self.describe()!r})"

    def describe(self) -> str:
        """Server, database and schema (never the password)."""
        return f"postgresql://{self.settings.host}:{self.settings.port}/{self.settings.database}?schema={self.schema}"

    def qualify(self, name: str) -> str:
        """``"schema"."name"`` for a validated name."""
        return f"{quote_identifier(self.schema)}.{quote_identifier(name)}"

    async def open_connection(self) -> Connection:
        """A new autocommit connection to the target's database."""
        return await connect(self.settings, "connecting a projection")

    async def connect(self) -> PostgresTargetConnection:
        """A connection for one projection worker (creates the schema and bookkeeping tables once)."""
        connection = PostgresTargetConnection(self, await self.open_connection())
        if not self._ready:
            try:
                await connection.create_bookkeeping()
            except BaseException:
                await connection.close()
                raise
            self._ready = True
        return connection

    def read(self) -> AbstractAsyncContextManager[SQLTransaction]:
        """A read transaction from a small pool; ``table(name)`` gives the name readers query."""
        return self._read()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[SQLTransaction]:
        if self._pool is None:
            pool = new_pool(self.settings, min_size=1, max_size=2, autocommit=False)
            await fill(pool, self.settings)
            self._pool = pool
        async with self._pool.connection() as connection:
            yield PostgresTransaction(connection, self.qualify)

    async def read_segments(self, projection: str, number: int) -> dict[int, int]:
        """See :meth:`Target.read_segments`."""
        return await read_sql_segments(self.read, self.checkpoints, projection, number, _missing_table)

    async def read_bookkeeping(self, projection: str) -> Bookkeeping:
        """See :meth:`Target.read_bookkeeping` (read-only transactions from the reading pool)."""
        return await read_sql_bookkeeping(self.read, self.checkpoints, projection, _missing_table)

    async def close(self) -> None:
        """Close the reading pool."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def _missing_table(error: Exception) -> bool:
    return isinstance(error, psycopg.errors.UndefinedTable)


_APPLICATION_PREFIX = "eventledger "


def _application_name(owner: str) -> str:
    # PostgreSQL keeps 63 bytes of it: a longer owner id is cut, and then never matches a dead one.
    return (_APPLICATION_PREFIX + owner).encode()[:63].decode(errors="ignore")


class PostgresTargetConnection(SQLTargetConnection):
    """One worker's connection to a :class:`PostgresTarget`; it also holds the lease."""

    def __init__(self, target: PostgresTarget, connection: Connection) -> None:
        super().__init__(target.checkpoints)
        self.target = target
        self._connection = connection
        self._lease: int | None = None

    @property
    def connection(self) -> Connection:
        """The worker's psycopg connection (autocommit; it holds the lease as a session lock)."""
        return self._connection

    @property
    def backend_pid(self) -> int:
        """The server process id of this connection (for operators and tests)."""
        return self._connection.info.backend_pid

    async def create_bookkeeping(self) -> None:
        """The schema and the bookkeeping tables (idempotent, safe across processes)."""
        async with self.transaction({}) as sql:
            # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog; take turns.
            await sql.execute(
                "SELECT pg_advisory_xact_lock(%s)", (advisory_lock_id(self.target.schema, "setup"),)
            )
            await sql.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(self.target.schema)}")
            await self.checkpoints.create(sql)

    @asynccontextmanager
    async def transaction(self, tables: Mapping[str, str]) -> AsyncIterator[SQLTransaction]:
        """One transaction on the worker's connection; rolled back on any exception."""
        async with self._connection.transaction():
            yield PostgresTransaction(self._connection, tables)

    @asynccontextmanager
    async def handlers_session(
        self, sql: SQLTransaction, tables: Mapping[str, str]
    ) -> AsyncIterator[SQLTransaction]:
        """The batch's transaction, pipelined when the target asks for it."""
        if not self.target.pipeline:
            yield sql
            return
        async with self._connection.pipeline():
            session = PostgresTransaction(self._connection, tables, pipelined=True)
            yield session
            await session.flush()

    async def lock_projection(self, sql: SQLTransaction, projection: str) -> None:
        """A transaction-level advisory lock on the projection's builds."""
        await sql.execute(
            "SELECT pg_advisory_xact_lock(%s)",
            (advisory_lock_id(self.target.schema, f"builds:{projection}"),),
        )

    def qualify(self, name: str) -> str:
        """``"schema"."name"``."""
        return self.target.qualify(name)

    async def acquire_lease(self, key: str, owner: str, ttl: float) -> bool:
        """``pg_try_advisory_lock`` on this connection's session (``ttl`` is not needed here).

        The session's ``application_name`` says which runner it serves, so that the runners
        sharing work can end it when that runner hangs (:meth:`evict_lease_holder`).
        """
        lock = advisory_lock_id(self.target.schema, f"lease:{key}")
        if self._lease_owner != owner:
            await self._connection.execute(
                "SELECT set_config('application_name', %s, false)", (_application_name(owner),)
            )
        self._lease_owner = owner
        if self._lease == lock:
            return True
        cursor = await self._connection.execute("SELECT pg_try_advisory_lock(%s)", (lock,))
        row = await cursor.fetchone()
        taken = bool(row and row[0])
        if taken:
            self._lease = lock
        return taken

    async def evict_lease_holder(self, key: str, dead: Callable[[str], bool]) -> bool:
        """End the session holding ``key``'s advisory lock when its runner is ``dead``.

        A runner that hangs (SIGSTOP, a long pause) keeps its sessions and their locks; once
        its member row has expired the others end its sessions with ``pg_terminate_backend``
        (the same role, or ``pg_signal_backend``, may). Its open batch rolls back with the
        session, and when it wakes its next statement fails and it reconnects, fenced.
        """
        lock = advisory_lock_id(self.target.schema, f"lease:{key}") & 0xFFFFFFFFFFFFFFFF
        cursor = await self._connection.execute(
            "SELECT l.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (lock >> 32, lock & 0xFFFFFFFF),
        )
        row = await cursor.fetchone()
        if row is None or not str(row[1]).startswith(_APPLICATION_PREFIX):
            return False
        holder = str(row[1]).removeprefix(_APPLICATION_PREFIX)
        if not dead(holder):
            return False
        await self._connection.execute("SELECT pg_terminate_backend(%s)", (int(row[0]),))
        return True

    async def renew_lease(self) -> bool:
        """The lock lives as long as the session: check the session is alive."""
        if self._lease is None:
            return False
        try:
            await self._connection.execute("SELECT 1")
        except psycopg.OperationalError:
            self._lease = None
            return False
        return True

    async def check_lease(self, sql: SQLTransaction) -> bool:
        """The batch runs on the connection holding the lock, so holding it is enough."""
        return self._lease is not None

    async def release_lease(self) -> None:
        """``pg_advisory_unlock``, so a standby can take over at once."""
        lock, self._lease = self._lease, None
        if lock is not None and not self.broken:
            await self._connection.execute("SELECT pg_advisory_unlock(%s)", (lock,))

    @property
    def broken(self) -> bool:
        """True when the connection (and with it the lease) is gone."""
        return self._connection.broken or self._connection.closed

    def is_transient(self, error: Exception) -> bool:
        """Lock waits, deadlocks, serialisation failures, cancelled statements: retry them."""
        return isinstance(error, psycopg.OperationalError)

    async def close(self) -> None:
        """Release the lease and close the connection."""
        try:
            await self.release_lease()
        except psycopg.Error:
            pass  # closing the connection releases the lock anyway
        finally:
            await self._connection.close()
