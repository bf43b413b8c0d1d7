"""The PostgreSQL store's own connections: asyncpg, pooled, every driver error translated here.

Every statement the store runs outside a caller's transaction goes through
:class:`StoreConnections`, so every driver error is translated in one place (see
:func:`eventledger.store.drivers.postgres.translate`): a refused write is
:class:`~eventledger.errors.ReadOnlyStore`, a refused value an
:class:`~eventledger.errors.InvalidArgument`, and only a fault of the server or of the way to
it :class:`~eventledger.errors.StoreUnavailable`. The statements are written with psycopg's
placeholders, like all of the project's SQL, and rewritten once each for asyncpg
(:func:`~eventledger.store.drivers.placeholders.to_numbered`).

Transactions the caller takes part in (``writing_transaction``, inline projections) and read
models stay on psycopg, whose pipeline mode sends a batch's statements without waiting for
each answer: see :mod:`eventledger.store.drivers.postgres_pool`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from eventledger.errors import StoreClosed
from eventledger.store.drivers.asyncpg_pool import (
    DRIVER_ERRORS,
    ConnectionPool,
    PoolClosed,
    connect_arguments,
    still_in_step,
)
from eventledger.store.drivers.placeholders import to_numbered
from eventledger.store.drivers.postgres import ConnectionLost, ConnectionSettings, translate, unavailable

Row = Sequence[Any]
"""One result row (an ``asyncpg.Record``: indexable and iterable like a tuple)."""

Parameters = Sequence[Any] | Mapping[str, Any]


class StoreConnections:
    """The pooled, autocommit connections of one store.

    ``closed`` tells whether the store has been closed (errors after that are
    :class:`~eventledger.errors.StoreClosed`); ``label`` names the store in that message.
    """

    def __init__(self, settings: ConnectionSettings, closed: Callable[[], bool], label: str) -> None:
        self.settings = settings
        self._closed = closed
        self._label = label
        self._pool = ConnectionPool(
            connect_arguments(settings), min_size=settings.pool_min_size, max_size=settings.pool_max_size
        )

    async def open(self) -> None:
        """Open the pool's minimum of connections, or raise StoreUnavailable."""
        try:
            await self._pool.open()
        except DRIVER_ERRORS as error:
            raise unavailable(self.settings, "cannot fill the connection pool", error) from None

    async def close(self) -> None:
        """Close every connection of the pool."""
        await self._pool.close()

    async def run(self, statement: bytes, parameters: Parameters, doing: str) -> list[Row]:
        """Run one statement (prepared on first use) and return its rows; never sent twice.

        Driver errors become eventledger errors naming the server, except unique violations and
        deadlocks, which pass unchanged: the store decides what a constraint violation means, and
        a statement chosen as a deadlock's victim wrote nothing and may simply run again. The
        loan is written out rather than a context manager: this is every append's path.
        """
        numbered = to_numbered(statement)
        arguments = numbered.arguments(parameters)
        pool = self._pool
        tries = self.settings.pool_max_size + 1
        try:
            for attempt in range(1, tries + 1):
                connection = await pool.acquire()
                clean = False
                try:
                    rows: list[Row] = await connection.fetch(numbered.text, *arguments)
                    clean = True
                    return rows
                except asyncpg.InternalClientError as error:
                    # The server closed this idle connection (a restart, a killed backend) and
                    # asyncpg has taken in its goodbye but not yet the end of the socket: it
                    # refused to start, nothing was sent. Another connection takes the statement.
                    if attempt == tries or not _closed_before_sending(error):
                        raise
                except asyncpg.PostgresError as error:
                    clean = still_in_step(error)
                    raise
                finally:
                    pool.release(connection, clean)
            raise AssertionError("unreachable: the last try returns or raises")
        except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError):
            raise
        except (*DRIVER_ERRORS, PoolClosed) as error:
            if isinstance(error, PoolClosed) or self._closed():
                raise StoreClosed(f"{self._label} is closed") from None
            raise translate(error, self.settings, doing) from None

    async def fetch(self, statement: bytes, parameters: Parameters, doing: str) -> list[Row]:
        """Run a read; a connection lost mid-read is retried once (reads are idempotent)."""
        try:
            return await self.run(statement, parameters, doing)
        except ConnectionLost:
            return await self.run(statement, parameters, doing)


def _closed_before_sending(error: Exception) -> bool:
    """asyncpg's refusal to start an operation on a connection whose server has hung up."""
    return str(error).startswith("cannot switch to state")
