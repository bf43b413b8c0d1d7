"""Inline projections on a PostgreSQL store: the append and the projections in one transaction.

Readers of the global log follow ``(transaction id, position)`` below a visibility barrier (see
:mod:`eventledger.store.postgres_statements`), because concurrent appends commit in another
order than they were numbered. An inline projection cannot wait behind that barrier: its read
model must include the append's own events when the append returns. So an inline transaction
makes itself the store's only event writer for as long as it runs, and then nothing is ahead of
it or can come behind it:

1. ``LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE`` first, before the transaction has an id.
   That mode conflicts with ROW EXCLUSIVE (what every append and every ``writing_transaction``
   holds while it writes events) and with itself. So the lock is granted only once every event
   writer that was running has ended, and until this transaction ends no other can start
   writing: plain appends and other inline appends wait for it (this is the cost of inline
   projections; it is short, as long as the handlers are).
2. Every event writer takes its events-table lock before it gets a transaction id (the
   lock-first rule). Every transaction that ever wrote events with an id below this one's has
   therefore ended before step 1 was granted: its events are committed and visible to this
   transaction's next statement (READ COMMITTED takes a new snapshot per statement), or were
   rolled back. Any later writer takes its lock after this commit, so its id is higher.
3. So the rows that come after the projection's checkpoint in ``(transaction id, position)``
   order, read without the barrier inside this transaction, are exactly the events the
   projection has not applied, this append's own last; and no event can later appear before
   them. The projection applies them and moves its checkpoint past them in the same commit.

The lock is a writer's lock as the barrier counts them (any mode stronger than ROW SHARE), so
readers of the log treat an inline transaction as they treat any append.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import psycopg

from eventledger.events import RecordedEvent
from eventledger.store.appends import EncodedAppend
from eventledger.store.drivers.postgres import Connection, connect, translate
from eventledger.store.postgres import PostgresEventStore
from eventledger.store.postgres_many import appended
from eventledger.store.postgres_schema import sql_text
from eventledger.store.postgres_statements import CURSOR_TRANSACTION, SELECTED, recorded_rows
from eventledger.store.records import AppendResult

SERIALIZED_WRITER: Final = "LOCK TABLE {events} IN SHARE ROW EXCLUSIVE MODE"
"""Step 1 of the module docstring."""

# No barrier here: holding the lock above, every row visible to the statement is committed or
# this transaction's own, and none can ever be committed before them (steps 2 and 3).
READ_AFTER: Final = """\
SELECT {selected} FROM {events} AS event
WHERE (event.transaction_id, event.position) > ({cursor}, %(after)s)
ORDER BY event.transaction_id, event.position LIMIT %(limit)s"""
"""The events after the checkpoint ``after`` in the log's order, inside an inline transaction."""

# A projection's serving build and the first page after its checkpoint, in one round trip.
# FOR UPDATE holds the build's row until commit, before any handler writes: the inline append
# already is the only event writer (the table lock), but a runner's batch on the same build is
# not an event writer; both take this row lock first (a batch by its compare-and-set UPDATE),
# so they take turns on the checkpoint and the read model's rows in one order, and the one that
# finds the checkpoint moved is refused. After waiting for such a batch, READ COMMITTED returns
# the row as that batch left it (or none, if it retired the build), and the page is read after
# that checkpoint: every event the batch applied was committed before this transaction's table
# lock, so the statement's snapshot holds all of them.
SERVING_AND_PAGE: Final = """\
WITH serving AS MATERIALIZED (
    SELECT build, version, position, tables FROM {projections}
    WHERE projection = %(projection)s AND state = 'active' AND version = %(version)s FOR UPDATE)
SELECT serving.build, serving.version, serving.position, serving.tables, page.*
FROM serving LEFT JOIN LATERAL (
    SELECT {selected} FROM {events} AS event
    WHERE (event.transaction_id, event.position) > (
        coalesce((SELECT cursor.transaction_id FROM {events} AS cursor
                  WHERE cursor.position <= serving.position
                  ORDER BY cursor.position DESC LIMIT 1), '0'::xid8),
        serving.position)
    ORDER BY event.transaction_id, event.position LIMIT %(limit)s) AS page ON true"""
"""The serving build's row of one version and the first page after its checkpoint (none: no row)."""


