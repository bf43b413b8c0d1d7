"""A reactor's target: an event store, whose own database also keeps the reactor's checkpoint.

A reactor's effects are events appended to a store. :class:`StoreTarget` keeps the reactor's
builds, checkpoint, lease, dead letters and reports in an ordinary target *in that store's
database* (bookkeeping tables beside the events), so one transaction there can append a batch's
reactions and move the checkpoint together: each source event's reaction is written exactly
once, whenever the process dies. How each backend makes that one transaction is in its module
(:mod:`.store_memory`, :mod:`.store_sqlite`, :mod:`.store_postgres`).

A batch goes in two steps. The handlers run first and only collect (:class:`Reactions`), so
the transaction that follows holds the store's write lock for the writes alone, never for a
handler's reads or waits. Then, in one transaction: the lease is checked, the checkpoint moves
by compare-and-set, and every source event's reaction is appended in the order of the log, each
as one multi-stream append checked against the versions the reactions before it left. A
refused expected version rolls all of it back and fails the batch like a handler error (the
runner applies the batch one event at a time to find the event, retries it, then stops there
for an operator). A batch without reactions only moves the checkpoint.

After the commit the store's subscribers wake (readers of the same store see the reactions)
and its append observers are told, as for any append.

A reactor never replays: its effects must not repeat. A rebuild is refused, and a new version
of a reactor continues from the old version's checkpoint. A new reactor starts at the
beginning of the log (``start="beginning"``) or after the newest event (``start="end"``).
"""

from __future__ import annotations

import sys
import time
from abc import abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Generic, TypeVar

from eventledger.errors import ConcurrencyError, InvalidArgument
from eventledger.projections.builds import Build, ReadModelSchema
from eventledger.projections.reactions import Reactions
from eventledger.projections.targets.base import Target, TargetConnection
from eventledger.projections.targets.delegating import (
    BookkeepingOnly,
    DelegatingConnection,
    DelegatingTarget,
    Start,
)
from eventledger.store.appends import EncodedAppend, tell_observers
from eventledger.store.base import EventStore

__all__ = ["Start", "StoreConnection", "StoreTarget", "store_target"]

Store = TypeVar("Store", bound=EventStore)
Inner = TypeVar("Inner", bound=TargetConnection[Any])


class StoreTarget(DelegatingTarget[Reactions], Generic[Store]):
    """Appends a reactor's reactions to ``store``; its bookkeeping lives in the store's database.

    Make one with :func:`store_target`; :class:`~eventledger.projections.reactor.Reactor` does.
    Closing it closes the bookkeeping, never the store (it is the application's).
    """

    exactly_once: ClassVar[bool] = True

    def __init__(self, store: Store, bookkeeping: Target[Any], *, start: Start = "beginning") -> None:
        super().__init__(bookkeeping, start)
        self.store = store

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.store!r})"

    def describe(self) -> str:
        """The store, where the checkpoints are kept too."""
        return f"event store {self.store!r} (checkpoints in {self.bookkeeping.describe()})"

    async def connect(self) -> StoreConnection[Store, Any]:
        """A connection whose bookkeeping goes to the store's database."""
        return self.connection_for(await self.bookkeeping.connect())

    @abstractmethod
    def connection_for(self, bookkeeping: TargetConnection[Any]) -> StoreConnection[Store, Any]:
        """The backend's connection over a new bookkeeping connection."""


class StoreConnection(DelegatingConnection[Reactions], Generic[Store, Inner]):
    """A reactor's batches: handlers collect, then :meth:`commit` writes everything in one transaction."""

    no_rebuild_because = "is a reactor: its reactions must not be appended again, so it cannot be rebuilt"

    def __init__(self, store: Store, inner: Inner) -> None:
        super().__init__(inner)
        self.store = store
        self.bookkeeping = inner

    @asynccontextmanager
    async def batch(
        self, projection: ReadModelSchema[Reactions], build: Build, expected: int, position: int
    ) -> AsyncIterator[Reactions]:
        """Let the handlers collect, then commit their reactions and the checkpoint together."""
        reactions = Reactions(projection.name)
        yield reactions
        groups = reactions.groups
        if not groups:
            async with self.inner.batch(BookkeepingOnly.of(projection), build, expected, position):
                return
        observers = self.store.append_observers
        started = time.perf_counter()
        try:
            await self.commit(projection.name, build, expected, position, groups)
        except ConcurrencyError:
            tell_observers(observers, 0, time.perf_counter() - started, True)
            raise
        tell_observers(observers, reactions.event_count, time.perf_counter() - started, False)

    @abstractmethod
    async def commit(
        self, projection: str, build: Build, expected: int, position: int, groups: list[list[EncodedAppend]]
    ) -> None:
        """In one transaction of the store's database: check the lease, move the checkpoint from
        ``expected`` to ``position`` by compare-and-set, append each group (one source event's
        reaction) in order; then wake the store's subscribers. All of it, or nothing."""


def store_target(store: EventStore, *, start: Start = "beginning") -> StoreTarget[Any]:
    """The :class:`StoreTarget` for ``store`` (memory, SQLite or PostgreSQL).

    Any other store raises :class:`InvalidArgument`: exactly once needs the checkpoint and the
    events in one transaction, which only the store's own backend can open.
    """
    from eventledger.store.memory import MemoryEventStore
    from eventledger.store.sqlite import SQLiteEventStore

    if isinstance(store, MemoryEventStore):
        from eventledger.projections.targets.store_memory import MemoryStoreTarget

        return MemoryStoreTarget(store, start=start)
    if isinstance(store, SQLiteEventStore):
        from eventledger.projections.targets.store_sqlite import SQLiteStoreTarget

        return SQLiteStoreTarget(store, start=start)
    # Imported only when such a store exists, so psycopg stays optional.
    postgres = sys.modules.get("eventledger.store.postgres")
    if postgres is not None and isinstance(store, postgres.PostgresEventStore):
        from eventledger.projections.targets.store_postgres import PostgresStoreTarget

        return PostgresStoreTarget(store, start=start)
    raise InvalidArgument(
        f"a reactor needs a memory, SQLite or PostgreSQL store (its checkpoint commits with its "
        f"appends in the store's own transaction), not {type(store).__name__}"
    )
