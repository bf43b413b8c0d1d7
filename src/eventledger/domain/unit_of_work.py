"""A unit of work: several aggregates, of one type or several, saved in one atomic commit.

A decision that spans aggregates (a transfer between two accounts, a user and the claim on a
unique name) must store all its events or none: three separate saves can fail after the first,
leaving the aggregates disagreeing for ever. A :class:`UnitOfWork` loads aggregates through
their repositories, remembers each one (loading an id twice gives the same object), and
:meth:`~UnitOfWork.commit` appends the events of every changed aggregate with one
:meth:`EventStore.append_many <eventledger.store.base.EventStore.append_many>`, each stream
expecting the version its aggregate was loaded at (a new aggregate expects no stream). When any
stream moved on, nothing is written and :class:`~eventledger.ConcurrencyError` names every such
stream; :meth:`UnitOfWork.run` then runs the whole decision again on a fresh unit of work, as
:meth:`Repository.update <eventledger.domain.repository.Repository.update>` does for one.

Only aggregates with new events are written and checked. An aggregate the decision only read
is not: when a decision depends on one, record an event on it (the usual aggregate design), so
that its stream takes part in the commit's check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from typing_extensions import TypeVar

from eventledger.domain.aggregate import Aggregate, IdType
from eventledger.domain.repository import Repository
from eventledger.domain.retry import RetryPolicy
from eventledger.errors import AggregateNotFound, ConcurrencyError, DomainError, InvalidArgument
from eventledger.store.appends import AppendRequest
from eventledger.store.base import EventStore
from eventledger.store.records import AppendResult

AggregateType = TypeVar("AggregateType", bound=Aggregate[Any])
Outcome = TypeVar("Outcome")


@dataclass(frozen=True, slots=True)
class _Tracked:
    """An aggregate a unit of work holds, and the repository it is loaded and saved through."""

    repository: Repository[Any, Any]
    aggregate: Aggregate[Any]


class UnitOfWork:
    """Loads aggregates of any types, then saves every changed one in one atomic commit.

    >>> async def transfer(work: UnitOfWork) -> None:
    ...     source = await work.load(accounts, "account-1")
    ...     target = await work.load(accounts, "account-2")
    ...     source.debit(10)
    ...     target.credit(10)
    >>> await UnitOfWork.run(store, transfer)  # doctest: +SKIP

    or by hand: ``work = UnitOfWork(store)``, loads and :meth:`add`, then ``await
    work.commit()``. Every repository used must be on the unit of work's ``store``.
    ``metadata`` (correlation and causation ids, user keys) is stored with every event the
    unit of work commits.
    """

    def __init__(self, store: EventStore, *, metadata: Mapping[str, Any] | None = None) -> None:
        self.store = store
        self.metadata = metadata
        # Keyed by stream id, in the order first seen: the order of the commit's requests.
        self._tracked: dict[str, _Tracked] = {}

    @classmethod
    async def run(
        cls,
        store: EventStore,
        decision: Callable[[UnitOfWork], Awaitable[Outcome]],
        *,
        retry: RetryPolicy | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """Run ``decision`` on a new unit of work and commit it; on a conflict, all of it again.

        ``decision`` loads what it needs through the unit of work it is given and changes it
        (or adds new aggregates); its return value is returned after the commit. On
        :class:`~eventledger.ConcurrencyError` everything is loaded afresh in a new unit of work
        and ``decision`` runs again, as ``retry`` allows (default :class:`RetryPolicy()`); the
        last conflict propagates, naming every stream that did not hold. Each conflict counts
        in the statistics of the repositories whose streams conflicted. Any other error (a
        broken rule, a missing aggregate) propagates at once, and nothing was written; except
        that a :class:`~eventledger.DomainError` raised while a stream it loaded has moved on
        since its load counts as a conflict, since the rule was judged on a mixed view.
        """
        current = cls(store, metadata=metadata)

        async def attempt() -> Outcome:
            nonlocal current
            current = work = cls(store, metadata=metadata)
            try:
                outcome = await decision(work)
            except DomainError as refusal:
                # The loads of one decision are separate reads: a rule can fail only because one
                # aggregate was read before and another after someone else's commit (a user still
                # named "grace", the claim on "grace" already released by that user's rename). A
                # refusal made on streams that moved meanwhile is a conflict, decided again.
                await work._raise_if_any_moved(refusal)
                raise
            await work.commit()
            return outcome

        policy = retry if retry is not None else RetryPolicy()
        return await policy.run(attempt, on_conflict=lambda error: current._count_conflict(error))

    async def load(
        self,
        repository: Repository[AggregateType, IdType],
        aggregate_id: IdType,
        *,
        expected_version: int | None = None,
    ) -> AggregateType:
        """The aggregate ``aggregate_id``, loaded through ``repository`` the first time it is asked for.

        Later loads of the same id in this unit of work return the same object, with whatever
        it has recorded since. Raises :class:`~eventledger.AggregateNotFound` when its stream
        has no events (create it and :meth:`add` it instead).

        ``expected_version`` is a version the caller saw (an HTTP ``If-Match``): the aggregate
        must be at it when loaded (the commit then expects it too), or
        :class:`~eventledger.ConcurrencyError` is raised. Under :meth:`run` that conflict is
        retried like any other and fails again, so pass ``retry=NO_RETRY`` there.
        """
        self._check_store(repository)
        stream_id = repository.aggregate_class.stream_id_for(aggregate_id)
        tracked = self._tracked.get(stream_id)
        if tracked is None:
            aggregate = await repository.load(aggregate_id)
            # Another load of this id may have finished while this one read (asyncio.gather in
            # a decision): the first one stored stays the one object for the id.
            tracked = self._tracked.setdefault(stream_id, _Tracked(repository, aggregate))
        held = self._held_as(repository, tracked)
        if expected_version is not None and held.committed_version != expected_version:
            raise ConcurrencyError(stream_id, expected_version, held.committed_version)
        return held

    async def find(
        self, repository: Repository[AggregateType, IdType], aggregate_id: IdType
    ) -> AggregateType | None:
        """Like :meth:`load`, but None when the aggregate's stream has no events.

        The usual start of "load it, or create it": ``await work.find(...)`` or ``work.add(...)``
        a new one, which the commit then saves expecting no stream.
        """
        try:
            return await self.load(repository, aggregate_id)
        except AggregateNotFound:
            return None

    def add(self, repository: Repository[AggregateType, Any], aggregate: AggregateType) -> AggregateType:
        """Save ``aggregate`` through ``repository`` at the next commit; returns it.

        Typically a new aggregate (saved expecting no stream); an aggregate loaded elsewhere is
        saved expecting the version it was loaded at. Adding the same object again changes
        nothing; another object with the id of one already held raises
        :class:`~eventledger.InvalidArgument`.
        """
        self._check_store(repository)
        repository._check_aggregate(aggregate)
        tracked = self._tracked.setdefault(aggregate.stream_id, _Tracked(repository, aggregate))
        if tracked.aggregate is not aggregate:
            raise InvalidArgument(
                f"this unit of work already holds another object for stream {aggregate.stream_id!r}; "
                "load it through the unit of work and change that one"
            )
        return aggregate

    @property
    def aggregates(self) -> tuple[Aggregate[Any], ...]:
        """Every aggregate this unit of work holds, in the order it first held them."""
        return tuple(tracked.aggregate for tracked in self._tracked.values())

    async def commit(self) -> list[AppendResult]:
        """Append every held aggregate's new events in one atomic commit; one result per changed
        aggregate, in the order of their stream ids.

        Each stream expects the version its aggregate was loaded at (no stream for a new one).
        When any does not hold, nothing is written, every aggregate keeps its uncommitted events
        and :class:`~eventledger.ConcurrencyError` names every stream that moved on. On success
        the events are marked committed and each repository snapshots its aggregates as its
        ``snapshot_every`` says. Nothing changed: nothing is written and ``[]`` is returned. A
        unit of work may go on and commit again.
        """
        # Streams in one order (by id) in every commit: two commits over the same streams then
        # wait for each other in one direction only, never in a cycle. PostgreSQL's append_many
        # (this branch's) deadlocks when two appends name the same streams in opposite orders.
        changed = sorted(
            (tracked for tracked in self._tracked.values() if tracked.aggregate.uncommitted_events),
            key=lambda tracked: tracked.aggregate.stream_id,
        )
        if not changed:
            return []
        expected = [tracked.aggregate.committed_version for tracked in changed]
        results = await self.store.append_many(
            [
                AppendRequest(
                    tracked.aggregate.stream_id,
                    tracked.aggregate.uncommitted_events,
                    expected_version=version,  # 0 for a new aggregate: NO_STREAM
                    metadata=self.metadata,
                )
                for tracked, version in zip(changed, expected, strict=True)
            ]
        )
        for tracked, version, result in zip(changed, expected, results, strict=True):
            await tracked.repository._saved(tracked.aggregate, version, result)
        return results

    async def _raise_if_any_moved(self, refusal: DomainError) -> None:
        """Raise :class:`ConcurrencyError` (caused by ``refusal``) when any held stream moved on."""
        moved = []
        for stream_id, tracked in self._tracked.items():
            actual = await self.store.stream_version(stream_id)
            if actual != tracked.aggregate.committed_version:
                moved.append((stream_id, tracked.aggregate.committed_version, actual))
        if moved:
            (stream_id, expected, actual), *also = moved
            raise ConcurrencyError(stream_id, expected, actual, also=tuple(also)) from refusal

    def _count_conflict(self, error: ConcurrencyError) -> None:
        """Count ``error`` once in the statistics of each repository whose stream it names."""
        repositories = {
            id(tracked.repository): tracked.repository
            for stream_id, _, _ in error.conflicts
            if (tracked := self._tracked.get(stream_id)) is not None
        }
        for repository in repositories.values():
            repository.statistics.conflicts += 1

    def _check_store(self, repository: Repository[Any, Any]) -> None:
        if not isinstance(repository, Repository):
            raise InvalidArgument(f"a unit of work loads through a Repository, not {repository!r}")
        if repository.store is not self.store:
            raise InvalidArgument(
                f"the repository of {repository.aggregate_class.__qualname__} is on another store "
                "than this unit of work: one commit writes to one store"
            )

    @staticmethod
    def _held_as(repository: Repository[AggregateType, Any], tracked: _Tracked) -> AggregateType:
        aggregate = tracked.aggregate
        if not isinstance(aggregate, repository.aggregate_class):
            raise InvalidArgument(
                f"stream {aggregate.stream_id!r} is held in this unit of work as "
                f"{type(aggregate).__qualname__}, not {repository.aggregate_class.__qualname__}"
            )
        return aggregate
