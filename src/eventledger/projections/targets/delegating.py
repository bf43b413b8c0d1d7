"""Targets whose bookkeeping lives in another target; only the batch is their own.

The at-least-once target (effects in another system) and the store target (a reactor's
appends) keep builds, checkpoints, the lease, dead letters and reports in an ordinary target
(SQL or memory) and differ from it only in what a batch does. They share this base, which
hands everything else to the ``inner`` connection, showing it the projection as
:class:`BookkeepingOnly` (a name and a version, no tables).

Their effects must not repeat, so both never replay: a new schema version continues from the
old version's checkpoint, and a rebuild is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from eventledger.errors import InvalidArgument, ProjectionStateError
from eventledger.projections.builds import Build, Preparation, ReadModelSchema
from eventledger.projections.failures import DeadLetter, EventFailure
from eventledger.projections.reports import Bookkeeping, ProjectionReport
from eventledger.projections.requests import OperatorRequest
from eventledger.projections.targets.base import Target, TargetConnection

S = TypeVar("S")

Start = Literal["beginning", "end"]
"""Where a projection that never ran starts: the beginning of the log, or after the newest event."""


class DelegatingTarget(Target[S]):
    """A target that keeps builds, checkpoints, leases and reports in ``bookkeeping``.

    ``start`` (``"beginning"`` or ``"end"``) is where a first build starts; anything else raises
    :class:`InvalidArgument`.
    """

    replayable: ClassVar[bool] = False

    def __init__(self, bookkeeping: Target[Any], start: Start) -> None:
        if start not in ("beginning", "end"):
            raise InvalidArgument(f"start must be 'beginning' or 'end', not {start!r}")
        self.bookkeeping = bookkeeping
        self.starts_at_end = start == "end"

    async def read_bookkeeping(self, projection: str) -> Bookkeeping | None:
        """Kept in the bookkeeping target."""
        return await self.bookkeeping.read_bookkeeping(projection)

    async def close(self) -> None:
        """Close the bookkeeping target."""
        await self.bookkeeping.close()


@dataclass(frozen=True, slots=True)
class BookkeepingOnly:
    """What the bookkeeping target is shown of a projection: its name and version, no tables.

    The effects happen elsewhere, so the bookkeeping target keeps only the builds, the
    checkpoint, the lease and the dead letters.
    """

    name: str
    version: int
    tables: tuple[str, ...] = ()

    @classmethod
    def of(cls, projection: ReadModelSchema[Any]) -> BookkeepingOnly:
        """The bookkeeping view of ``projection``."""
        return cls(projection.name, projection.version)

    async def setup(self, session: object) -> None:
        """Nothing to create."""

    async def teardown(self, session: object) -> None:
        """Nothing to drop."""


class DelegatingConnection(TargetConnection[S]):
    """Everything but :meth:`batch` goes to ``inner``; subclasses write the batch."""

    #: Why a rebuild is refused, completing "projection 'x' ...".
    no_rebuild_because: ClassVar[str] = "has effects that must not repeat; it cannot be rebuilt"

    def __init__(self, inner: TargetConnection[Any]) -> None:
        self.inner = inner

    async def acquire_lease(self, key: str, owner: str, ttl: float) -> bool:
        """The lease lives in the bookkeeping target."""
        return await self.inner.acquire_lease(key, owner, ttl)

    async def renew_lease(self) -> bool:
        """See :meth:`TargetConnection.renew_lease`."""
        return await self.inner.renew_lease()

    async def release_lease(self) -> None:
        """See :meth:`TargetConnection.release_lease`."""
        await self.inner.release_lease()

    async def prepare(
        self, projection: ReadModelSchema[S], start: int = 0, *, replayable: bool = True
    ) -> Preparation:
        """Register the projection in the bookkeeping target; never replays (see the module docstring)."""
        return await self.inner.prepare(BookkeepingOnly.of(projection), start, replayable=False)

    async def start_rebuild(self, projection: ReadModelSchema[S]) -> Build:
        """Refused: a rebuild would repeat every effect."""
        raise ProjectionStateError(f"projection {projection.name!r} {self.no_rebuild_because}")

    async def load(self, projection: str, number: int) -> Build | None:
        """See :meth:`TargetConnection.load`."""
        return await self.inner.load(projection, number)

    async def serving_build(self, projection: str) -> Build | None:
        """See :meth:`TargetConnection.serving_build`."""
        return await self.inner.serving_build(projection)

    async def skip(
        self, projection: ReadModelSchema[S], build: Build, expected: int, failed: EventFailure
    ) -> None:
        """See :meth:`TargetConnection.skip`."""
        await self.inner.skip(BookkeepingOnly.of(projection), build, expected, failed)

    async def activate(self, projection: ReadModelSchema[S], build: Build) -> tuple[Build, ...]:
        """See :meth:`TargetConnection.activate`."""
        return await self.inner.activate(BookkeepingOnly.of(projection), build)

    async def drop(self, projection: ReadModelSchema[S], build: Build) -> None:
        """See :meth:`TargetConnection.drop`."""
        await self.inner.drop(BookkeepingOnly.of(projection), build)

    async def dead_letters(self, projection: str) -> list[DeadLetter]:
        """See :meth:`TargetConnection.dead_letters`."""
        return await self.inner.dead_letters(projection)

    async def record_report(self, report: ProjectionReport) -> None:
        """Kept in the bookkeeping target."""
        await self.inner.record_report(report)

    async def save_request(self, request: OperatorRequest) -> None:
        """Kept in the bookkeeping target."""
        await self.inner.save_request(request)

    async def pending_requests(self, projection: str) -> list[OperatorRequest]:
        """Kept in the bookkeeping target."""
        return await self.inner.pending_requests(projection)

    async def read_request(self, ident: str) -> OperatorRequest | None:
        """Kept in the bookkeeping target."""
        return await self.inner.read_request(ident)

    @property
    def broken(self) -> bool:
        """True when the bookkeeping connection is lost."""
        return self.inner.broken

    def is_transient(self, error: Exception) -> bool:
        """As the bookkeeping target judges it."""
        return self.inner.is_transient(error)

    async def close(self) -> None:
        """Close the bookkeeping connection (releasing the lease)."""
        await self.inner.close()
