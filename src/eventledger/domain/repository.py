"""Loading and saving aggregates: the bridge between an Aggregate class and the event store.

The expected version of every save is the version the aggregate was loaded at, so a save made
on stale state fails with :class:`~eventledger.ConcurrencyError` instead of overwriting what
another writer decided. :meth:`Repository.update` turns that into the usual command loop:
load, decide, save, and on a conflict start again from a fresh load. Saving several aggregates
in one commit is :class:`~eventledger.domain.unit_of_work.UnitOfWork`'s job; loading one as it
was at a past version or time is :mod:`eventledger.domain.history`'s, reached through
:meth:`Repository.load`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, cast

from typing_extensions import TypeVar

from eventledger.domain import history, snapshots
from eventledger.domain.aggregate import Aggregate, IdType
from eventledger.domain.retry import NO_RETRY, RetryPolicy
from eventledger.errors import AggregateNotFound, ConcurrencyError, InvalidArgument
from eventledger.store.base import EventStore
from eventledger.store.expected_version import check_expected_version
from eventledger.store.records import AppendResult

logger = logging.getLogger(__name__)

AggregateType = TypeVar("AggregateType", bound=Aggregate[Any])
Created = TypeVar("Created", bound=Aggregate[Any], covariant=True)
Identifier = TypeVar("Identifier", contravariant=True)


class AggregateClass(Protocol[Created, Identifier]):
    """An Aggregate subclass seen as what a repository needs: a maker of blank aggregates by id.

    It lets ``Repository(store, Cargo)`` infer both the aggregate class and its id type.
    """

    def new(self, aggregate_id: Identifier, /) -> Created:
        """A blank aggregate with the id ``aggregate_id``."""
        ...


@dataclass(slots=True)
class RepositoryStatistics:
    """Counters of what a repository has done, for tests and monitoring."""

    loads: int = 0
    #: Events read from the store while loading (snapshots make this small).
    events_read: int = 0
    snapshots_used: int = 0
    snapshots_ignored: int = 0
    snapshots_saved: int = 0
    snapshot_failures: int = 0
    saves: int = 0
    #: ConcurrencyErrors met by :meth:`Repository.update` (each retried unless it was the last).
    conflicts: int = 0


class Repository(Generic[AggregateType, IdType]):
    """Loads and saves aggregates of one class in an event store, by their typed ids.

    Its type is ``Repository[Order]`` for string ids, ``Repository[Cargo, UUID]`` for an
    ``Aggregate[UUID]`` (both inferred from the class given).

    ``snapshot_every``: when set, a snapshot is saved each time a save carries the stream past
    a multiple of it, whenever a load had to replay at least that many events, and whenever a
    load found a snapshot it could not use (another schema version); loads start from the
    latest snapshot. ``retry`` is the policy of :meth:`update`.

    >>> async def example(store: EventStore) -> None:
    ...     orders = Repository(store, Order, snapshot_every=100)
    ...     order = await orders.load("order-1")
    ...     order.confirm()
    ...     await orders.save(order)
    """

    def __init__(
        self,
        store: EventStore,
        aggregate_class: AggregateClass[AggregateType, IdType],
        *,
        snapshot_every: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not (isinstance(aggregate_class, type) and issubclass(aggregate_class, Aggregate)):
            raise InvalidArgument(f"Repository needs an Aggregate subclass, not {aggregate_class!r}")
        if snapshot_every is not None and (
            isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int) or snapshot_every < 1
        ):
            raise InvalidArgument(f"snapshot_every must be an int >= 1 or None, not {snapshot_every!r}")
        self.store = store
        # What the protocol cannot say: it is that class itself.
        self.aggregate_class = cast(type[AggregateType], aggregate_class)
        self.snapshot_every = snapshot_every
        self.retry = retry if retry is not None else RetryPolicy()
        self.statistics = RepositoryStatistics()

    async def load(
        self, aggregate_id: IdType, *, version: int | None = None, as_of: datetime | None = None
    ) -> AggregateType:
        """The aggregate as its stored events make it: now, or as it was at a past point.

        Raises :class:`~eventledger.AggregateNotFound` when its stream has no events.

        ``version=N`` gives the aggregate as its first N events made it (a snapshot at or below
        N may serve; one above N never does). ``as_of=moment`` (a timezone-aware datetime)
        gives it as the events recorded at or before that moment made it: the stream is
        replayed in version order up to its first event recorded later. These are the answers
        to "what did it look like then"; they never write a snapshot. Asking for a version the
        stream never reached raises :class:`~eventledger.InvalidArgument`; version 0, or a
        moment before the stream's first event, :class:`~eventledger.AggregateNotFound`.
        Saving an aggregate loaded at a past point fails with
        :class:`~eventledger.ConcurrencyError` if the stream has moved on since, as any stale
        save does.
        """
        stream_id = self.aggregate_class.stream_id_for(aggregate_id)
        if version is not None or as_of is not None:
            return await self._load_then(aggregate_id, history.point_in_history(version, as_of))
        aggregate, stale_snapshot = await self._from_snapshot(aggregate_id)
        replayed = None if aggregate is None else await self._replay_after_snapshot(aggregate)
        if aggregate is not None:
            if replayed is None:
                stale_snapshot = True
                self.statistics.snapshots_ignored += 1
            else:
                self.statistics.snapshots_used += 1
        if aggregate is None or replayed is None:
            aggregate = self.aggregate_class.new(aggregate_id)
            replayed = 0
            async for recorded in self.store.read_stream(stream_id):
                aggregate._replay(recorded)
                replayed += 1
        self.statistics.loads += 1
        self.statistics.events_read += replayed
        if aggregate.version == 0:
            raise AggregateNotFound(stream_id, self.aggregate_class.__aggregate_type__)
        if self.snapshot_every is not None and (stale_snapshot or replayed >= self.snapshot_every):
            await self._take_snapshot(aggregate)
        return aggregate

    async def save(
        self, aggregate: AggregateType, *, metadata: Mapping[str, Any] | None = None
    ) -> AppendResult:
        """Append the aggregate's uncommitted events, expecting the version it was loaded at.

        A new aggregate expects no stream. Raises :class:`~eventledger.ConcurrencyError` (and
        keeps the uncommitted events) when the stream moved on; on success the uncommitted
        events are cleared. ``metadata`` (correlation and causation ids, user keys) is stored
        with each event. Saving an aggregate with nothing uncommitted touches nothing.
        """
        self._check_aggregate(aggregate)
        events = aggregate.uncommitted_events
        if not events:
            return AppendResult(aggregate.stream_id, aggregate.version, ())
        expected = aggregate.committed_version
        result = await self.store.append(
            aggregate.stream_id, events, expected_version=expected, metadata=metadata
        )
        await self._saved(aggregate, expected, result)
        return result

    async def update(
        self,
        aggregate_id: IdType,
        decision: Callable[[AggregateType], object],
        *,
        expected_version: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> AggregateType:
        """Load the aggregate, run ``decision`` on it (a command method), save; retry on conflicts.

        ``decision`` may be async. On :class:`~eventledger.ConcurrencyError` the aggregate is
        loaded afresh and ``decision`` runs again, as the repository's :class:`RetryPolicy`
        allows; the last conflict propagates. Other errors (a broken rule, a missing aggregate)
        propagate at once. Returns the saved aggregate (its ``version`` is the new one).

        ``expected_version`` is a version the caller saw (an HTTP ``If-Match``): the aggregate
        must still be at it, checked on load and again by the save, and a mismatch raises
        :class:`~eventledger.ConcurrencyError` at once, never retried.
        """
        stream_id = self.aggregate_class.stream_id_for(aggregate_id)
        if expected_version is not None:
            check_expected_version(stream_id, expected_version)
            if not isinstance(expected_version, int):
                raise InvalidArgument(f"expected_version of {stream_id!r} must be a version number")

        async def attempt() -> AggregateType:
            aggregate = await self.load(aggregate_id)
            if expected_version is not None and aggregate.version != expected_version:
                raise ConcurrencyError(stream_id, expected_version, aggregate.version)
            outcome = decision(aggregate)
            if inspect.isawaitable(outcome):
                await outcome
            await self.save(aggregate, metadata=metadata)
            return aggregate

        policy = self.retry if expected_version is None else NO_RETRY
        return await policy.run(attempt, on_conflict=self._count_conflict)

    def _check_aggregate(self, aggregate: object) -> None:
        """Raise :class:`~eventledger.InvalidArgument` unless this repository saves ``aggregate``."""
        if not isinstance(aggregate, self.aggregate_class):
            raise InvalidArgument(
                f"this repository saves {self.aggregate_class.__qualname__}, "
                f"not {type(aggregate).__qualname__}"
            )

    async def take_snapshot(self, aggregate: AggregateType) -> bool:
        """Save a snapshot of a saved aggregate now; False (logged) when the store refused it."""
        return await self._take_snapshot(aggregate)

    async def _saved(self, aggregate: AggregateType, expected: int, result: AppendResult) -> None:
        """After ``aggregate``'s uncommitted events were stored (by :meth:`save` or a unit of
        work) expecting version ``expected``: forget them, count the save, and snapshot it when
        the append carried the stream past a multiple of ``snapshot_every``."""
        aggregate._mark_committed()
        self.statistics.saves += 1
        if self.snapshot_every is not None and result.version // self.snapshot_every > (
            expected // self.snapshot_every
        ):
            await self._take_snapshot(aggregate)

    async def _load_then(self, aggregate_id: IdType, point: history.PointInHistory) -> AggregateType:
        """The aggregate as it was at ``point`` (a version or a moment); it writes no snapshot."""
        aggregate: AggregateType | None = None
        replayed: int | None = None
        if point.version is not None:
            # Only a snapshot at or below the version asked for can be its starting point.
            aggregate, _ = await self._from_snapshot(aggregate_id, at_most=point.version)
            if aggregate is not None:
                replayed = await self._replay_after_snapshot(aggregate, until=point.version)
                if replayed is None:
                    self.statistics.snapshots_ignored += 1
                else:
                    self.statistics.snapshots_used += 1
        if aggregate is None or replayed is None:
            aggregate = self.aggregate_class.new(aggregate_id)
            replayed = await history.replay_until(self.store, aggregate, point)
        self.statistics.loads += 1
        self.statistics.events_read += replayed
        history.check_reached(aggregate, point, self.aggregate_class.__aggregate_type__)
        return aggregate

    async def _from_snapshot(
        self, aggregate_id: IdType, *, at_most: int | None = None
    ) -> tuple[AggregateType | None, bool]:
        """The aggregate from its latest snapshot, if usable, and whether a stale one was found.

        ``at_most``: a snapshot above this version is not used (nor counted as stale).
        """
        if self.snapshot_every is None:
            return None, False
        stream_id = self.aggregate_class.stream_id_for(aggregate_id)
        try:
            snapshot = await self.store.load_snapshot(stream_id)
        except Exception:
            # A snapshot is an optimisation; if it cannot be read, the events still can.
            logger.warning("could not read the snapshot of %r; loading from events", stream_id, exc_info=True)
            return None, False
        if snapshot is None:
            return None, False
        if at_most is not None and type(snapshot.version) is int and snapshot.version > at_most:
            return None, False
        aggregate = snapshots.restore(self.aggregate_class, aggregate_id, snapshot)
        if aggregate is None:
            self.statistics.snapshots_ignored += 1
            return None, True
        return aggregate, False

    async def _replay_after_snapshot(
        self, aggregate: AggregateType, *, until: int | None = None
    ) -> int | None:
        """Replay the events after the snapshot ``aggregate`` was restored from; their count.

        The read starts *at* the snapshot's version, so the stream itself confirms the snapshot
        without another round trip: if the stream has no event at that version (the snapshot
        claims more history than there is, or the stream is empty), the snapshot is ignored and
        None is returned, and the caller loads from the events alone. ``until``: the last
        version to replay (None: the stream's end).
        """
        taken_at = aggregate.version
        replayed = 0
        confirmed = False
        limit = None if until is None else until - taken_at + 1
        async for recorded in self.store.read_stream(aggregate.stream_id, from_version=taken_at, limit=limit):
            if not confirmed:
                if recorded.version != taken_at:
                    break
                confirmed = True
                continue
            aggregate._replay(recorded)
            replayed += 1
        if confirmed:
            return replayed
        snapshots.log_ignored(
            aggregate.stream_id,
            taken_at,
            "the stream has no event at that version; rebuilding from events",
        )
        return None

    async def _take_snapshot(self, aggregate: AggregateType) -> bool:
        saved = await snapshots.take(self.store, aggregate)
        if saved:
            self.statistics.snapshots_saved += 1
        else:
            self.statistics.snapshot_failures += 1
        return saved

    def _count_conflict(self, _: Exception) -> None:
        self.statistics.conflicts += 1
