"""Inline projections: a read model in the store's own database, applied in each append's transaction.

>>> async def main(store: EventStore) -> None:
...     summaries = OrderSummaries(SQLiteTarget(store.path))     # the store's own file
...     inline = await run_inline(store, summaries)               # the one switch: inline, not async
...     await store.append("order-1", [OrderCreated(order_id="1")], expected_version=0)
...     async with summaries.target.read() as sql:               # read-your-writes: already there
...         await sql.fetch_all("SELECT * FROM order_summaries")

The same projection class runs inline or in a :class:`~eventledger.projections.runner.ProjectionRunner`
(asynchronously): the handlers, the build tables, the checkpoint row and the blue/green rebuilds
are the same. Inline, every ``append`` and ``append_many`` of the store becomes one transaction
on the store's database that (1) writes the events, (2) applies to each inline projection every
event after its checkpoint, this append's last, in the log's order, and (3) moves the checkpoint
by compare-and-set. All of it commits, or none of it: a handler that raises rolls the append
back and raises :class:`InlineProjectionFailed` (naming projection, event type, stream and
position). Why the events read in (2) are exactly the ones not yet applied is the backend's
argument, beside its SQL: :mod:`eventledger.store.sqlite_inline` (the file's write lock) and
:mod:`eventledger.store.postgres_inline` (a SHARE ROW EXCLUSIVE lock on the events table, so
inline appends are the store's only event writer while they run, and other appends wait).

Events appended by processes that do not run the projection inline (or before it was switched
on) are not lost: they lie after the checkpoint, and the next inline append applies them first.

Builds and rebuilds: :func:`run_inline` first runs the projection with the ordinary runner until
it has caught up (creating its first build, or building a raised schema version beside the old
one, blue/green, and switching to it), and only then goes inline. Inline appends apply to the
serving build only when its version is the projection's: while another process rebuilds a newer
version they leave it to that process, and once the new build serves, the processes of the older
version leave it alone. Do not also run an inline projection in a ``ProjectionRunner``: both
would be correct (the checkpoint's compare-and-set), but the runner would keep losing the race.
"""

from __future__ import annotations

import json
import sys
from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from eventledger.errors import InvalidArgument, ProjectionFailed, StoredEventError
from eventledger.events import RecordedEvent
from eventledger.projections.builds import Build, BuildState
from eventledger.projections.checkpoints import CheckpointTables
from eventledger.projections.failures import EventFailure
from eventledger.projections.lag import measure_lag
from eventledger.projections.leases import new_owner_id
from eventledger.projections.projection import Projection
from eventledger.projections.reports import ProjectionReport
from eventledger.projections.runner import ProjectionRunner
from eventledger.projections.sql import Row, SQLTransaction
from eventledger.projections.status import ProjectionState, ProjectionStatus
from eventledger.projections.targets.sqlite import SQLiteTarget, SQLiteTransaction
from eventledger.store.appends import EncodedAppend
from eventledger.store.base import EventStore
from eventledger.store.inline import InlineAppender
from eventledger.store.records import AppendResult

__all__ = ["InlineBackend", "InlineProjection", "InlineProjectionFailed", "InlineProjections", "run_inline"]

PAGE: Final = 500
"""Events read per statement inside an inline transaction (it applies every page it needs)."""
REPORT_INTERVAL: Final = 2.0
"""The interval an inline report states (``inline`` is a lasting state: it never goes stale)."""


class InlineProjectionFailed(ProjectionFailed):
    """An inline projection's handler raised on an event, or an event after its checkpoint cannot
    be decoded: the append was rolled back, nothing of it was written, and the read model is as it
    was. ``__cause__`` is the handler's (or the decoder's) error."""


class InlineBackend(ABC):
    """What an inline transaction needs of a store's backend (SQLite or PostgreSQL)."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """The store's inline transaction; yields its connection."""

    @abstractmethod
    def session(self, connection: Any) -> SQLTransaction:
        """A SQL session on the transaction's connection."""

    @abstractmethod
    async def append(self, connection: Any, requests: list[EncodedAppend]) -> list[AppendResult]:
        """Write ``requests`` in the transaction."""

    @abstractmethod
    async def read_after(self, connection: Any, after: int, limit: int) -> list[RecordedEvent]:
        """The events after checkpoint ``after`` in the log's order, the transaction's own included."""

    async def serving_and_page(
        self, connection: Any, projections: str, name: str, version: int, limit: int
    ) -> tuple[Row | None, list[RecordedEvent]]:
        """The serving build's row of projection ``name`` (build, version, position, tables) when
        it is of ``version``, locked until commit, and the first ``limit`` events after its
        checkpoint; ``(None, [])`` when no build of that version serves. ``projections`` is the
        qualified bookkeeping table. (SQLite: the file's write lock already covers the row.)"""
        row = await self.session(connection).fetch_one(
            f"SELECT build, version, position, tables FROM {projections} "
            "WHERE projection = %s AND state = 'active' AND version = %s",
            (name, version),
        )
        if row is None:
            return None, []
        return row, await self.read_after(connection, int(row[2]), limit)

    @abstractmethod
    def holds(self, target: object) -> str | None:
        """None when ``target`` keeps its read model in this store's database, else why not."""

    @abstractmethod
    def qualify(self, target: Any, name: str) -> str:
        """A table name of ``target`` as it appears in SQL."""

    @abstractmethod
    async def close(self) -> None:
        """Close the inline connection."""


