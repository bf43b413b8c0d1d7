"""asyncpg connections for the PostgreSQL store: how to open one, and a pool made for one-statement loans.

Why asyncpg for the store's own statements: it speaks the binary protocol from compiled code and
keeps every statement prepared per connection. Measured on the 2-core machine, a single-row
INSERT costs about 125 µs of client CPU with asyncpg against 240 µs with psycopg's async
connection, and the store's appends are bounded by exactly that (see docs/benchmarks.md).

Why a pool of our own: every store call borrows a connection for one autocommit statement.
asyncpg's own pool spends 40-90 µs of CPU per loan (measured: 142 µs per INSERT through
``pool.acquire()`` against 49 µs on a bare connection; 88 µs with its reset query turned off),
a third of an append. This one keeps idle connections on a stack and hands them over in a few
µs. It gives back only connections that are known to be clean: a loan that ended normally or
with an error the server reported (the connection is still in step with the server, outside
any transaction). A loan cut short any other way (cancelled mid-statement, connection lost)
closes its connection, and the next borrower opens a new one. Closing waits, in the background,
for the server to cancel a statement still running: terminating at once would also drop
asyncpg's cancel request, and the server would run the abandoned statement to its end.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, Final
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped]
from psycopg.conninfo import conninfo_to_dict

from eventledger.store.drivers.postgres import DEFAULT_CONNECT_TIMEOUT, ConnectionSettings

Connection = Any
"""An ``asyncpg.Connection`` (asyncpg ships no type information)."""

_KEYWORDS: Final = {
    "host": "host", "port": "port", "user": "user", "password": "password", "dbname": "database"
}


def connect_arguments(settings: ConnectionSettings) -> dict[str, Any]:
    """``asyncpg.connect`` keyword arguments for the libpq connection string in ``settings``.

    libpq's ``options`` (``-c name=value`` pairs) and ``application_name`` become server
    settings; ``connect_timeout`` becomes asyncpg's ``timeout``; the rest (``sslmode``,
    ``sslrootcert``, ``target_session_attrs``, ...) travel in a DSN, which asyncpg reads as
    libpq does.
    """
    params = {key: str(value) for key, value in conninfo_to_dict(settings.conninfo).items()}
    arguments: dict[str, Any] = {
        keyword: params.pop(key) for key, keyword in _KEYWORDS.items() if key in params
    }
    arguments["timeout"] = float(params.pop("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
    server_settings: dict[str, str] = {}
    if "application_name" in params:
        server_settings["application_name"] = params.pop("application_name")
    server_settings.update(_server_options(params.pop("options", "")))
    if server_settings:
        arguments["server_settings"] = server_settings
    if params:
        arguments["dsn"] = "postgresql://?" + "&".join(
            f"{key}={quote(value, safe='')}" for key, value in params.items()
        )
    # Statements are prepared once per connection and kept: the store runs few distinct ones.
    arguments["statement_cache_size"] = 256
    return arguments


def _server_options(options: str) -> dict[str, str]:
    """libpq's ``options`` value (``-c name=value -c ...``) as server settings."""
    settings: dict[str, str] = {}
    words = options.split()
    for index, word in enumerate(words):
        pair = word[2:] if word.startswith("-c") and len(word) > 2 else None
        if word == "-c" and index + 1 < len(words):
            pair = words[index + 1]
        if pair and "=" in pair:
            name, value = pair.split("=", 1)
            settings[name] = value
    return settings


class ConnectionPool:
    """At most ``max_size`` asyncpg connections, lent one statement (or a few) at a time."""

    def __init__(self, arguments: dict[str, Any], *, min_size: int, max_size: int) -> None:
        self._arguments = arguments
        self._min_size = min_size
        self._max_size = max_size
        self._idle: list[Connection] = []
        self._size = 0  # open connections, and those being opened
        self._waiters: collections.deque[asyncio.Future[Connection | None]] = collections.deque()
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    async def open(self) -> None:
        """Open the minimum number of connections (raises the driver's error if it cannot)."""
        while self._size < self._min_size:
            self._size += 1
            try:
                self._idle.append(await asyncpg.connect(**self._arguments))
            except BaseException:
                self._size -= 1
                raise

    async def acquire(self) -> Connection:
        """A connection of the pool's: give it back with :meth:`release`."""
        if self._closed:
            raise PoolClosed("the connection pool is closed")
        while self._idle:
            connection = self._idle.pop()
            if not connection.is_closed():
                return connection
            self._size -= 1  # the server hung up while it sat idle
        if self._size < self._max_size:
            return await self._open_one()
        waiter: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            handed = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Handed over just as this task was cancelled: pass it on, do not lose it.
                given = waiter.result()
                if given is None:
                    self._size -= 1
                    self._wake_one()
                else:
                    self.release(given, clean=True)
            raise
        if handed is None:  # a slot was freed: open a connection in it
            return await self._open_connection_in_freed_slot()
        return handed

    async def _open_one(self) -> Connection:
        self._size += 1
        return await self._open_connection_in_freed_slot()

    async def _open_connection_in_freed_slot(self) -> Connection:
        try:
            return await asyncpg.connect(**self._arguments)
        except BaseException:
            self._size -= 1
            self._wake_one()
            raise

    def release(self, connection: Connection, clean: bool) -> None:
        """Take back a connection lent by :meth:`acquire`; ``clean``: it is fit to lend again."""
        if self._closed or not clean or connection.is_closed() or connection.is_in_transaction():
            self._size -= 1
            self._wake_one()
            closing = asyncio.get_running_loop().create_task(_close_gracefully(connection))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _wake_one(self) -> None:
        """A slot is free: let the longest waiter open a connection in it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._size += 1
                waiter.set_result(None)
                return

    async def close(self) -> None:
        """Close every idle connection; connections on loan are closed when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            self._size -= 1
            await _close_gracefully(connection)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed("the connection pool is closed"))
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


async def _close_gracefully(connection: Connection) -> None:
    """Close ``connection``, first letting the server cancel a statement it may still be running."""
    try:
        await connection.close(timeout=5.0)
    except asyncio.CancelledError:
        connection.terminate()
        raise
    except Exception:  # a connection already lost, or a server that does not answer in time
        connection.terminate()


DRIVER_ERRORS: Final = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
"""Everything asyncpg raises for a statement: the server's errors, and a connection that broke
(asyncpg reports one the server has just closed, while it takes in the goodbye, as an
InternalClientError: "cannot switch to state ...")."""


def still_in_step(error: Exception) -> bool:
    """After a server-reported error, whether the connection is still usable.

    The server answered, so the connection is in step with it, unless the error is the server
    closing it (class 08, connection exceptions; 57P, shutting down).
    """
    return not str(getattr(error, "sqlstate", "") or "").startswith(("08", "57P"))


class PoolClosed(Exception):
    """The pool was closed while a connection was wanted."""
