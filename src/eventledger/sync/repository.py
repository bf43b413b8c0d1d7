"""The synchronous repository: load, save and update aggregates from synchronous code.

>>> orders = Repository(store, Order)                                  # doctest: +SKIP
>>> orders.update("order-1", lambda order: order.confirm())            # doctest: +SKIP

Loading and saving are the async :class:`~eventledger.domain.repository.Repository`'s own,
run on the store's loop thread, so snapshots, statistics and errors behave the same. The
decision of :meth:`Repository.update` runs in the calling thread, not on the loop: it is the
application's code, and a slow one must not hold up every other thread using the store.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Generic

from eventledger.domain.aggregate import IdType
from eventledger.domain.repository import AggregateClass, AggregateType, RepositoryStatistics
from eventledger.domain.repository import Repository as AsyncRepository
from eventledger.domain.retry import NO_RETRY, RetryPolicy
from eventledger.errors import ConcurrencyError, InvalidArgument
from eventledger.store.expected_version import check_expected_version
from eventledger.store.records import AppendResult
from eventledger.sync.store import EventStore


class Repository(Generic[AggregateType, IdType]):
    """Loads and saves aggregates of one class through a synchronous store.

    Takes the options of the async :class:`~eventledger.Repository` (``snapshot_every``,
    ``retry``) and is typed the same way: ``Repository[Order]``, ``Repository[Cargo, UUID]``.
    Safe to share between threads.
    """

    def __init__(
        self,
        store: EventStore,
        aggregate_class: AggregateClass[AggregateType, IdType],
        *,
        snapshot_every: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not isinstance(store, EventStore):
            raise InvalidArgument(
                f"eventledger.sync.Repository needs a store from eventledger.sync.open_store, not {store!r}"
            )
        self.store = store
        self._repository = AsyncRepository(
            store.async_store, aggregate_class, snapshot_every=snapshot_every, retry=retry
        )
        self.aggregate_class = self._repository.aggregate_class

    @property
    def statistics(self) -> RepositoryStatistics:
        """What this repository has done (see :class:`~eventledger.domain.RepositoryStatistics`)."""
        return self._repository.statistics

    @property
    def retry(self) -> RetryPolicy:
        """The policy of :meth:`update`."""
        return self._repository.retry

    def load(
        self, aggregate_id: IdType, *, version: int | None = None, as_of: datetime | None = None
    ) -> AggregateType:
        """The aggregate as its stored events make it, now or at a past point (see the async one)."""
        return self.store.portal.call(self._repository.load(aggregate_id, version=version, as_of=as_of))

    def save(self, aggregate: AggregateType, *, metadata: Mapping[str, Any] | None = None) -> AppendResult:
        """Append the aggregate's uncommitted events, expecting the version it was loaded at."""
        return self.store.portal.call(self._repository.save(aggregate, metadata=metadata))

    def take_snapshot(self, aggregate: AggregateType) -> bool:
        """Save a snapshot of a saved aggregate now; False (logged) when the store refused it."""
        return self.store.portal.call(self._repository.take_snapshot(aggregate))

    def update(
        self,
        aggregate_id: IdType,
        decision: Callable[[AggregateType], object],
        *,
        expected_version: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> AggregateType:
        """Load, run ``decision`` on the aggregate (in this thread), save; retry on conflicts.

        The semantics are the async :meth:`~eventledger.Repository.update`'s: a
        :class:`~eventledger.ConcurrencyError` reloads and decides again as the retry policy
        allows (the back-off sleeps this thread), other errors propagate at once, and an
        ``expected_version`` that does not hold raises at once, never retried. A ``decision``
        that returns an awaitable has it awaited on the store's loop.
        """
        stream_id = self.aggregate_class.stream_id_for(aggregate_id)
        if expected_version is not None:
            check_expected_version(stream_id, expected_version)
            if not isinstance(expected_version, int):
                raise InvalidArgument(f"expected_version of {stream_id!r} must be a version number")

        def attempt() -> AggregateType:
            aggregate = self.load(aggregate_id)
            if expected_version is not None and aggregate.version != expected_version:
                raise ConcurrencyError(stream_id, expected_version, aggregate.version)
            outcome = decision(aggregate)
            if inspect.isawaitable(outcome):
                self.store.portal.call(_awaited(outcome))
            self.save(aggregate, metadata=metadata)
            return aggregate

        policy = self.retry if expected_version is None else NO_RETRY
        return policy.run_blocking(attempt, on_conflict=self._count_conflict)

    def _count_conflict(self, error: ConcurrencyError) -> None:
        # The statistics are the async repository's, written on the loop thread only.
        self.store.portal.call_soon(lambda: self._repository._count_conflict(error))


async def _awaited(outcome: Any) -> None:
    await outcome
