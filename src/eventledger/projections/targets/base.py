"""What a read-model target offers the runner: builds, batches with checkpoints, leases.

A :class:`Target` is where a projection's read model and its checkpoint live; a
:class:`TargetConnection` is one runner's line to it for one projection: it holds that
projection's lease, and on it each batch runs in one transaction that also moves the
checkpoint with a compare-and-set. Builds (:mod:`eventledger.projections.builds`) and the
failure record (:mod:`eventledger.projections.failures`) live below this module; a target
asks of a projection only its :class:`~eventledger.projections.builds.ReadModelSchema`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import ClassVar, Generic, TypeVar

from eventledger.errors import ProjectionStateError
from eventledger.projections.builds import (
    Build,
    BuildPlan,
    BuildState,
    Preparation,
    ReadModelSchema,
    plan_builds,
)
from eventledger.projections.failures import DeadLetter, EventFailure, FailedEvent
from eventledger.projections.membership import Member
from eventledger.projections.reports import Bookkeeping, ProjectionReport
from eventledger.projections.requests import OperatorRequest

__all__ = [
    "Bookkeeping",
    "Build",
    "BuildPlan",
    "BuildState",
    "DeadLetter",
    "FailedEvent",
    "Preparation",
    "ProjectionReport",
    "ReadModelSchema",
    "Target",
    "TargetConnection",
    "plan_builds",
]

S = TypeVar("S")


class Target(ABC, Generic[S]):
    """Where a projection's read model and its checkpoint live.

    ``exactly_once`` targets apply a batch and its checkpoint in one transaction. Targets
    that cannot (e-mail, caches, other services) deliver at least once and offer the event id
    as an idempotency key. ``replayable`` is False for targets whose effects must not be
    repeated by a rebuild; ``starts_at_end`` makes a new projection skip the history.
    """

    exactly_once: ClassVar[bool] = True
    replayable: ClassVar[bool] = True
    #: A projection's first build starts after the newest event rather than at the beginning.
    starts_at_end: bool = False
    #: Keeps one checkpoint per segment, so projections with ``segments`` > 1 can use it.
    segmentable: ClassVar[bool] = False

    @abstractmethod
    async def connect(self) -> TargetConnection[S]:
        """A new connection for one projection worker."""

    @abstractmethod
    def describe(self) -> str:
        """A short human description (no password) for status and logs."""

    async def read_bookkeeping(self, projection: str) -> Bookkeeping | None:
        """``projection``'s builds and reports, read without disturbing a runner.

        None when this target keeps its bookkeeping inside the process that runs it (memory);
        SQL targets read it from their database, from any process.
        """
        return None

    async def read_segments(self, projection: str, number: int) -> dict[int, int]:
        """The checkpoints of the started segments of build ``number`` of ``projection``, read
        without disturbing a runner (empty where the target keeps no segments)."""
        return {}

    async def close(self) -> None:
        """Release anything the target keeps open between connections."""


class TargetConnection(ABC, Generic[S]):
    """One projection worker's connection to a target. Not shared between tasks."""

    # ------------------------------------------------------------------ leases

    @abstractmethod
    async def acquire_lease(self, key: str, owner: str, ttl: float) -> bool:
        """Try to become the one runner of ``key``; True when this connection now holds it.

        A lease a dead runner held becomes free: at once on PostgreSQL (the lock dies with
        its connection), after ``ttl`` seconds where the lease is a row with an expiry.
        """

    @abstractmethod
    async def renew_lease(self) -> bool:
        """Extend the held lease; False when it was lost."""

    @abstractmethod
    async def release_lease(self) -> None:
        """Give the lease up (no-op when none is held)."""

    async def evict_lease_holder(self, key: str, dead: Callable[[str], bool]) -> bool:
        """End the session holding lease ``key`` when its runner is ``dead`` (by owner id);
        True when one was ended. Only where a lease outlives a hung runner (PostgreSQL's
        advisory lock, held by a session a stopped process keeps open); elsewhere False."""
        return False

    async def beat_member(self, group: str, owner: str, held: int, ttl: float) -> list[Member] | None:
        """Renew runner ``owner``'s membership of ``group`` for ``ttl`` seconds (it holds ``held``
        leases) and return the group's live members; None when this target cannot keep members
        (then runners do not share work through it). See :mod:`eventledger.projections.membership`.
        """
        return None

    async def leave_group(self, group: str, owner: str) -> None:
        """End runner ``owner``'s membership of ``group`` (no-op where members are not kept)."""

    async def segment_build(self, build: Build, segment: int) -> Build:
        """Segment ``segment``'s view of ``build``: its checkpoint as ``position`` (created at the
        build's start the first time), ``segment`` set. Only targets that are ``segmentable``."""
        raise ProjectionStateError(f"{type(self).__name__} keeps no segment checkpoints")

    async def segment_positions(self, projection: str, number: int) -> dict[int, int]:
        """The checkpoints of the segments of build ``number`` of ``projection`` that have started."""
        raise ProjectionStateError(f"{type(self).__name__} keeps no segment checkpoints")

    # ------------------------------------------------------------------ builds

    @abstractmethod
    async def prepare(
        self, projection: ReadModelSchema[S], start: int = 0, *, replayable: bool = True
    ) -> Preparation:
        """Register ``projection`` and choose the builds this worker runs.

        With no active build a new one is created, set up and made active at once. With an
        active build of an older version a new build is started beside it (blue/green), or,
        when not ``replayable``, made active at once continuing from the old build's
        checkpoint. With an active build of a newer version this raises
        :class:`ProjectionRetired`. A new first build starts after position ``start``.
        """

    @abstractmethod
    async def start_rebuild(self, projection: ReadModelSchema[S]) -> Build:
        """Create a new build of the projection's version from position 0 (or return the one in progress)."""

    @abstractmethod
    async def load(self, projection: str, number: int) -> Build | None:
        """A build as recorded now, or None when it no longer exists."""

    @abstractmethod
    async def serving_build(self, projection: str) -> Build | None:
        """The build readers see now (with its checkpoint), or None before the first one."""

    @abstractmethod
    def batch(
        self, projection: ReadModelSchema[S], build: Build, expected: int, position: int
    ) -> AbstractAsyncContextManager[S]:
        """A transaction for one batch; yields the session handlers write through.

        On entry the checkpoint moves from ``expected`` to ``position`` by compare-and-set (a
        mismatch raises :class:`CheckpointConflict`, a retired build
        :class:`ProjectionRetired`, a lost lease :class:`LeaseLost`); on a clean exit the
        handlers' writes and the checkpoint commit together; on an exception both roll back.
        """

    @abstractmethod
    async def skip(
        self, projection: ReadModelSchema[S], build: Build, expected: int, failed: EventFailure
    ) -> None:
        """Move the checkpoint past ``failed`` and record it in the dead-letter table, atomically."""

    @abstractmethod
    async def activate(self, projection: ReadModelSchema[S], build: Build) -> tuple[Build, ...]:
        """Make ``build`` the one readers see, retiring the active build; returns the retired builds."""

    @abstractmethod
    async def drop(self, projection: ReadModelSchema[S], build: Build) -> None:
        """Drop a retired build's tables and forget it."""

    @abstractmethod
    async def dead_letters(self, projection: str) -> list[DeadLetter]:
        """The events skipped for ``projection``, oldest first."""

    async def record_report(self, report: ProjectionReport) -> None:
        """Keep ``report`` where other processes can read it (by default nowhere)."""

    # ------------------------------------------------------------------ operator requests

    async def save_request(self, request: OperatorRequest) -> None:
        """Record an operator's request (or the runner's answer to it) where the runner reads it.

        By default refused: a target that keeps its bookkeeping in the runner's process (memory)
        takes decisions only through that process's :class:`ProjectionRunner`.
        """
        raise ProjectionStateError(
            f"projection {request.projection!r}: its target keeps its bookkeeping inside the process "
            "that runs it; ask that process's ProjectionRunner"
        )

    async def pending_requests(self, projection: str) -> list[OperatorRequest]:
        """The requests for ``projection`` no runner has answered yet, oldest first (default none)."""
        return []

    async def read_request(self, ident: str) -> OperatorRequest | None:
        """A request as recorded now, with its answer once there is one (None when unknown)."""
        return None

    @property
    def broken(self) -> bool:
        """True when the connection is lost and must be replaced (its lease is gone with it)."""
        return False

    def is_transient(self, error: Exception) -> bool:
        """Is ``error`` the database's passing trouble (a lock wait, a deadlock) rather than an event's?

        Transient errors are retried without limit, in state ``stalled``; any other error of a
        batch is pinned on the event that caused it.
        """
        return False

    @abstractmethod
    async def close(self) -> None:
        """Release the lease and the connection."""
