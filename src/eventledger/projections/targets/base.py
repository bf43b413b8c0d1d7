"""What a read-model target offers the runner: builds, batches with checkpoints, leases.

A *build* is one materialisation of a projection: its tables and its checkpoint. A projection
has at most one *active* build, the one readers see under the plain table names. A rebuild,
or a new schema version, makes a new build in state ``building`` beside the active one; when it
has caught up it becomes active in one transaction and the old build is dropped. Readers never
see an empty or half-built read model.

A :class:`TargetConnection` is one runner's line to the target for one projection: it holds
that projection's lease, and on it each batch runs in one transaction that also moves the
checkpoint with a compare-and-set.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar
from uuid import UUID

from eventledger.errors import ProjectionRetired
from eventledger.projections.status import FailureInfo, ProjectionState, StalledReason

if TYPE_CHECKING:
    from eventledger.projections.projection import Projection

S = TypeVar("S")


class BuildState(enum.Enum):
    """Where a build is in its life."""

    BUILDING = "building"
    """Catching up beside the active build; readers do not see it yet."""
    ACTIVE = "active"
    """The build readers see."""
    RETIRED = "retired"
    """Replaced; its tables are being dropped."""


@dataclass(frozen=True, slots=True)
class Build:
    """One build of a projection as the target records it."""

    projection: str
    number: int
    version: int
    state: BuildState
    position: int
    tables: tuple[str, ...]

    def table_name(self, table: str) -> str:
        """The unqualified name of ``table`` in this build (``order_summaries_v2_b3``)."""
        return f"{table}_v{self.version}_b{self.number}"


@dataclass(frozen=True, slots=True)
class FailedEvent:
    """An event a projection could not apply (or could not even decode)."""

    position: int
    stream_id: str
    event_type: str
    error: str
    event_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event an operator skipped, with the error it failed with."""

    projection: str
    build: int
    position: int
    stream_id: str
    event_type: str
    error: str
    event_id: UUID | None
    skipped_at: datetime | str


@dataclass(frozen=True, slots=True)
class ProjectionReport:
    """What the runner applying one version of a projection last said about it.

    The runner holding the lease records it in the target's bookkeeping on every state change
    and every ``interval`` seconds, so that other processes (``eventledger projections``) see
    the projection's true state, its failure and its rate.
    """

    projection: str
    version: int
    owner: str
    """The reporting runner's identity."""
    state: ProjectionState
    build: int | None
    """The serving build the runner applies (None before the first build serves)."""
    events_per_second: float
    """Events applied per second over the :data:`~eventledger.projections.status.RATE_WINDOW`
    seconds before ``reported_at``."""
    last_error: str | None
    failure: FailureInfo | None
    stalled_reason: StalledReason | None
    reported_at: datetime
    interval: float
    """Seconds between reports while the runner runs (an older report means it stopped reporting)."""


@dataclass(frozen=True, slots=True)
class Bookkeeping:
    """A projection's builds and its runners' latest reports, as its target recorded them."""

    builds: tuple[Build, ...]
    reports: tuple[ProjectionReport, ...]


@dataclass(frozen=True, slots=True)
class Preparation:
    """What :meth:`TargetConnection.prepare` decided: the builds to run and the builds to drop."""

    run: tuple[Build, ...]
    drop: tuple[Build, ...]


@dataclass(frozen=True, slots=True)
class BuildPlan:
    """How the builds stored for a projection meet a runner of one version."""

    active: Build | None
    """The build serving readers, if any (never of a newer version than the runner's)."""
    building: tuple[Build, ...]
    """Unfinished builds of the runner's version: to continue."""
    stale: tuple[Build, ...]
    """Unfinished builds of older versions: they will never be used, so retire and drop them."""
    retired: tuple[Build, ...]
    """Builds already retired: to drop."""


def plan_builds(projection: str, version: int, builds: Iterable[Build]) -> BuildPlan:
    """Sort a projection's stored builds for a runner of ``version`` (every target's ``prepare``).

    Raises :class:`ProjectionRetired` when a newer version is already serving.
    """
    stored = list(builds)
    active = next((b for b in stored if b.state is BuildState.ACTIVE), None)
    if active is not None and active.version > version:
        raise ProjectionRetired(
            projection,
            active.number,
            f"version {active.version} is serving and this runner has version {version}",
        )
    unfinished = [b for b in stored if b.state is BuildState.BUILDING]
    return BuildPlan(
        active=active,
        building=tuple(b for b in unfinished if b.version == version),
        stale=tuple(b for b in unfinished if b.version < version),
        retired=tuple(b for b in stored if b.state is BuildState.RETIRED),
    )


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

    # ------------------------------------------------------------------ builds

    @abstractmethod
    async def prepare(
        self, projection: Projection[S], start: int = 0, *, replayable: bool = True
    ) -> Preparation:
        """Register ``projection`` and choose the builds this worker runs.

        With no active build a new one is created, set up and made active at once. With an
        active build of an older version a new build is started beside it (blue/green), or,
        when not ``replayable``, made active at once continuing from the old build's
        checkpoint. With an active build of a newer version this raises
        :class:`ProjectionRetired`. A new first build starts after position ``start``.
        """

    @abstractmethod
    async def start_rebuild(self, projection: Projection[S]) -> Build:
        """Create a new build of the projection's version from position 0 (or return the one in progress)."""

    @abstractmethod
    async def load(self, projection: str, number: int) -> Build | None:
        """A build as recorded now, or None when it no longer exists."""

    @abstractmethod
    async def serving_build(self, projection: str) -> Build | None:
        """The build readers see now (with its checkpoint), or None before the first one."""

    @abstractmethod
    def batch(
        self, projection: Projection[S], build: Build, expected: int, position: int
    ) -> AbstractAsyncContextManager[S]:
        """A transaction for one batch; yields the session handlers write through.

        On entry the checkpoint moves from ``expected`` to ``position`` by compare-and-set (a
        mismatch raises :class:`CheckpointConflict`, a retired build
        :class:`ProjectionRetired`, a lost lease :class:`LeaseLost`); on a clean exit the
        handlers' writes and the checkpoint commit together; on an exception both roll back.
        """

    @abstractmethod
    async def skip(self, projection: Projection[S], build: Build, expected: int, failed: FailedEvent) -> None:
        """Move the checkpoint past ``failed`` and record it in the dead-letter table, atomically."""

    @abstractmethod
    async def activate(self, projection: Projection[S], build: Build) -> tuple[Build, ...]:
        """Make ``build`` the one readers see, retiring the active build; returns the retired builds."""

    @abstractmethod
    async def drop(self, projection: Projection[S], build: Build) -> None:
        """Drop a retired build's tables and forget it."""

    @abstractmethod
    async def dead_letters(self, projection: str) -> list[DeadLetter]:
        """The events skipped for ``projection``, oldest first."""

    async def record_report(self, report: ProjectionReport) -> None:
        """Keep ``report`` where other processes can read it (by default nowhere)."""

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
