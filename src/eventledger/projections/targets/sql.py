"""What SQLite and PostgreSQL targets share: builds, batches, views and dead letters in SQL.

A subclass supplies the database primitives: opening a write transaction, serialising changes
to one projection's builds, the lease, and the dialect's DDL for views and tables. Everything
that decides *what* happens (which builds run, when a build becomes active, the checkpoint
compare-and-set) is written here once.

Readers query the plain table names, which are views on the active build's tables. Switching
builds drops and recreates those views inside one transaction, so a reader sees either the
old build or the new one, never an empty read model.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import replace

from eventledger.errors import LeaseLost, ProjectionRetired
from eventledger.projections.builds import Build, BuildState, Preparation, ReadModelSchema, plan_builds
from eventledger.projections.checkpoints import CheckpointTables
from eventledger.projections.failures import DeadLetter, EventFailure
from eventledger.projections.membership import Member
from eventledger.projections.reports import Bookkeeping, ProjectionReport
from eventledger.projections.requests import OperatorRequest
from eventledger.projections.sql import SQLTransaction
from eventledger.projections.targets.base import TargetConnection


class SQLTargetConnection(TargetConnection[SQLTransaction]):
    """The build and checkpoint logic of SQL targets, over a few database primitives."""

    def __init__(self, checkpoints: CheckpointTables) -> None:
        self.checkpoints = checkpoints
        self._lease_key: str | None = None
        self._lease_owner: str | None = None

    # ------------------------------------------------------------------ primitives

    @abstractmethod
    def transaction(self, tables: Mapping[str, str]) -> AbstractAsyncContextManager[SQLTransaction]:
        """A write transaction whose ``table()`` maps declared names to ``tables``."""

    def read_transaction(self) -> AbstractAsyncContextManager[SQLTransaction]:
        """A transaction that only reads the bookkeeping tables (by default a write transaction)."""
        return self.transaction({})

    @abstractmethod
    async def lock_projection(self, sql: SQLTransaction, projection: str) -> None:
        """Serialise changes to one projection's builds until the transaction ends."""

    @abstractmethod
    async def check_lease(self, sql: SQLTransaction) -> bool:
        """Inside a batch transaction: is the lease still ours? (renews it where it is a row)"""

    @abstractmethod
    def qualify(self, name: str) -> str:
        """A validated table or view name as it appears in SQL (quoted, schema-qualified)."""

    # ------------------------------------------------------------------ builds

    def build_tables(self, build: Build) -> dict[str, str]:
        """Declared table name -> the qualified name of that table in ``build``."""
        return {table: self.qualify(build.table_name(table)) for table in build.tables}

    async def prepare(
        self, projection: ReadModelSchema[SQLTransaction], start: int = 0, *, replayable: bool = True
    ) -> Preparation:
        """See :meth:`TargetConnection.prepare`."""
        async with self.transaction({}) as sql:
            await self.lock_projection(sql, projection.name)
            builds = await self.checkpoints.builds(sql, projection.name)
            plan = plan_builds(projection.name, projection.version, builds)
            active = plan.active
            drop = [*plan.retired]
            for stale in plan.stale:
                await self.checkpoints.set_state(sql, stale, BuildState.RETIRED)
                drop.append(stale)
            if active is not None and active.version == projection.version:
                return Preparation((active, *plan.building), tuple(drop))
            if plan.building:
                return Preparation(plan.building, tuple(drop))
            # A target whose effects must not repeat continues where the old version stopped.
            begin = start if active is None or replayable else active.position
            number = max((b.number for b in builds), default=0) + 1
            build = await self._create(sql, projection, number, begin)
            if active is None or not replayable:
                retired = await self._activate_in(sql, projection, build)
                drop.extend(retired)
                build = await self._reload(sql, build)
            return Preparation((build,), tuple(drop))

    async def start_rebuild(self, projection: ReadModelSchema[SQLTransaction]) -> Build:
        """See :meth:`TargetConnection.start_rebuild`."""
        async with self.transaction({}) as sql:
            await self.lock_projection(sql, projection.name)
            builds = await self.checkpoints.builds(sql, projection.name)
            for existing in builds:
                if existing.state is BuildState.BUILDING and existing.version == projection.version:
                    return existing
            number = max((b.number for b in builds), default=0) + 1
            return await self._create(sql, projection, number, 0)

    async def _create(
        self, sql: SQLTransaction, projection: ReadModelSchema[SQLTransaction], number: int, start: int
    ) -> Build:
        build = Build(
            projection=projection.name,
            number=number,
            version=projection.version,
            state=BuildState.BUILDING,
            position=start,
            tables=projection.tables,
        )
        await self.checkpoints.insert(sql, build)
        for table in build.tables:
            # Left behind by a build whose row was lost (a crash between the two transactions).
            await sql.execute(f"DROP TABLE IF EXISTS {self.qualify(build.table_name(table))}")
        with sql.using_tables(self.build_tables(build)) as scoped:
            await projection.setup(scoped)
        return build

    async def _reload(self, sql: SQLTransaction, build: Build) -> Build:
        current = await self.checkpoints.build(sql, build.projection, build.number)
        if current is None:
            raise ProjectionRetired(build.projection, build.number, "its build was dropped")
        return current

    async def load(self, projection: str, number: int) -> Build | None:
        """See :meth:`TargetConnection.load`."""
        async with self.read_transaction() as sql:
            return await self.checkpoints.build(sql, projection, number)

    async def serving_build(self, projection: str) -> Build | None:
        """See :meth:`TargetConnection.serving_build`."""
        async with self.read_transaction() as sql:
            builds = await self.checkpoints.builds(sql, projection)
        return next((build for build in builds if build.state is BuildState.ACTIVE), None)

    @asynccontextmanager
    async def batch(
        self, projection: ReadModelSchema[SQLTransaction], build: Build, expected: int, position: int
    ) -> AsyncIterator[SQLTransaction]:
        """See :meth:`TargetConnection.batch`."""
        tables = self.build_tables(build)
        async with self.transaction(tables) as sql:
            await self.begin_batch(sql, projection.name, build, expected, position)
            async with self.handlers_session(sql, tables) as session:
                yield session

    async def begin_batch(
        self, sql: SQLTransaction, projection: str, build: Build, expected: int, position: int
    ) -> None:
        """What a batch's transaction does first: check the lease, then move the checkpoint from
        ``expected`` to ``position`` by compare-and-set (raising LeaseLost, CheckpointConflict
        or ProjectionRetired). Also for batches that write elsewhere in the same database
        (a reactor's appends)."""
        await self._require_lease(sql, projection)
        await self.checkpoints.compare_and_set(sql, build, expected, position)

    def handlers_session(
        self, sql: SQLTransaction, tables: Mapping[str, str]
    ) -> AbstractAsyncContextManager[SQLTransaction]:
        """The session the handlers of a batch write through: the batch's transaction itself
        (PostgreSQL's pipeline mode wraps it)."""
        return nullcontext(sql)

    async def _require_lease(self, sql: SQLTransaction, projection: str) -> None:
        if not await self.check_lease(sql):
            raise LeaseLost(projection, self._lease_owner or "(none)")

    async def skip(
        self, projection: ReadModelSchema[SQLTransaction], build: Build, expected: int, failed: EventFailure
    ) -> None:
        """See :meth:`TargetConnection.skip`."""
        async with self.transaction(self.build_tables(build)) as sql:
            await self.begin_batch(sql, projection.name, build, expected, failed.position)
            await self.checkpoints.record_dead_letter(sql, build, failed)

    async def activate(self, projection: ReadModelSchema[SQLTransaction], build: Build) -> tuple[Build, ...]:
        """See :meth:`TargetConnection.activate`."""
        async with self.transaction({}) as sql:
            await self.lock_projection(sql, projection.name)
            return await self._activate_in(sql, projection, build)

    async def _activate_in(
        self, sql: SQLTransaction, projection: ReadModelSchema[SQLTransaction], build: Build
    ) -> tuple[Build, ...]:
        current = await self._reload(sql, build)
        if current.state is BuildState.RETIRED:
            raise ProjectionRetired(build.projection, build.number, "a newer build replaced it")
        retired: list[Build] = []
        for other in await self.checkpoints.builds(sql, build.projection):
            if other.state is BuildState.ACTIVE and other.number != build.number:
                await self.checkpoints.set_state(sql, other, BuildState.RETIRED)
                retired.append(other)
                for table in other.tables:
                    if table not in build.tables:
                        await sql.execute(f"DROP VIEW IF EXISTS {self.qualify(table)}")
        await self.checkpoints.set_state(sql, current, BuildState.ACTIVE)
        for table in build.tables:
            view = self.qualify(table)
            await sql.execute(f"DROP VIEW IF EXISTS {view}")
            await sql.execute(f"CREATE VIEW {view} AS SELECT * FROM {self.qualify(build.table_name(table))}")
        return tuple(retired)

    async def drop(self, projection: ReadModelSchema[SQLTransaction], build: Build) -> None:
        """See :meth:`TargetConnection.drop`."""
        async with self.transaction({}) as sql:
            await self.lock_projection(sql, projection.name)
            current = await self.checkpoints.build(sql, build.projection, build.number)
            if current is not None and current.state is not BuildState.RETIRED:
                raise ProjectionRetired(build.projection, build.number, "only a retired build can be dropped")
            if build.version == projection.version:
                with sql.using_tables(self.build_tables(build)) as scoped:
                    await projection.teardown(scoped)
            for table in build.tables:
                await sql.execute(f"DROP TABLE IF EXISTS {self.qualify(build.table_name(table))}")
            await self.checkpoints.delete(sql, build)

    async def segment_build(self, build: Build, segment: int) -> Build:
        """See :meth:`TargetConnection.segment_build`."""
        async with self.transaction({}) as sql:
            position = await self.checkpoints.segment_position(sql, build, segment)
        return replace(build, segment=segment, position=position)

    async def segment_positions(self, projection: str, number: int) -> dict[int, int]:
        """See :meth:`TargetConnection.segment_positions`."""
        async with self.read_transaction() as sql:
            return await self.checkpoints.segment_positions(sql, projection, number)

    async def beat_member(self, group: str, owner: str, held: int, ttl: float) -> list[Member] | None:
        """See :meth:`TargetConnection.beat_member`: a row in ``{prefix}workers``, its own transaction."""
        async with self.transaction({}) as sql:
            return await self.checkpoints.members.beat(sql, group, owner, held, ttl)

    async def leave_group(self, group: str, owner: str) -> None:
        """See :meth:`TargetConnection.leave_group`."""
        async with self.transaction({}) as sql:
            await self.checkpoints.members.leave(sql, group, owner)

    async def dead_letters(self, projection: str) -> list[DeadLetter]:
        """See :meth:`TargetConnection.dead_letters`."""
        async with self.read_transaction() as sql:
            return await self.checkpoints.read_dead_letters(sql, projection)

    async def record_report(self, report: ProjectionReport) -> None:
        """See :meth:`TargetConnection.record_report`: one short transaction of its own."""
        async with self.transaction({}) as sql:
            await self.checkpoints.save_report(sql, report)

    async def save_request(self, request: OperatorRequest) -> None:
        """See :meth:`TargetConnection.save_request`: one short transaction of its own."""
        async with self.transaction({}) as sql:
            await self.checkpoints.save_request(sql, request)

    async def pending_requests(self, projection: str) -> list[OperatorRequest]:
        """See :meth:`TargetConnection.pending_requests`."""
        async with self.read_transaction() as sql:
            return await self.checkpoints.read_requests(sql, projection, pending_only=True)

    async def read_request(self, ident: str) -> OperatorRequest | None:
        """See :meth:`TargetConnection.read_request`."""
        async with self.read_transaction() as sql:
            return await self.checkpoints.read_request(sql, ident)


