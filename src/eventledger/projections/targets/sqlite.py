"""A read model in a SQLite file: the event store's own file or another one (stdlib ``sqlite3``).

Each batch is one ``BEGIN IMMEDIATE`` transaction: it takes SQLite's single write lock before
reading the checkpoint, so the compare-and-set, the handlers' writes and the lease check see
one consistent file. While another connection (the store appending, another runner) holds the
lock, the batch sleeps asynchronously and retries until ``lock_timeout``.

The lease is a row with an expiry (see :mod:`eventledger.projections.leases`), renewed inside
every batch transaction.

Parameters are adapted the way a read model usually wants them in SQLite: ``Decimal`` and
``UUID`` become text, ``datetime`` becomes ISO 8601 text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

from eventledger.errors import StoreUnavailable
from eventledger.projections.checkpoints import CheckpointTables
from eventledger.projections.leases import LeaseRows
from eventledger.projections.sql import (
    Dialect,
    Parameters,
    Row,
    RowMapping,
    SQLTransaction,
    quote_identifier,
)
from eventledger.projections.targets.base import Bookkeeping, Target
from eventledger.projections.targets.row_leases import RowLeaseConnection
from eventledger.projections.targets.sql import read_sql_bookkeeping, read_sql_segments
from eventledger.store.drivers.options import option, positive_seconds, target_prefix
from eventledger.store.drivers.placeholders import to_qmark
from eventledger.store.drivers.sqlite import (
    DEFAULT_SYNCHRONOUS,
    LockWait,
    configure,
    connect,
    synchronous_mode,
    use_wal,
)


def _adapt(value: Any) -> Any:
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# Values sqlite3 binds as they are. Checked by exact type, once per value: the general
# ``isinstance`` checks per value and per statement took a third of a batch under cProfile.
_PLAIN: frozenset[type] = frozenset({str, int, float, bytes, bool, type(None)})


# Statements already rewritten for sqlite3: a plain dict lookup per statement is half the cost
# of the general cache's; cleared when it grows past what a read model's handlers ever issue.
_QMARKS: dict[str, str] = {}


def _rewrite(statement: str) -> str:
    if len(_QMARKS) >= 4096:
        _QMARKS.clear()
    rewritten = _QMARKS[statement] = to_qmark(statement)
    return rewritten


def adapt_parameters(parameters: Parameters) -> Any:
    """``parameters`` as ``sqlite3`` binds them: ``Decimal`` and ``UUID`` as text, times as ISO 8601."""
    kind = type(parameters)
    if kind is tuple or kind is list:
        for value in parameters:
            if type(value) not in _PLAIN:
                return tuple(_adapt(value) for value in parameters)
        return parameters
    if isinstance(parameters, Mapping):
        return {key: _adapt(value) for key, value in parameters.items()}
    return tuple(_adapt(value) for value in parameters)


class SQLiteTransaction(SQLTransaction):
    """A :class:`SQLTransaction` on a ``sqlite3`` connection."""

    dialect: Dialect = "sqlite"

    def __init__(self, db: sqlite3.Connection, tables: Mapping[str, str] | Callable[[str], str]) -> None:
        super().__init__(tables)
        self._db = db
        # One cursor for every ``execute``: a new cursor per statement cost about a tenth of
        # a handler's statement (the reads keep cursors of their own, consumed before returning).
        self._cursor = db.cursor()

    @property
    def connection(self) -> sqlite3.Connection:
        """The ``sqlite3`` connection."""
        return self._db

    async def execute(self, statement: str, parameters: Parameters = ()) -> int:
        """Run one statement; the number of rows it changed."""
        if type(parameters) is tuple:  # the common case, checked here without a call
            for value in parameters:
                if type(value) not in _PLAIN:
                    parameters = adapt_parameters(parameters)
                    break
        else:
            parameters = adapt_parameters(parameters)
        return self._cursor.execute(_QMARKS.get(statement) or _rewrite(statement), parameters).rowcount

    async def execute_many(self, statement: str, rows: Iterable[Parameters]) -> None:
        """Run one statement once per parameter row."""
        self._db.executemany(to_qmark(statement), (adapt_parameters(row) for row in rows))

    async def fetch_one(self, statement: str, parameters: Parameters = ()) -> Row | None:
        """The first row, or None."""
        row = self._db.execute(to_qmark(statement), adapt_parameters(parameters)).fetchone()
        return None if row is None else tuple(row)

    async def fetch_all(self, statement: str, parameters: Parameters = ()) -> list[Row]:
        """Every row."""
        return [tuple(row) for row in self._db.execute(to_qmark(statement), adapt_parameters(parameters))]

    async def fetch_mapping(self, statement: str, parameters: Parameters = ()) -> RowMapping | None:
        """The first row by column name, or None."""
        cursor = self._db.execute(to_qmark(statement), adapt_parameters(parameters))
        row = cursor.fetchone()
        return None if row is None else dict(zip(_column_names(cursor), row, strict=True))

    async def fetch_mappings(self, statement: str, parameters: Parameters = ()) -> list[RowMapping]:
        """Every row by column name."""
        cursor = self._db.execute(to_qmark(statement), adapt_parameters(parameters))
        rows = cursor.fetchall()
        names = _column_names(cursor)
        return [dict(zip(names, row, strict=True)) for row in rows]


def _column_names(cursor: sqlite3.Cursor) -> list[str]:
    return [column[0] for column in cursor.description or ()]


class SQLiteTarget(Target[SQLTransaction]):
    """A read model in the SQLite file at ``path`` (created when missing; WAL mode).

    ``prefix`` names the bookkeeping tables (``eventledger_projections``,
    ``eventledger_dead_letters``, ``eventledger_leases``). ``lock_timeout`` is how long a batch
    waits for the file's write lock before failing (seconds, > 0). ``synchronous`` is ``full``
    by default, like the store's: a committed batch and its checkpoint survive power loss.
    A bad option raises :class:`~eventledger.errors.InvalidArgument` naming it.
    """

    segmentable: ClassVar[bool] = True

    def __init__(
        self,
        path: str | Path,
        *,
        prefix: str = "eventledger_",
        lock_timeout: float = 30.0,
        synchronous: str = DEFAULT_SYNCHRONOUS,
    ) -> None:
        self.prefix = option("prefix", prefix, target_prefix)
        self.lock_timeout = option("lock_timeout", lock_timeout, positive_seconds)
        self.synchronous = option("synchronous", synchronous, synchronous_mode)
        self.path = Path(path)
        self.where = f"SQLite read model {str(self.path)!r}"
        #: Waits out another connection's lock, up to ``lock_timeout``.
        self.locks = LockWait(self.lock_timeout, self.where)
        self.checkpoints = CheckpointTables(
            "sqlite", quote_identifier(f"{prefix}projections"), quote_identifier(f"{prefix}dead_letters")
        )
        self.leases = LeaseRows(quote_identifier(f"{prefix}leases"))
        self._ready = False
        self._reader: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SQLiteTarget({str(self.path)!r})"

    def describe(self) -> str:
        """``sqlite:<path>``."""
        return f"sqlite:{self.path}"

    async def connect(self) -> SQLiteTargetConnection:
        """A connection for one projection worker (creates the bookkeeping tables once)."""
        connection = SQLiteTargetConnection(self)
        if not self._ready:
            await connection.create_bookkeeping()
            self._ready = True
        return connection

    def open_database(self) -> sqlite3.Connection:
        """A new ``sqlite3`` connection on the file, in autocommit mode, WAL, short busy timeout."""
        try:
            db = connect(self.path)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"cannot open {self.where}: {error}") from error
        configure(db, synchronous=self.synchronous, wal=False, where=self.where)
        return db

    def read(self) -> AbstractAsyncContextManager[SQLTransaction]:
        """A read transaction on the read model; ``table(name)`` gives the name readers query."""
        return self._read()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[SQLTransaction]:
        if self._reader is None:
            self._reader = self.open_database()
        db = self._reader
        await self.locks.run(lambda: db.execute("BEGIN"), "begin reading")
        try:
            yield SQLiteTransaction(db, quote_identifier)
        finally:
            db.execute("ROLLBACK")

    async def read_segments(self, projection: str, number: int) -> dict[int, int]:
        """See :meth:`Target.read_segments`."""
        return await read_sql_segments(self.read, self.checkpoints, projection, number, _missing_table)

    async def read_bookkeeping(self, projection: str) -> Bookkeeping:
        """See :meth:`Target.read_bookkeeping` (read-only transactions; never blocks a runner)."""
        return await read_sql_bookkeeping(self.read, self.checkpoints, projection, _missing_table)

    async def close(self) -> None:
        """Close the reading connection."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _missing_table(error: Exception) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "no such table" in str(error)


