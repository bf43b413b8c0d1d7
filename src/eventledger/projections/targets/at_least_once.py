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
from typing import Any, ClassVar, Generic, TypeVar

from eventledger.errors import CheckpointConflict, ProjectionRetired
from eventledger.projections.builds import Build, BuildState, ReadModelSchema
from eventledger.projections.targets.base import Target, TargetConnection
from eventledger.projections.targets.delegating import (
    BookkeepingOnly,
    DelegatingConnection,
    DelegatingTarget,
    Start,
)

__all__ = ["AtLeastOnceConnection", "AtLeastOnceTarget", "BookkeepingOnly"]

Client = TypeVar("Client")
"""Whatever the handlers use to cause their effects (a mail client, a cache, an HTTP client)."""


class AtLeastOnceTarget(DelegatingTarget[Client], Generic[Client]):
    """Hands ``client`` to the handlers; keeps checkpoint, lease and dead letters in ``bookkeeping``."""

    exactly_once: ClassVar[bool] = False

    def __init__(self, client: Client, *, bookkeeping: Target[Any], start: Start = "beginning") -> None:
        super().__init__(bookkeeping, start)
        self.client = client

    def __repr__(self) -> str:
        return f"AtLeastOnceTarget({self.client!r}, bookkeeping={self.bookkeeping!r})"

    def describe(self) -> str:
        """The client, and where the checkpoints are kept."""
        return f"at-least-once {type(self.client).__name__} (checkpoints in {self.bookkeeping.describe()})"

    async def connect(self) -> AtLeastOnceConnection[Client]:
        """A connection whose bookkeeping goes to the bookkeeping target."""
        return AtLeastOnceConnection(self, await self.bookkeeping.connect())


class AtLeastOnceConnection(DelegatingConnection[Client]):
    """Effects first, checkpoint after: see the module docstring."""

    no_rebuild_because = "has effects outside any transaction; it cannot be rebuilt"

    def __init__(self, target: AtLeastOnceTarget[Client], bookkeeping: TargetConnection[Any]) -> None:
        super().__init__(bookkeeping)
        self.target = target

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