class _SQLiteBackend(InlineBackend):
    def __init__(self, store: Any) -> None:
        from eventledger.store.sqlite_inline import SQLiteInlineTransactions

        self.store = store
        self.transactions = SQLiteInlineTransactions(store)

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        return self.transactions.transaction()

    def session(self, connection: Any) -> SQLTransaction:
        return SQLiteTransaction(connection, {})

    async def append(self, connection: Any, requests: list[EncodedAppend]) -> list[AppendResult]:
        return self.transactions.append(connection, requests)

    async def read_after(self, connection: Any, after: int, limit: int) -> list[RecordedEvent]:
        return self.transactions.read_after(connection, after, limit)

    def holds(self, target: object) -> str | None:
        if not isinstance(target, SQLiteTarget):
            return f"its target is {target!r}, not a SQLiteTarget on the store's file"
        if Path(target.path).resolve() != Path(self.store.path).resolve():
            return f"its read model is in {str(target.path)!r}, not in the store's {str(self.store.path)!r}"
        return None

    def qualify(self, target: Any, name: str) -> str:
        from eventledger.projections.sql import quote_identifier

        return quote_identifier(name)

    async def close(self) -> None:
        self.transactions.close()


def backend_for(store: EventStore) -> InlineBackend:
    """The inline backend of ``store``; :class:`InvalidArgument` for a store that has none."""
    from eventledger.store.sqlite import SQLiteEventStore

    if isinstance(store, SQLiteEventStore):
        return _SQLiteBackend(store)
    postgres = sys.modules.get("eventledger.store.postgres")  # psycopg stays optional
    if postgres is not None and isinstance(store, postgres.PostgresEventStore):
        from eventledger.projections.inline_postgres import PostgresBackend

        return PostgresBackend(store)
    raise InvalidArgument(
        f"inline projections need a SQLite or PostgreSQL store (the read model commits in the "
        f"append's own transaction), not {type(store).__name__}; run the projection in a ProjectionRunner"
    )


class InlineProjection:
    """One projection running inline; :func:`run_inline` returns it."""

    def __init__(self, owner: InlineProjections, projection: Projection[Any]) -> None:
        self.owner = owner
        self.projection = projection
        target: Any = projection.target
        self.target = target
        self.checkpoints: CheckpointTables = target.checkpoints

    def __repr__(self) -> str:
        return f"InlineProjection({self.projection!r})"

    async def apply(self, connection: Any) -> None:
        """Inside an inline transaction: apply every event after the checkpoint, move it past them."""
        backend = self.owner.backend
        name, version = self.projection.name, self.projection.version
        table = self.checkpoints.projections
        try:
            row, events = await backend.serving_and_page(connection, table, name, version, PAGE)
        except StoredEventError as error:
            raise InlineProjectionFailed(name, EventFailure.of_undecodable(error, 1)) from error
        if row is None:
            return  # no build yet, or another version serves: a runner's business
        build = Build(name, int(row[0]), version, BuildState.ACTIVE, int(row[2]), tuple(json.loads(row[3])))
        sql = backend.session(connection)
        tables = {table: backend.qualify(self.target, build.table_name(table)) for table in build.tables}
        handler_for = self.projection.handler_for
        position = build.position
        with sql.using_tables(tables) as session:
            while True:
                for recorded in events:
                    handler = handler_for(type(recorded.event))
                    if handler is None:
                        continue
                    try:
                        await handler(recorded.event, recorded, session)
                    except Exception as error:
                        failure = EventFailure.of_event(recorded, error, 1)
                        raise InlineProjectionFailed(name, failure) from error
                if events:
                    position = events[-1].position
                if len(events) < PAGE:  # a short page ends the log: no read that finds nothing
                    break
                try:
                    events = await backend.read_after(connection, position, PAGE)
                except StoredEventError as error:
                    raise InlineProjectionFailed(name, EventFailure.of_undecodable(error, 1)) from error
        if position != build.position:
            await self.checkpoints.compare_and_set(sql, build, build.position, position)

    async def report(self) -> None:
        """Record state ``inline`` in the target's bookkeeping, for ``stored_status`` and the CLI."""
        connection = await self.target.connect()
        try:
            build = await connection.serving_build(self.projection.name)
            await connection.record_report(
                ProjectionReport(
                    projection=self.projection.name,
                    version=self.projection.version,
                    owner=f"inline:{new_owner_id()}",
                    state=ProjectionState.INLINE,
                    build=None if build is None else build.number,
                    events_per_second=0.0,
                    last_error=None,
                    failure=None,
                    stalled_reason=None,
                    reported_at=datetime.now(UTC),
                    interval=REPORT_INTERVAL,
                )
            )
        finally:
            await connection.close()

    async def status(self) -> ProjectionStatus:
        """The projection as it is now: state ``inline``, its checkpoint and its lag."""
        store = self.owner.store
        connection = await self.target.connect()
        try:
            build = await connection.serving_build(self.projection.name)
        finally:
            await connection.close()
        checkpoint = build.position if build is not None else 0
        visibility = await store.visibility_status()
        lag = await measure_lag(store, checkpoint, visibility, None)
        return ProjectionStatus(
            name=self.projection.name,
            version=self.projection.version,
            target=self.target.describe(),
            state=ProjectionState.INLINE,
            checkpoint=checkpoint,
            head_position=visibility.visible_position,
            lag_events=lag.events,
            lag_seconds=lag.seconds,
            events_per_second=0.0,
            last_error=None,
            failure=None,
            rebuild=None,
            owner="inline",
            holds_lease=False,
            build=None if build is None else build.number,
            written_position=visibility.written_position,
            held_back_events=visibility.held_back_events,
            holding_transaction=visibility.oldest_open_transaction,
            stalled_reason=None,
        )

    async def rebuild(self, *, batch_size: int = 500) -> Build:
        """Rebuild the read model from the start of the log beside the serving build (blue/green).

        The ordinary runner builds it, outside any append, while inline appends keep writing
        the serving build; when the new build has caught up it serves, and inline appends write
        it from their next transaction on. Returns when it serves: the new build.
        """
        runner = ProjectionRunner(self.owner.store, [self.projection], batch_size=batch_size)
        build = await runner.rebuild(self.projection.name)
        await runner.run_until_caught_up()
        await self.owner.append([])  # what was appended after the runner's last batch
        await self.report()
        return build

    async def remove(self) -> None:
        """Stop running the projection inline (appends go back to the store's plain path when
        no inline projection is left); run it in a ``ProjectionRunner`` from here, or again inline."""
        await self.owner.remove(self)


