"""Builds, and the one thing a target needs of a projection to make one.

A *build* is one materialisation of a projection: its tables and its checkpoint. A projection
has at most one *active* build, the one readers see under the plain table names. A rebuild,
or a new schema version, makes a new build in state ``building`` beside the active one; when it
has caught up it becomes active in one transaction and the old build is dropped. Readers never
see an empty or half-built read model.

This module sits below both :mod:`eventledger.projections.projection` and the targets
(:mod:`eventledger.projections.targets.base`): a target asks of a projection only what
:class:`ReadModelSchema` names (name, version, tables, setup and teardown), and
:class:`~eventledger.projections.projection.Projection` has exactly that. So neither module
needs the other's types, and a target can register a projection's bookkeeping without a
projection class at all (as the at-least-once target does).

:func:`plan_builds` is every target's decision of which stored build serves, continues,
retires or is dropped: pure, so it is tested without a database.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from eventledger.errors import ProjectionRetired

S_contra = TypeVar("S_contra", contravariant=True)


class ReadModelSchema(Protocol[S_contra]):
    """What a target needs of a projection: the names that key its builds and how to make its tables.

    :class:`~eventledger.projections.projection.Projection` satisfies it; the handlers are not
    part of it, since a target never calls them.
    """

    @property
    def name(self) -> str:
        """The projection's stable name (it keys the builds and the checkpoint)."""
        ...

    @property
    def version(self) -> int:
        """The read model's schema version."""
        ...

    @property
    def tables(self) -> tuple[str, ...]:
        """The declared table names."""
        ...

    async def setup(self, session: S_contra) -> None:
        """Create a new build's tables."""

    async def teardown(self, session: S_contra) -> None:
        """Drop what ``setup`` made beyond the declared tables."""


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
    segment: int | None = None
    """Set on one segment's view of the build (:mod:`.segments`): ``position`` is then that
    segment's checkpoint, and a batch moves it rather than the build's."""

    def table_name(self, table: str) -> str:
        """The unqualified name of ``table`` in this build (``order_summaries_v2_b3``)."""
        return f"{table}_v{self.version}_b{self.number}"


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
