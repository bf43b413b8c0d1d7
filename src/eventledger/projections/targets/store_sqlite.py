"""A reactor on a SQLite store: one ``BEGIN IMMEDIATE`` transaction on the store's file.

The bookkeeping tables (``{prefix}eventledger_projections``, leases, dead letters, reports) live
in the store's own file, written through the worker's own connection. A batch runs
:meth:`SQLiteEventStore.writing_transaction` on that connection: ``BEGIN IMMEDIATE`` takes the
file's one write lock before anything is read, so the lease row, the checkpoint's
compare-and-set and the stream versions the reactions are checked against stay true until
``COMMIT``, and the reactions and the checkpoint become durable together (``synchronous=full``).
"""

from __future__ import annotations

from typing import Any

from eventledger.projections.builds import Build
from eventledger.projections.targets.base import TargetConnection
from eventledger.projections.targets.sqlite import SQLiteTarget, SQLiteTargetConnection, SQLiteTransaction
from eventledger.projections.targets.store import Start, StoreConnection, StoreTarget
from eventledger.store.appends import EncodedAppend
from eventledger.store.sqlite import SQLiteEventStore


class SQLiteStoreTarget(StoreTarget[SQLiteEventStore]):
    """Reactions into a :class:`SQLiteEventStore`; bookkeeping in the same file."""

    def __init__(self, store: SQLiteEventStore, *, start: Start = "beginning") -> None:
        bookkeeping = SQLiteTarget(
            store.path, prefix=f"{store.prefix}eventledger_", lock_timeout=store.lock_timeout
        )
        super().__init__(store, bookkeeping, start=start)

    def connection_for(self, bookkeeping: TargetConnection[Any]) -> SQLiteStoreConnection:
        """See :meth:`StoreTarget.connection_for`."""
        assert isinstance(bookkeeping, SQLiteTargetConnection)
        return SQLiteStoreConnection(self.store, bookkeeping)


class SQLiteStoreConnection(StoreConnection[SQLiteEventStore, SQLiteTargetConnection]):
    """One ``BEGIN IMMEDIATE`` transaction per batch, on the worker's connection to the store's file."""

    async def commit(
        self, projection: str, build: Build, expected: int, position: int, groups: list[list[EncodedAppend]]
    ) -> None:
        """See :meth:`StoreConnection.commit`."""
        inner = self.bookkeeping
        async with self.store.writing_transaction(inner.database) as db:
            await inner.begin_batch(SQLiteTransaction(db, {}), projection, build, expected, position)
            for group in groups:
                self.store.append_in_transaction(db, group)
