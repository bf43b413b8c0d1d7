"""Pooled PostgreSQL connections: made and filled here, checked on loan, driver errors translated.

:func:`new_pool` and :func:`fill` serve the store and the read-model target alike. Every
statement the store runs goes through :meth:`StoreConnections.connection`, so every driver
error is translated in one place (see :func:`eventledger.store.drivers.postgres.translate`): a
refused write is :class:`~eventledger.errors.ReadOnlyStore`, a refused value an
:class:`~eventledger.errors.InvalidArgument`, and only a fault of the server or of the way to
it :class:`~eventledger.errors.StoreUnavailable`.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import psycopg
import psycopg.errors
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from eventledger.errors import StoreClosed
from eventledger.store.drivers.postgres import (
    Connection,
    ConnectionLost,
    ConnectionSettings,
    translate,
    unavailable,
)


def new_pool(
    settings: ConnectionSettings,
    *,
    min_size: int,
    max_size: int,
    autocommit: bool = True,
    name: str | None = None,
) -> AsyncConnectionPool[Connection]:
    """A pool of connections to ``settings``' database, not opened yet (see :func:`fill`)."""
    return AsyncConnectionPool(
        settings.conninfo,
        connection_class=psycopg.AsyncConnection,
        kwargs={"autocommit": autocommit},
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
    )


async def fill(pool: AsyncConnectionPool[Connection], settings: ConnectionSettings) -> None:
    """Open ``pool`` with its minimum of connections, or raise StoreUnavailable."""
    try:
        await pool.open(wait=True, timeout=30.0)
    except PoolTimeout as error:
        raise unavailable(settings, "cannot fill the connection pool", error) from None


class StoreConnections:
    """The pooled, autocommit connections of one store.

    ``closed`` tells whether the store has been closed (errors after that are
    :class:`~eventledger.errors.StoreClosed`); ``label`` names the store in that message.
    """

    def __init__(self, settings: ConnectionSettings, closed: Callable[[], bool], label: str) -> None:
        self.settings = settings
        self._closed = closed
        self._label = label
        self._pool = new_pool(
            settings,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            name=f"eventledger:{settings.schema}",
        )

    async def open(self) -> None:
        """Fill the pool (its minimum size), or raise StoreUnavailable."""
        await fill(self._pool, self.settings)

    async def close(self) -> None:
        """Close every connection of the pool."""
        await self._pool.close()

    @contextlib.asynccontextmanager
    async def connection(self, doing: str) -> AsyncIterator[Connection]:
        """A pooled connection; driver errors become eventledger errors naming the server.

        Integrity errors and deadlocks pass unchanged: the store decides what a constraint
        violation means, and a statement chosen as a deadlock's victim wrote nothing and may
        simply run again.
        """
        try:
            connection = await self._live_connection()
            try:
                yield connection
            finally:
                await self._pool.putconn(connection)
        except (psycopg.IntegrityError, psycopg.errors.DeadlockDetected):
            raise
        except (psycopg.Error, PoolTimeout, PoolClosed) as error:
            if isinstance(error, PoolClosed) or self._closed():
                raise StoreClosed(f"{self._label} is closed") from None
            raise translate(error, self.settings, doing) from None

    async def _live_connection(self) -> Connection:
        """A pooled connection whose server end has not hung up while it sat idle.

        After a server restart or a killed backend, idle pooled connections are dead but do not
        know it yet. A non-blocking read (no round trip) finds out: the first takes in whatever
        the server said last, the second meets the closed socket. Dead ones go back to the pool,
        which replaces them, so an append after a restart does not fail for nothing.
        """
        for _ in range(self.settings.pool_max_size):
            connection = await self._pool.getconn()
            try:
                connection.pgconn.consume_input()
                connection.pgconn.consume_input()
            except psycopg.OperationalError:
                await self._pool.putconn(connection)
                continue
            return connection
        return await self._pool.getconn()

    async def fetch(self, statement: bytes, parameters: Any, doing: str) -> list[TupleRow]:
        """Run a read; a connection lost mid-read is retried once (reads are idempotent)."""
        for attempt in (1, 2):
            try:
                async with self.connection(doing) as connection:
                    cursor = reusable_cursor(connection)
                    await cursor.execute(statement, parameters, prepare=True)
                    return await cursor.fetchall()
            except ConnectionLost:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


_CURSORS: Final[weakref.WeakKeyDictionary[Connection, psycopg.AsyncCursor[TupleRow]]] = (
    weakref.WeakKeyDictionary()
)


def reusable_cursor(connection: Connection) -> psycopg.AsyncCursor[TupleRow]:
    """The connection's own reusable cursor (a pooled connection serves one task at a time)."""
    cursor = _CURSORS.get(connection)
    if cursor is None or cursor.closed:
        cursor = _CURSORS[connection] = connection.cursor()
    return cursor