class SQLiteTargetConnection(RowLeaseConnection):
    """One worker's ``sqlite3`` connection to a :class:`SQLiteTarget`; its lease is a row."""

    def __init__(self, target: SQLiteTarget) -> None:
        super().__init__(target.checkpoints, target.leases)
        self.target = target
        self._db = target.open_database()

    @property
    def database(self) -> sqlite3.Connection:
        """The worker's ``sqlite3`` connection (autocommit mode)."""
        return self._db

    async def create_bookkeeping(self) -> None:
        """WAL mode and the bookkeeping tables (idempotent, safe across processes)."""
        db, where = self._db, self.target.where
        await self.target.locks.run(lambda: use_wal(db, where), "turn on WAL mode")
        async with self.transaction({}) as sql:
            await self.checkpoints.create(sql)
            await sql.execute(self.target.leases.create_statement())

    @asynccontextmanager
    async def transaction(self, tables: Mapping[str, str]) -> AsyncIterator[SQLTransaction]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception (cancellation too)."""
        db = self._db
        await self.target.locks.run(lambda: db.execute("BEGIN IMMEDIATE"), "begin a write transaction")
        try:
            yield SQLiteTransaction(db, tables)
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    def read_transaction(self) -> AbstractAsyncContextManager[SQLTransaction]:
        """A deferred transaction: reading needs no write lock (WAL readers never wait)."""
        return self._read_transaction()

    @asynccontextmanager
    async def _read_transaction(self) -> AsyncIterator[SQLTransaction]:
        db = self._db
        await self.target.locks.run(lambda: db.execute("BEGIN"), "begin reading")
        try:
            yield SQLiteTransaction(db, {})
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")

    async def lock_projection(self, sql: SQLTransaction, projection: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already made this the file's only writer."""

    def qualify(self, name: str) -> str:
        """A quoted table name."""
        return quote_identifier(name)

    async def close(self) -> None:
        """Release the lease and close the connection."""
        try:
            await self.release_lease()
        finally:
            self._db.close()
