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
check and the insert (:class:`Raced`, after waiting for that appender to commit). When that
stream's expected version was ``ANY`` or ``STREAM_EXISTS``, which a newer version still
satisfies, the reactions are undone back to a savepoint taken after the checkpoint and
appended again, each on a savepoint of its own this time, so that a lost race costs one
reaction's retry; otherwise it is a conflict and the whole batch rolls back. The first try
takes one savepoint for all (a savepoint per reaction costs two round trips each), and a
batch whose reactions all name exact versions takes none.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from eventledger.backoff import Backoff
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
from eventledger.store.drivers.postgres import Connection
from eventledger.store.postgres import PostgresEventStore
from eventledger.store.postgres_many import Raced, append_in_transaction
from eventledger.store.postgres_statements import Statements

# As for the store's own appends: bounds the reruns under pathological contention.
_ATTEMPTS: Final = 50
_RACES: Final = Backoff(first=0.0005, maximum=0.02, jitter=0.5)


class PostgresStoreTarget(StoreTarget[PostgresEventStore]):
    """Reactions into a :class:`PostgresEventStore`; bookkeeping in the store's schema."""

    def __init__(self, store: PostgresEventStore, *, start: Start = "beginning") -> None:
        # No handler writes through the bookkeeping's session: a pipeline would only add a sync.
        super().__init__(store, PostgresTarget(store.settings, pipeline=False), start=start)
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
        async with self.store.writing_transaction(inner.connection) as connection:
            sql = PostgresTransaction(connection, {})
            await inner.begin_batch(sql, projection, build, expected, position)
            if not any(_may_race(group) for group in groups):
                for group in groups:  # exact versions only: a lost race is a conflict
                    await self._append_or_refuse(connection, group)
                return
            try:
                async with connection.transaction():  # one savepoint for all: the common case is no race
                    for group in groups:
                        await append_in_transaction(connection, self.statements, group)
                return
            except Raced:
                pass  # a busy stream: each reaction again, on a savepoint of its own
            for group in groups:
                await self._append_on_savepoint(connection, group)

    async def _append_or_refuse(self, connection: Connection, group: list[EncodedAppend]) -> None:
        try:
            await append_in_transaction(connection, self.statements, group)
        except Raced as race:
            raise await self._conflict(group, race.stream_id) from None

    async def _append_on_savepoint(self, connection: Connection, group: list[EncodedAppend]) -> None:
        """One source event's reaction; a lost race for a version that ``ANY`` or
        ``STREAM_EXISTS`` still accepts undoes this reaction alone and tries again."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with connection.transaction():
                    await append_in_transaction(connection, self.statements, group)
                return
            except Raced as race:
                request = next(request for request in group if request.stream_id == race.stream_id)
                if not _may_race([request]) or attempt == _ATTEMPTS:
                    raise await self._conflict(group, race.stream_id) from None
                # The winner has committed (the loser waited for it); a moment apart from it.
                await asyncio.sleep(_RACES.delay(attempt))

    async def _conflict(self, group: list[EncodedAppend], stream_id: str) -> ConcurrencyError:
        request = next(request for request in group if request.stream_id == stream_id)
        return ConcurrencyError(stream_id, request.expected, await self.store.stream_version(stream_id))


def _may_race(group: list[EncodedAppend]) -> bool:
    """Does the reaction hold a request that a lost race leaves satisfied (``ANY``, ``STREAM_EXISTS``)?"""
    return any(request.expected is ANY or request.expected is STREAM_EXISTS for request in group)
