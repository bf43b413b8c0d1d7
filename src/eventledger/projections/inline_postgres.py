"""The PostgreSQL side of inline projections (imported only when such a store exists: psycopg is optional).

The transaction, its lock and why it keeps the log's order are in
:mod:`eventledger.store.postgres_inline`. Here: the serving build's row is read ``FOR UPDATE``
before any handler runs, so a runner's batch on the same build (which takes that row lock first
too, by its compare-and-set) and an inline append take turns on the checkpoint and the read
model's rows in one order, and never deadlock over them.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from eventledger.events import RecordedEvent
from eventledger.projections.inline import InlineBackend
from eventledger.projections.sql import SQLTransaction
from eventledger.projections.targets.postgres import PostgresTarget, PostgresTransaction
from eventledger.store.appends import EncodedAppend
from eventledger.store.postgres import PostgresEventStore
from eventledger.store.postgres_inline import PostgresInlineTransactions
from eventledger.store.records import AppendResult


class PostgresBackend(InlineBackend):
    """Inline transactions on a :class:`PostgresEventStore`; read models in its database."""

    # The serving build's row, locked before any handler writes: an inline append already is
    # the only event writer (the table lock), but a runner's batch on the same build is not an
    # event writer. Both take this row lock first (a batch by its compare-and-set UPDATE), so
    # they take turns on the checkpoint and the read model's rows in one order: one waits, and
    # the one that finds the checkpoint moved is refused, never both applied.
    lock_row = " FOR UPDATE"

    def __init__(self, store: PostgresEventStore) -> None:
        self.store = store
        self.transactions = PostgresInlineTransactions(store)

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """See :meth:`PostgresInlineTransactions.transaction`."""
        return self.transactions.transaction()

    def session(self, connection: Any) -> SQLTransaction:
        """A :class:`PostgresTransaction` on the inline connection."""
        return PostgresTransaction(connection, {})

    async def append(self, connection: Any, requests: list[EncodedAppend]) -> list[AppendResult]:
        """See :meth:`PostgresInlineTransactions.append`."""
        return await self.transactions.append(connection, requests)

    async def read_after(self, connection: Any, after: int, limit: int) -> list[RecordedEvent]:
        """See :meth:`PostgresInlineTransactions.read_after`."""
        return await self.transactions.read_after(connection, after, limit)

    def holds(self, target: object) -> str | None:
        """Same server and database as the store (any schema)."""
        if not isinstance(target, PostgresTarget):
            return f"its target is {target!r}, not a PostgresTarget on the store's database"
        mine, theirs = self.store.settings, target.settings
        if (mine.host, mine.port, mine.database) != (theirs.host, theirs.port, theirs.database):
            return f"its read model is in {target.describe()}, not in the store's database"
        return None

    def qualify(self, target: Any, name: str) -> str:
        """``"schema"."name"`` in the target's schema."""
        assert isinstance(target, PostgresTarget)
        return target.qualify(name)

    async def close(self) -> None:
        """Close the inline connection."""
        await self.transactions.close()
