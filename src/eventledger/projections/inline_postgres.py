"""The PostgreSQL side of inline projections (imported only when such a store exists: psycopg is optional).

The transaction, its locks (the events table's, and the serving build's row, read with the first
page after the checkpoint in one statement) and why they keep the log's order are in
:mod:`eventledger.store.postgres_inline`; this module adapts them to the generic steps of
:mod:`eventledger.projections.inline`.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from eventledger.events import RecordedEvent
from eventledger.projections.inline import InlineBackend
from eventledger.projections.sql import Row, SQLTransaction
from eventledger.projections.targets.postgres import PostgresTarget, PostgresTransaction
from eventledger.store.appends import EncodedAppend
from eventledger.store.postgres import PostgresEventStore
from eventledger.store.postgres_inline import PostgresInlineTransactions
from eventledger.store.records import AppendResult


class PostgresBackend(InlineBackend):
    """Inline transactions on a :class:`PostgresEventStore`; read models in its database."""

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

    async def serving_and_page(
        self, connection: Any, projections: str, name: str, version: int, limit: int
    ) -> tuple[Row | None, list[RecordedEvent]]:
        """One round trip, the build's row locked (see :data:`SERVING_AND_PAGE`)."""
        return await self.transactions.serving_and_page(connection, projections, name, version, limit)

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
