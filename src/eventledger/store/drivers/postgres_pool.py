"""Pooled psycopg connections, for SQL that callers write: read-model targets and the store's
``writing_transaction``.

psycopg stays for these because its pipeline mode sends a batch's statements without waiting
for each answer (a read-model batch's write side: 21,496 events/s pipelined against 2,965
awaiting every statement, README "Catch-up speed"; asyncpg has no pipeline for arbitrary
statements), and because it is the connection callers get in their hands. The store's own
statements run on asyncpg (:mod:`eventledger.store.drivers.postgres_store_connections`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import psycopg
import psycopg.errors
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from eventledger.errors import StoreClosed
from eventledger.store.drivers.postgres import (
    Connection,
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


class CallerConnections:
    """Pooled autocommit psycopg connections for the transactions a store lends to callers.

    Opened on first use (most processes never ask for one), with at most ``pool_max_size``
    connections.

    ``closed`` tells whether the store has been closed (errors after that are
    :class:`~eventledger.errors.StoreClosed`); ``label`` names the store in that message.
    """

    def __init__(self, settings: ConnectionSettings, closed: Callable[[], bool], label: str) -> None:
        self.settings = settings
        self._closed = closed
        self._label = label
        self._pool = new_pool(
            settings, min_size=0, max_size=settings.pool_max_size, name=f"eventledger:{settings.schema}"
        )
        self._opened = False

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
            if not self._opened:
                self._opened = True
                await self._pool.open(wait=False)
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

    @contextlib.asynccontextmanager
    async def translating(self, connection: Connection, doing: str) -> AsyncIterator[Connection]:
        """A caller's own connection, its driver errors translated as a pooled one's are."""
        try:
            yield connection
        except psycopg.IntegrityError:
            raise
        except psycopg.Error as error:
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
