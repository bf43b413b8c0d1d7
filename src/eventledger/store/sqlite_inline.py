"""Inline projections on a SQLite store: the append and the projections in one ``BEGIN IMMEDIATE``.

Why the order of the log and exactly-once hold without anything more: ``BEGIN IMMEDIATE`` takes
the file's single write lock before anything is read, and every writer of the file (the store's
own appends, other processes' stores, projection runners) needs that lock. So inside the
transaction every event in the file is committed except this append's own, positions are dense
and in commit order, nothing can be added before them until ``COMMIT``, and the checkpoint row
read there stays true until then. Reading "every event after the checkpoint" on the
transaction's own connection therefore returns exactly the events not yet applied, this
append's included, in the log's order, and the checkpoint moves with them in the same commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from eventledger.events import RecordedEvent
from eventledger.store.appends import EncodedAppend
from eventledger.store.drivers.sqlite import configure, connect
from eventledger.store.records import AppendResult
from eventledger.store.rows import RowPage
from eventledger.store.sqlite import SQLiteEventStore, _uuid_from_text, from_microseconds


class SQLiteInlineTransactions:
    """Transactions on a connection of their own to a SQLite store's file, one at a time."""

    def __init__(self, store: SQLiteEventStore) -> None:
        self.store = store
        self._db: sqlite3.Connection | None = None
        # One connection, so one transaction on it at a time within the process (other
        # processes and connections wait for the file's write lock instead).
        self._turn = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` on the inline connection (see the module docstring)."""
        async with self._turn, self.store.writing_transaction(self._connection()) as db:
            yield db

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            store = self.store
            where = f"SQLite file {str(store.path)!r}"
            try:
                db = connect(store.path)
                configure(db, synchronous=store._synchronous, wal=False, where=where)
            except sqlite3.Error as error:
                raise store._store_error(error, "open a connection for inline projections") from error
            self._db = db
        return self._db

    def append(self, db: sqlite3.Connection, requests: list[EncodedAppend]) -> list[AppendResult]:
        """Write ``requests`` in the open transaction (nothing for an empty list)."""
        return self.store.append_in_transaction(db, requests) if requests else []

    def read_after(self, db: sqlite3.Connection, after: int, limit: int) -> list[RecordedEvent]:
        """Up to ``limit`` events after position ``after``, this transaction's own included."""
        try:
            rows = db.execute(self.store._sql.read_all, (after, limit)).fetchall()
        except sqlite3.Error as error:
            raise self.store._store_error(error, f"read the log after position {after}") from error
        # Decoded whole here, so an undecodable event refuses the append before any handler runs.
        return list(RowPage(rows, event_id=_uuid_from_text, recorded_at=from_microseconds))

    def close(self) -> None:
        """Close the inline connection (the store stays open)."""
        if self._db is not None:
            self._db.close()
            self._db = None


__all__ = ["SQLiteInlineTransactions"]
