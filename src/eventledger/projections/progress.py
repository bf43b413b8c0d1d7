"""A projection's status read from outside the process that runs it (``eventledger projections``).

The runner holding a projection's lease records its state, failure, stall and rate in the
target's bookkeeping (:class:`~eventledger.projections.targets.base.ProjectionReport`); the
builds table holds the checkpoints. :func:`stored_status` reads both, without disturbing the
runner, and measures lag now against the store, held-back events included, the same way the
runner does. So another process sees what the runner's own :meth:`ProjectionRunner.status` says.

>>> async def show(store: EventStore, projection: Projection[Any]) -> None:
...     status = await stored_status(store, projection)
...     print(status.state, status.checkpoint, status.lag_events, status.failure)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from eventledger.projections.builds import Build, BuildState
from eventledger.projections.failures import EventFailure
from eventledger.projections.lag import measure_lag
from eventledger.projections.projection import Projection
from eventledger.projections.reports import ProjectionReport
from eventledger.projections.segments import Segment
from eventledger.projections.status import ProjectionState, StalledReason
from eventledger.projections.targets.base import Target
from eventledger.store.base import EventStore
from eventledger.store.records import VisibilityStatus

NOT_STARTED: Final = "not started"
"""The state of a projection no runner has built yet."""
UNREPORTED: Final = "unreported"
"""The state of a projection whose runner has never reported (a runner older than reports)."""
ELSEWHERE: Final = "in another process"
"""The state of a projection whose target keeps its bookkeeping in the process running it."""
UNKNOWN: Final = "unknown"
"""The state when the runner stopped reporting while running (killed, hung or unreachable)."""

FINAL_STATES: Final = frozenset(
    {ProjectionState.FAILED, ProjectionState.STOPPED, ProjectionState.RETIRED, ProjectionState.INLINE}
)
"""Reported states that stay true after the runner has gone (``inline``: no runner reports, the
appenders apply it)."""

MISSED_REPORTS: Final = 3
"""Report intervals without a report after which a running state is no longer trusted."""


@dataclass(frozen=True, slots=True)
class StoredStatus:
    """A projection's status as its target's bookkeeping records it, with lag measured now.

    ``state`` is a :class:`ProjectionState` value as the runner last reported it, or one of
    :data:`NOT_STARTED`, :data:`UNREPORTED`, :data:`ELSEWHERE` and :data:`UNKNOWN`.
    ``events_per_second`` is the runner's rate over the ten seconds before its last report
    (None when there is no current report). ``report`` is that report, ``report_age`` its age
    in seconds.
    """

    name: str
    version: int
    target: str
    state: str
    checkpoint: int | None
    head_position: int
    written_position: int
    held_back_events: int
    lag_events: int | None
    lag_seconds: float | None
    events_per_second: float | None
    failure: EventFailure | None
    last_error: str | None
    stalled_reason: StalledReason | None
    rebuild_version: int | None
    rebuild_checkpoint: int | None
    report: ProjectionReport | None
    report_age: float | None


async def stored_status(
    store: EventStore,
    projection: Projection[Any],
    *,
    visibility: VisibilityStatus | None = None,
    segment: Segment | None = None,
) -> StoredStatus:
    """``projection``'s status from its target's bookkeeping, and its lag in ``store`` now.

    Pass ``visibility`` (one :meth:`EventStore.visibility_status` reading) to share it between
    several projections. For a projection with segments pass the ``segment``: the status is
    then that segment's (named ``name[k]``, with its own checkpoint, lag and runner's report).
    """
    if visibility is None:
        visibility = await store.visibility_status()
    target = projection.target
    bookkeeping = await target.read_bookkeeping(projection.name)
    builds = () if bookkeeping is None else bookkeeping.builds
    reports = () if bookkeeping is None else bookkeeping.reports
    name = projection.name
    if segment is not None:
        name = segment.unit(projection.name)
        own = await target.read_bookkeeping(name)
        reports = () if own is None else own.reports
        builds = tuple([await _segment_view(target, build, segment) for build in builds])
    active = next((build for build in builds if build.state is BuildState.ACTIVE), None)
    building = next((build for build in builds if build.state is BuildState.BUILDING), None)
    version = active.version if active is not None else projection.version
    report = _report_of(reports, version) or _report_of(reports, projection.version)
    now = datetime.now(UTC)
    age = None if report is None else max((now - report.reported_at).total_seconds(), 0.0)
    current = report is not None and age is not None and age <= MISSED_REPORTS * report.interval + 1.0
    state = _state(bookkeeping is None, builds, report, current)
    checkpoint = None if active is None else active.position
    stall = report.stalled_reason if report is not None and current else None
    # When the store cannot date held-back events, the runner's stall says since when they wait.
    held_since = None if stall is None else stall.since
    lag = None if checkpoint is None else await measure_lag(store, checkpoint, visibility, held_since)
    return StoredStatus(
        name=name,
        version=version,
        target=target.describe(),
        state=state,
        checkpoint=checkpoint,
        head_position=visibility.visible_position,
        written_position=visibility.written_position,
        held_back_events=visibility.held_back_events,
        lag_events=None if lag is None else lag.events,
        lag_seconds=None if lag is None else lag.seconds,
        events_per_second=report.events_per_second if report is not None and current else None,
        failure=None if report is None else report.failure,
        last_error=None if report is None else report.last_error,
        stalled_reason=stall,
        rebuild_version=None if building is None else building.version,
        rebuild_checkpoint=None if building is None else building.position,
        report=report,
        report_age=age,
    )


async def _segment_view(target: Target[Any], build: Build, segment: Segment) -> Build:
    """``build`` with ``segment``'s checkpoint (the build's start before the segment has begun)."""
    positions = await target.read_segments(build.projection, build.number)
    return replace(build, segment=segment.index, position=positions.get(segment.index, build.position))


def _report_of(reports: tuple[ProjectionReport, ...], version: int) -> ProjectionReport | None:
    return next((report for report in reports if report.version == version), None)


def _state(elsewhere: bool, builds: tuple[Build, ...], report: ProjectionReport | None, current: bool) -> str:
    if elsewhere:
        return ELSEWHERE
    if report is None:
        return NOT_STARTED if not builds else UNREPORTED
    if current or report.state in FINAL_STATES:
        return report.state.value
    return UNKNOWN
