"""A reactor on a PostgreSQL store: one writing transaction on the worker's own connection.

The bookkeeping tables live in the store's schema, written through the worker's connection,
which also holds the reactor's lease (a session advisory lock), so a batch can only commit
while the lease is held. A batch is :meth:`PostgresEventStore.writing_transaction` on that
connection: it locks the events table first, before the transaction has an id (the lock-first
rule that keeps readers of the global log from skipping, see
:mod:`eventledger.store.postgres_statements`); then the checkpoint's compare-and-set, whose row
lock makes a competing runner wait and then fail; then each reaction, as
:func:`~eventledger.store.postgres_many.append_in_transaction` writes a multi-stream append.

Appenders are not serialised, so another may take a version a reaction aimed at between the
check and the insert (:class:`Raced`): the whole transaction rolls back and, when that
stream's expected version was ``ANY`` or ``STREAM_EXISTS`` (which a newer version still
satisfies), runs again with the same reactions; otherwise it is a conflict.
"""

from __future__ import annotations

from typing import Any, Final

from eventledger.errors import ConcurrencyError
from eventledger.projections.builds import Build
from eventledger.projections.targets.base import TargetConnection
from eventledger.projections.targets.postgres import (
    PostgresTarget,
    PostgresTargetConnection,
    PostgresTransaction,
)
from eventledger.projections.targets.store import Start, StoreConnection, StoreTarget
from eventledger.store.appends import EncodedAppend
from eventledger.store.base import ANY, STREAM_EXISTS
from eventledger.store.postgres import PostgresEventStore
from eventledger.store.postgres_many import Raced, append_in_transaction
from eventledger.store.postgres_statements import Statements

# As for the store's own appends: bounds the reruns under pathological contention.
_ATTEMPTS: Final = 50


class PostgresStoreTarget(StoreTarget[PostgresEventStore]):
    """Reactions into a :class:`PostgresEventStore`; bookkeeping in the store's schema."""

    def __init__(self, store: PostgresEventStore, *, start: Start = "beginning") -> None:
        super().__init__(store, PostgresTarget(store.settings), start=start)
        self.statements = Statements.for_schema(store.schema)

    def connection_for(self, bookkeeping: TargetConnection[Any]) -> PostgresStoreConnection:
        """See :meth:`StoreTarget.connection_for`."""
        assert isinstance(bookkeeping, PostgresTargetConnection)
        return PostgresStoreConnection(self.store, bookkeeping, self.statements)


class PostgresStoreConnection(StoreConnection[PostgresEventStore, PostgresTargetConnection]):
    """One writing transaction per batch, on the connection that holds the lease."""

    def __init__(
        self, store: PostgresEventStore, inner: PostgresTargetConnection, statements: Statements
    ) -> None:
        super().__init__(store, inner)
        self.statements = statements

    async def commit(
        self, projection: str, build: Build, expected: int, position: int, groups: list[list[EncodedAppend]]
    ) -> None:
        """See :meth:`StoreConnection.commit`."""
        inner = self.bookkeeping
        for _attempt in range(_ATTEMPTS):
            try:
                async with self.store.writing_transaction(inner.connection) as connection:
                    sql = PostgresTransaction(connection, {})
                    await inner.begin_batch(sql, projection, build, expected, position)
                    for group in groups:
                        await append_in_transaction(connection, self.statements, group)
                return
            except Raced as race:
                request = next(r for group in groups for r in group if r.stream_id == race.stream_id)
                if request.expected is ANY or request.expected is STREAM_EXISTS:
                    continue
                actual = await self.store.stream_version(race.stream_id)
                raise ConcurrencyError(race.stream_id, request.expected, actual) from None
        first = groups[0][0]
        actual = await self.store.stream_version(first.stream_id)
        raise ConcurrencyError(first.stream_id, first.expected, actual)
