"""The hook through which inline projections run inside an append's own transaction.

A store normally writes an append with its backend's fastest path (one statement, committed on
its own). When a store has an :attr:`~eventledger.store.base.EventStore.inline_appender`, every
``append`` and ``append_many`` goes to it instead: it opens a transaction on the store's
database, writes the events there (the backend's ``append_in_transaction``), lets each inline
projection apply them to its read model and move its checkpoint, and commits all of it at once.
The store layer only routes; what runs inside the transaction is
:mod:`eventledger.projections.inline`'s business (a higher layer), and how each backend keeps the
log's order and exactly-once inside it is in :mod:`.sqlite_inline` and :mod:`.postgres_inline`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from eventledger.store.appends import EncodedAppend
from eventledger.store.records import AppendResult


class InlineAppender(ABC):
    """Writes a store's appends in transactions that also apply its inline projections."""

    @abstractmethod
    async def append(self, requests: list[EncodedAppend]) -> list[AppendResult]:
        """Write ``requests`` as ``_append_many`` would (all or nothing, ConcurrencyError naming
        every stream that did not hold), with the inline projections applied in the same
        transaction; one result per request. An empty list of events is a version check."""

    @abstractmethod
    async def close(self) -> None:
        """Release what the appender holds open; the store calls it as it closes."""
