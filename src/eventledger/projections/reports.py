"""A runner's report: the record other processes read, and its row in the bookkeeping table.

The runner holding a projection's lease records a :class:`ProjectionReport` on every state
change and every few seconds; :class:`Bookkeeping` is what a target hands back to a reader
(``eventledger projections``, :func:`~eventledger.projections.progress.stored_status`).

In the table (SQLite and PostgreSQL alike) the failure and the stall are kept as JSON text:
they are read as a whole, never queried by their parts, and text is the one type both
databases store the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventledger.projections.builds import Build
from eventledger.projections.failures import EventFailure
from eventledger.projections.sql import Row
from eventledger.projections.status import ProjectionState, StalledReason
from eventledger.store.records import OpenTransaction


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
    failure: EventFailure | None
    stalled_reason: StalledReason | None
    reported_at: datetime
    interval: float
    """Seconds between reports while the runner runs (an older report means it stopped reporting)."""


@dataclass(frozen=True, slots=True)
class Bookkeeping:
    """A projection's builds and its runners' latest reports, as its target recorded them."""

    builds: tuple[Build, ...]
    reports: tuple[ProjectionReport, ...]


def encode_report(report: ProjectionReport) -> tuple[Any, ...]:
    """The report's column values, in the order of the table's columns."""
    return (
        report.projection,
        report.version,
        report.owner,
        report.state.value,
        report.build,
        float(report.events_per_second),
        report.last_error,
        None if report.failure is None else json.dumps(_failure_json(report.failure)),
        None if report.stalled_reason is None else json.dumps(_stall_json(report.stalled_reason)),
        report.reported_at,
        float(report.interval),
    )


def decode_report(row: Row) -> ProjectionReport:
    """A report from its row (as :func:`encode_report` wrote it)."""
    projection, version, owner, state, build, rate, error, failure, stalled, reported_at, interval = row
    return ProjectionReport(
        projection=str(projection),
        version=int(version),
        owner=str(owner),
        state=ProjectionState(state),
        build=None if build is None else int(build),
        events_per_second=float(rate),
        last_error=None if error is None else str(error),
        failure=None if failure is None else _failure(json.loads(failure)),
        stalled_reason=None if stalled is None else _stall(json.loads(stalled)),
        reported_at=moment(reported_at),
        interval=float(interval),
    )


def moment(value: Any) -> datetime:
    """A stored time as an aware datetime (PostgreSQL returns one; SQLite the ISO 8601 text it was given)."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _failure_json(failure: EventFailure) -> dict[str, Any]:
    return {
        "position": failure.position,
        "event_type": failure.event_type,
        "stream_id": failure.stream_id,
        "error": failure.error,
        "attempts": failure.attempts,
        "at": failure.at.isoformat(),
        "event_id": None if failure.event_id is None else str(failure.event_id),
    }


def _failure(data: dict[str, Any]) -> EventFailure:
    # Reports written before failures kept their event id have no "event_id".
    event_id = data.get("event_id")
    return EventFailure(
        position=int(data["position"]),
        event_type=str(data["event_type"]),
        stream_id=str(data["stream_id"]),
        error=str(data["error"]),
        attempts=int(data["attempts"]),
        at=moment(data["at"]),
        event_id=None if event_id is None else UUID(str(event_id)),
    )


def _stall_json(reason: StalledReason) -> dict[str, Any]:
    transaction = reason.transaction
    return {
        "held_back_events": reason.held_back_events,
        "since": reason.since.isoformat(),
        "transaction": None
        if transaction is None
        else {
            "pid": transaction.pid,
            "database": transaction.database,
            "state": transaction.state,
            "age_seconds": transaction.age.total_seconds(),
        },
    }


def _stall(data: dict[str, Any]) -> StalledReason:
    held = data.get("transaction")
    transaction = (
        None
        if held is None
        else OpenTransaction(
            pid=None if held["pid"] is None else int(held["pid"]),
            database=None if held["database"] is None else str(held["database"]),
            state=str(held["state"]),
            age=timedelta(seconds=float(held["age_seconds"])),
        )
    )
    return StalledReason(int(data["held_back_events"]), moment(data["since"]), transaction)