class InlineProjections(InlineAppender):
    """A store's inline projections: every append of the store goes through :meth:`append`."""

    def __init__(self, store: EventStore, backend: InlineBackend) -> None:
        self.store = store
        self.backend = backend
        self.projections: tuple[InlineProjection, ...] = ()

    async def append(self, requests: list[EncodedAppend]) -> list[AppendResult]:
        """One transaction: the events, then every inline projection, then commit."""
        async with self.backend.transaction() as connection:
            results = await self.backend.append(connection, requests)
            for inline in self.projections:
                await inline.apply(connection)
        return results

    async def close(self) -> None:
        """The store is closing: close the inline connection (the projections stay registered)."""
        await self.backend.close()

    async def remove(self, inline: InlineProjection) -> None:
        """Forget ``inline``; the last one gone, the store appends as before."""
        self.projections = tuple(known for known in self.projections if known is not inline)
        if not self.projections and self.store.inline_appender is self:
            self.store.inline_appender = None
            await self.backend.close()


async def run_inline(
    store: EventStore, projection: Projection[Any], *, batch_size: int = 500
) -> InlineProjection:
    """Run ``projection`` inline: from now on every append of ``store`` applies it in its own transaction.

    The projection's target must keep its read model in the store's database (a
    :class:`SQLiteTarget` on the store's file; a ``PostgresTarget`` on the store's database, any
    schema), otherwise :class:`InvalidArgument`. First the ordinary runner brings it up to the
    end of the log (its first build, or a rebuild of a raised version, blue/green), then it goes
    inline and applies whatever was appended meanwhile. That runner takes the projection's lease
    while it runs: where another runner holds it (or a process died holding a SQLite lease row),
    this waits up to the lease's ttl (10 s) and then raises ``ProjectionStateError``. See the
    module docstring.
    """
    current = store.inline_appender
    if current is not None and not isinstance(current, InlineProjections):
        raise InvalidArgument(f"{store!r} already appends through {current!r}")
    backend = current.backend if current is not None else backend_for(store)
    why_not = backend.holds(projection.target)
    if why_not is not None:
        raise InvalidArgument(
            f"projection {projection.name!r} cannot run inline: {why_not}; an inline read model must "
            "live in the store's own database"
        )
    if current is not None and any(known.projection.name == projection.name for known in current.projections):
        raise InvalidArgument(f"projection {projection.name!r} already runs inline on {store!r}")
    await ProjectionRunner(store, [projection], batch_size=batch_size).run_until_caught_up()
    if current is None:
        current = InlineProjections(store, backend)
        store.inline_appender = current
    inline = InlineProjection(current, projection)
    current.projections = (*current.projections, inline)
    await current.append([])  # what was appended while the runner caught up
    await inline.report()
    return inline
