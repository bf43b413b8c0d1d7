"""A reactor on the in-memory store: checkpoint and reactions change in one step, with no await.

The bookkeeping is a :class:`MemoryTarget` that belongs to the store object (one per store,
kept as long as the store lives), so every reactor and runner on that store sees the same
checkpoints, as they would in a database. A batch checks the lease and the checkpoint, writes
every reaction (:meth:`MemoryEventStore.append_in_order`: all or nothing) and moves the
checkpoint without an ``await`` in between, so no other task sees a part of it.
"""

from __future__ import annotations

import weakref
from typing import Any, Final

from eventledger.projections.builds import Build
from eventledger.projections.targets.base import TargetConnection
from eventledger.projections.targets.memory import MemoryTarget, MemoryTargetConnection
from eventledger.projections.targets.store import Start, StoreConnection, StoreTarget
from eventledger.store.appends import EncodedAppend
from eventledger.store.memory import MemoryEventStore

_BOOKKEEPING: Final[weakref.WeakKeyDictionary[MemoryEventStore, MemoryTarget]] = weakref.WeakKeyDictionary()


class MemoryStoreTarget(StoreTarget[MemoryEventStore]):
    """Reactions into a :class:`MemoryEventStore`."""

    def __init__(self, store: MemoryEventStore, *, start: Start = "beginning") -> None:
        bookkeeping = _BOOKKEEPING.get(store)
        if bookkeeping is None:
            bookkeeping = _BOOKKEEPING[store] = MemoryTarget()
        super().__init__(store, bookkeeping, start=start)

    def connection_for(self, bookkeeping: TargetConnection[Any]) -> MemoryStoreConnection:
        """See :meth:`StoreTarget.connection_for`."""
        assert isinstance(bookkeeping, MemoryTargetConnection)
        return MemoryStoreConnection(self.store, bookkeeping)


class MemoryStoreConnection(StoreConnection[MemoryEventStore, MemoryTargetConnection]):
    """One step: checkpoint checked, reactions written, checkpoint moved."""

    async def commit(
        self, projection: str, build: Build, expected: int, position: int, groups: list[list[EncodedAppend]]
    ) -> None:
        """See :meth:`StoreConnection.commit`."""
        current = self.bookkeeping.check_checkpoint(projection, build, expected)
        self.store.append_in_order(groups)  # raises with nothing written, before the checkpoint moves
        self.bookkeeping.move_checkpoint(current, position)
