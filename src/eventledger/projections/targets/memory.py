"""A read model in process memory: for tests, prototypes and the demo.

Tables are dicts. A batch works on copies of the tables it touches and swaps them in, with the
checkpoint, only when every handler succeeded; a failed batch leaves nothing behind. Copying
costs time proportional to a touched table's size per batch, which is fine at test scale.
Nothing survives the process.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from eventledger.errors import CheckpointConflict, LeaseLost, ProjectionDefinitionError, ProjectionRetired
from eventledger.projections.builds import Build, BuildState, Preparation, ReadModelSchema, plan_builds
from eventledger.projections.failures import DeadLetter, EventFailure
from eventledger.projections.targets.base import Target, TargetConnection

Table = dict[Any, Any]
"""An in-memory read-model table: any keys, any values."""


class MemoryReadModel:
    """What handlers of an in-memory projection receive: the build's tables, as dicts."""

    def __init__(self, tables: dict[str, Table], declared: tuple[str, ...]) -> None:
        self._committed = tables
        self._declared = declared
        self.staged: dict[str, Table] = {}

    def table(self, name: str) -> Table:
        """The table ``name`` (declared in the projection's ``tables``), writable in this batch."""
        if name not in self._declared:
            raise ProjectionDefinitionError(
                f"table {name!r} is not declared; add it to the projection's tables "
                f"(declared: {', '.join(self._declared) or 'none'})"
            )
        if name not in self.staged:
            self.staged[name] = copy.deepcopy(self._committed.get(name, {}))
        return self.staged[name]


class MemoryTarget(Target[MemoryReadModel]):
    """A read model held in this process. Readers use :meth:`table`."""

    def __init__(self) -> None:
        self.builds: dict[str, dict[int, Build]] = {}
        self.data: dict[tuple[str, int], dict[str, Table]] = {}
        self.leases: dict[str, tuple[str, float]] = {}
        self.dead: list[DeadLetter] = []

    def __repr__(self) -> str:
        return "MemoryTarget()"

    def describe(self) -> str:
        """``memory``."""
        return "memory"

    async def connect(self) -> MemoryTargetConnection:
        """A connection for one projection worker."""
        return MemoryTargetConnection(self)

    def table(self, projection: str, name: str) -> Mapping[Any, Any]:
        """The serving build's table ``name`` of ``projection``, read-only (empty before any build)."""
        for build in self.builds.get(projection, {}).values():
            if build.state is BuildState.ACTIVE:
                return MappingProxyType(self.data[(projection, build.number)].get(name, {}))
        return MappingProxyType({})

    def active_build(self, projection: str) -> Build | None:
        """The build readers see, or None."""
        return next(
            (b for b in self.builds.get(projection, {}).values() if b.state is BuildState.ACTIVE), None
        )