async def read_sql_bookkeeping(
    read: Callable[[], AbstractAsyncContextManager[SQLTransaction]],
    checkpoints: CheckpointTables,
    projection: str,
    is_missing_table: Callable[[Exception], bool],
) -> Bookkeeping:
    """A projection's builds and reports through read-only transactions (see :meth:`Target.read_bookkeeping`).

    Tables no runner has created yet read as empty; they are two reads, so that a database whose
    bookkeeping predates the reports table still shows its builds.
    """
    try:
        async with read() as sql:
            builds = await checkpoints.builds(sql, projection)
    except Exception as error:
        if not is_missing_table(error):
            raise
        return Bookkeeping((), ())
    try:
        async with read() as sql:
            reports = await checkpoints.read_reports(sql, projection)
    except Exception as error:
        if not is_missing_table(error):
            raise
        reports = []
    return Bookkeeping(tuple(builds), tuple(reports))


async def read_sql_segments(
    read: Callable[[], AbstractAsyncContextManager[SQLTransaction]],
    checkpoints: CheckpointTables,
    projection: str,
    number: int,
    is_missing_table: Callable[[Exception], bool],
) -> dict[int, int]:
    """A segmented build's checkpoint per segment (see :meth:`Target.read_segments`); none yet
    while no runner has created the segments table."""
    try:
        async with read() as sql:
            return await checkpoints.segment_positions(sql, projection, number)
    except Exception as error:
        if is_missing_table(error):
            return {}
        raise
