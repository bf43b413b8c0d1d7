"""Effects outside any transaction (e-mail, a cache, another service): delivered at least once.

Such a target cannot commit an effect and a checkpoint together. The runner calls the handlers
(the effects happen), then records the checkpoint in a transactional *bookkeeping* target. A
crash between the two, or a retry after a failing handler, delivers the same events again.
So every handler receives ``recorded.event_id``: pass it to the other side as an idempotency
key (or keep a table of keys already handled) and the effect still happens once::

    class ConfirmationMails(Projection[Mailer], name="confirmation-mails"):
        @handles
        async def confirmed(self, event: OrderConfirmed, recorded: RecordedEvent, mailer: Mailer) -> None:
            await mailer.send(to=..., idempotency_key=str(recorded.event_id))

    mails = ConfirmationMails(AtLeastOnceTarget(mailer, bookkeeping=SQLiteTarget("mails.db"), start="end"))

Keep ``batch_size`` small (1 for the least repetition). Replaying the log would repeat every
effect, so such a projection is never rebuilt: a new schema version continues from the old
version's checkpoint, and a first build starts at the beginning of the log (``start="beginning"``)
or after the newest event (``start="end"``, for effects history should not trigger).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from eventledger.errors import CheckpointConflict, ProjectionRetired, ProjectionStateError
from eventledger.projections.builds import Build, BuildState, Preparation, ReadModelSchema
from eventledger.projections.failures import DeadLetter, EventFailure
from eventledger.projections.reports import Bookkeeping, ProjectionReport
from eventledger.projections.targets.base import Target, TargetConnection

Client = TypeVar("Client")
"""Whatever the handlers use to cause their effects (a mail client, a cache, an HTTP client)."""


class AtLeastOnceTarget(Target[Client], Generic[Client]):
    """Hands ``client`` to the handlers; keeps checkpoint, lease and dead letters in ``bookkeeping``."""

    exactly_once: ClassVar[bool] = False
    replayable: ClassVar[bool] = False

    def __init__(
        self,
        client: Client,
        *,
        bookkeeping: Target[Any],
        start: Literal["beginning", "end"] = "beginning",
    ) -> None:
        if start not in ("beginning", "end"):
            raise ValueError(f"start must be 'beginning' or 'end', not {start!r}")
        self.client = client
        self.bookkeeping = bookkeeping
        self.starts_at_end = start == "end"

    def __repr__(self) -> str:
        return f"AtLeastOnceTarget({self.client!r}, bookkeeping={self.bookkeeping!r})"

    def describe(self) -> str:
        """The client, and where the checkpoints are kept."""
        return f"at-least-once {type(self.client).__name__} (checkpoints in {self.bookkeeping.describe()})"

    async def connect(self) -> AtLeastOnceConnection[Client]:
        """A connection whose bookkeeping goes to the bookkeeping target."""
        return AtLeastOnceConnection(self, await self.bookkeeping.connect())

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


class AtLeastOnceConnection(TargetConnection[Client]):
    """Effects first, checkpoint after: see the module docstring."""

    def __init__(self, target: AtLeastOnceTarget[Client], bookkeeping: TargetConnection[Any]) -> None:
        self.target = target
        self.inner = bookkeeping

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
        self, projection: ReadModelSchema[Client], start: int = 0, *, replayable: bool = True
    ) -> Preparation:
        """Register the projection in the bookkeeping target; never replays (see the module docstring)."""
        return await self.inner.prepare(BookkeepingOnly.of(projection), start, replayable=False)

    async def start_rebuild(self, projection: ReadModelSchema[Client]) -> Build:
        """Refused: a rebuild would repeat every effect."""
        raise ProjectionStateError(
            f"projection {projection.name!r} has effects outside any transaction; it cannot be rebuilt"
        )

    async def load(self, projection: str, number: int) -> Build | None:
        """See :meth:`TargetConnection.load`."""
        return await self.inner.load(projection, number)

    async def serving_build(self, projection: str) -> Build | None:
        """See :meth:`TargetConnection.serving_build`."""
        return await self.inner.serving_build(projection)

    @asynccontextmanager
    async def batch(
        self, projection: ReadModelSchema[Client], build: Build, expected: int, position: int
    ) -> AsyncIterator[Client]:
        """Check the checkpoint, let the handlers cause their effects, then move the checkpoint."""
        current = await self.inner.load(build.projection, build.number)
        if current is None or current.state is BuildState.RETIRED:
            raise ProjectionRetired(build.projection, build.number, "a newer build replaced it")
        if current.position != expected:
            raise CheckpointConflict(build.projection, build.number, expected, current.position)
        yield self.target.client
        # The effects have happened; a crash before this commit delivers the batch again.
        async with self.inner.batch(BookkeepingOnly.of(projection), build, expected, position):
            pass

    async def skip(
        self, projection: ReadModelSchema[Client], build: Build, expected: int, failed: EventFailure
    ) -> None:
        """See :meth:`TargetConnection.skip`."""
        await self.inner.skip(BookkeepingOnly.of(projection), build, expected, failed)

    async def activate(self, projection: ReadModelSchema[Client], build: Build) -> tuple[Build, ...]:
        """See :meth:`TargetConnection.activate`."""
        return await self.inner.activate(BookkeepingOnly.of(projection), build)

    async def drop(self, projection: ReadModelSchema[Client], build: Build) -> None:
        """See :meth:`TargetConnection.drop`."""
        await self.inner.drop(BookkeepingOnly.of(projection), build)

    async def dead_letters(self, projection: str) -> list[DeadLetter]:
        """See :meth:`TargetConnection.dead_letters`."""
        return await self.inner.dead_letters(projection)

    async def record_report(self, report: ProjectionReport) -> None:
        """Kept in the bookkeeping target."""
        await self.inner.record_report(report)

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