class MemoryTargetConnection(TargetConnection[MemoryReadModel]):
    """One worker's handle on a :class:`MemoryTarget`."""

    def __init__(self, target: MemoryTarget) -> None:
        self.target = target
        self._lease: tuple[str, str, float] | None = None

    # ------------------------------------------------------------------ leases

    async def acquire_lease(self, key: str, owner: str, ttl: float) -> bool:
        """Take the lease when it is free, expired or ours."""
        now = time.monotonic()
        holder = self.target.leases.get(key)
        if holder is not None and holder[0] != owner and holder[1] > now:
            return False
        self.target.leases[key] = (owner, now + ttl)
        self._lease = (key, owner, ttl)
        return True

    async def renew_lease(self) -> bool:
        """Extend the lease; False when another runner took it."""
        return self._renew()

    def _renew(self) -> bool:
        if self._lease is None:
            return False
        key, owner, ttl = self._lease
        holder = self.target.leases.get(key)
        if holder is None or holder[0] != owner:
            self._lease = None
            return False
        self.target.leases[key] = (owner, time.monotonic() + ttl)
        return True

    async def release_lease(self) -> None:
        """Give the lease up."""
        if self._lease is not None:
            key, owner, _ = self._lease
            if self.target.leases.get(key, ("",))[0] == owner:
                del self.target.leases[key]
            self._lease = None

    # ------------------------------------------------------------------ builds

    def _builds(self, projection: str) -> dict[int, Build]:
        return self.target.builds.setdefault(projection, {})

    def _replace(self, build: Build, **changes: Any) -> Build:
        fields = {
            "projection": build.projection,
            "number": build.number,
            "version": build.version,
            "state": build.state,
            "position": build.position,
            "tables": build.tables,
            **changes,
        }
        updated = Build(**fields)
        self._builds(build.projection)[build.number] = updated
        return updated

    async def prepare(
        self, projection: ReadModelSchema[MemoryReadModel], start: int = 0, *, replayable: bool = True
    ) -> Preparation:
        """See :meth:`TargetConnection.prepare`."""
        plan = plan_builds(projection.name, projection.version, self._builds(projection.name).values())
        active = plan.active
        drop = [*plan.retired]
        drop.extend(self._replace(stale, state=BuildState.RETIRED) for stale in plan.stale)
        if active is not None and active.version == projection.version:
            return Preparation((active, *plan.building), tuple(drop))
        if plan.building:
            return Preparation(plan.building, tuple(drop))
        begin = start if active is None or replayable else active.position
        build = await self._create(projection, begin)
        if active is None or not replayable:
            drop.extend(self._activate(build))
            build = self._builds(projection.name)[build.number]
        return Preparation((build,), tuple(drop))

    async def _create(self, projection: ReadModelSchema[MemoryReadModel], start: int) -> Build:
        number = max(self._builds(projection.name), default=0) + 1
        build = Build(
            projection.name, number, projection.version, BuildState.BUILDING, start, projection.tables
        )
        self._builds(projection.name)[number] = build
        self.target.data[(projection.name, number)] = {}
        session = MemoryReadModel(self.target.data[(projection.name, number)], build.tables)
        await projection.setup(session)
        self.target.data[(projection.name, number)].update(session.staged)
        return build

    async def start_rebuild(self, projection: ReadModelSchema[MemoryReadModel]) -> Build:
        """See :meth:`TargetConnection.start_rebuild`."""
        for existing in self._builds(projection.name).values():
            if existing.state is BuildState.BUILDING and existing.version == projection.version:
                return existing
        return await self._create(projection, 0)

    async def load(self, projection: str, number: int) -> Build | None:
        """See :meth:`TargetConnection.load`."""
        return self._builds(projection).get(number)

    async def serving_build(self, projection: str) -> Build | None:
        """See :meth:`TargetConnection.serving_build`."""
        return self.target.active_build(projection)

    def _check(self, projection: str, build: Build, expected: int) -> Build:
        if not self._renew():
            raise LeaseLost(projection, "(this runner)")
        current = self._builds(build.projection).get(build.number)
        if current is None:
            raise ProjectionRetired(build.projection, build.number, "its build was dropped")
        if current.state is BuildState.RETIRED:
            raise ProjectionRetired(build.projection, build.number, "a newer build replaced it")
        if current.position != expected:
            raise CheckpointConflict(build.projection, build.number, expected, current.position)
        return current

    def check_checkpoint(self, projection: str, build: Build, expected: int) -> Build:
        """The build as it is now, if this connection holds the lease and the build's checkpoint is
        ``expected`` (else LeaseLost, ProjectionRetired or CheckpointConflict)."""
        return self._check(projection, build, expected)

    def move_checkpoint(self, current: Build, position: int) -> None:
        """Set the checkpoint of ``current`` (just checked, with no await since) to ``position``."""
        self._replace(current, position=position)

    @asynccontextmanager
    async def batch(
        self, projection: ReadModelSchema[MemoryReadModel], build: Build, expected: int, position: int
    ) -> AsyncIterator[MemoryReadModel]:
        """See :meth:`TargetConnection.batch`."""
        self._check(projection.name, build, expected)
        tables = self.target.data[(build.projection, build.number)]
        session = MemoryReadModel(tables, build.tables)
        yield session
        # Checked again with no await before the swap: another runner may have committed meanwhile.
        current = self._check(projection.name, build, expected)
        tables.update(session.staged)
        self.move_checkpoint(current, position)

    async def skip(
        self, projection: ReadModelSchema[MemoryReadModel], build: Build, expected: int, failed: EventFailure
    ) -> None:
        """See :meth:`TargetConnection.skip`."""
        current = self._check(projection.name, build, expected)
        self._replace(current, position=failed.position)
        self.target.dead.append(
            DeadLetter(build.projection, build.number, failed, skipped_at=datetime.now(UTC))
        )

    async def activate(self, projection: ReadModelSchema[MemoryReadModel], build: Build) -> tuple[Build, ...]:
        """See :meth:`TargetConnection.activate`."""
        return self._activate(build)

    def _activate(self, build: Build) -> tuple[Build, ...]:
        current = self._builds(build.projection).get(build.number)
        if current is None or current.state is BuildState.RETIRED:
            raise ProjectionRetired(build.projection, build.number, "a newer build replaced it")
        retired = tuple(
            self._replace(other, state=BuildState.RETIRED)
            for other in list(self._builds(build.projection).values())
            if other.state is BuildState.ACTIVE and other.number != build.number
        )
        self._replace(current, state=BuildState.ACTIVE)
        return retired

    async def drop(self, projection: ReadModelSchema[MemoryReadModel], build: Build) -> None:
        """See :meth:`TargetConnection.drop`."""
        current = self._builds(build.projection).get(build.number)
        if current is not None and current.state is not BuildState.RETIRED:
            raise ProjectionRetired(build.projection, build.number, "only a retired build can be dropped")
        self._builds(build.projection).pop(build.number, None)
        self.target.data.pop((build.projection, build.number), None)

    async def dead_letters(self, projection: str) -> list[DeadLetter]:
        """See :meth:`TargetConnection.dead_letters`."""
        return [letter for letter in self.target.dead if letter.projection == projection]

    async def close(self) -> None:
        """Release the lease."""
        await self.release_lease()