class PostgresInlineTransactions:
    """Inline transactions on a connection of their own to a PostgreSQL store's database."""

    def __init__(self, store: PostgresEventStore) -> None:
        self.store = store
        events = self._events = f'"{store.schema}".events'
        self._serving: dict[str, bytes] = {}
        self._lock = sql_text(SERIALIZED_WRITER.format(events=events))
        self._read_after = sql_text(
            READ_AFTER.format(
                selected=SELECTED, events=events, cursor=CURSOR_TRANSACTION.format(events=events)
            )
        )
        self._connection: Connection | None = None
        #: The transaction id the open transaction's events were written under (0: none yet).
        self._transaction_id = 0
        # One connection: one inline transaction at a time in this process (they would take
        # turns on the table lock anyway).
        self._turn = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A transaction that is the store's only event writer until it ends (module docstring).

        Commits when the block ends, rolls back if it raises; the store's own later reads of
        the log then wait until they can see what it wrote. The server's errors in the lock,
        the reads and the commit leave as this store's errors.
        """
        store = self.store
        doing = "append with inline projections"
        async with self._turn:
            connection = await self._connect()
            self._transaction_id = 0
            try:
                yield connection  # begun by append(), the transaction's first step
                await connection.execute(b"COMMIT")
            except BaseException as error:
                await self._roll_back(connection)
                if isinstance(error, psycopg.Error):
                    raise translate(error, store.settings, doing) from None
                raise
        if self._transaction_id:
            store._wrote(self._transaction_id)

    async def _roll_back(self, connection: Connection) -> None:
        """Undo the open transaction; a connection that broke is replaced next time."""
        if connection.broken or connection.closed:
            self._connection = None
            return
        try:
            await connection.execute(b"ROLLBACK")
        except psycopg.Error:
            self._connection = None
            await connection.close()

    async def _connect(self) -> Connection:
        connection = self._connection
        if connection is None or connection.broken or connection.closed:
            connection = await connect(self.store.settings, "connect for inline projections")
            self._connection = connection
        return connection

    async def append(self, connection: Connection, requests: list[EncodedAppend]) -> list[AppendResult]:
        """Begin the transaction, take the lock (step 1) and write ``requests`` (if any), all in
        one round trip: the first step of every inline transaction."""
        async with connection.pipeline():
            # Sent together, run in order: the append runs once the lock is granted, and if
            # the lock fails the append is skipped. On a read-only transaction the LOCK fails
            # as a write would (ReadOnlyStore).
            await connection.execute(b"BEGIN", prepare=False)
            await connection.execute(self._lock, prepare=True)
            if not requests:
                return []
            statement, parameters = self.store._statements.appends.to_streams(requests)
            cursor = await connection.execute(statement, parameters, prepare=True)
            rows = await cursor.fetchall()
        # No race for a version is possible here (no other transaction inserts while the lock is
        # held), so, unlike the store's own append, no rerun: only a refusal or the results.
        results, self._transaction_id = appended(requests, rows)
        return results

    async def read_after(self, connection: Connection, after: int, limit: int) -> list[RecordedEvent]:
        """Up to ``limit`` events after the checkpoint ``after``, this transaction's own included."""
        parameters: dict[str, Any] = {"after": after, "limit": limit}
        cursor = await connection.execute(self._read_after, parameters, prepare=True)
        # Decoded whole here, so an undecodable event refuses the append before any handler runs.
        return list(recorded_rows(await cursor.fetchall()))

    async def serving_and_page(
        self, connection: Connection, projections: str, name: str, version: int, limit: int
    ) -> tuple[tuple[Any, ...] | None, list[RecordedEvent]]:
        """:data:`SERVING_AND_PAGE` for the bookkeeping table ``projections`` (a qualified name
        built from validated identifiers): the build's row, and the events of the page."""
        statement = self._serving.get(projections)
        if statement is None:
            statement = self._serving[projections] = sql_text(
                SERVING_AND_PAGE.format(projections=projections, selected=SELECTED, events=self._events)
            )
        parameters = {"projection": name, "version": version, "limit": limit}
        cursor = await connection.execute(statement, parameters, prepare=True)
        rows = await cursor.fetchall()
        if not rows:
            return None, []
        events = list(recorded_rows([row[4:] for row in rows if row[4] is not None]))
        return tuple(rows[0][:4]), events

    async def close(self) -> None:
        """Close the inline connection (the store stays open)."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
