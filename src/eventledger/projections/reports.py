"""A runner's report as a row of the bookkeeping table, and back (SQLite and PostgreSQL alike).

The failure and the stall are kept as JSON text: they are read as a whole, never queried by
their parts, and text is the one type both databases store the same way.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from eventledger.projections.sql import Row
from eventledger.projections.status import FailureInfo, ProjectionState, StalledReason
from eventledger.projections.targets.base import ProjectionReport
from eventledger.store.records import OpenTransaction


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
        reported_at=_moment(reported_at),
        interval=float(interval),
    )


def _moment(value: Any) -> datetime:
    # PostgreSQL returns a datetime; SQLite the ISO 8601 text it was given.
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _failure_json(failure: FailureInfo) -> dict[str, Any]:
    return {
        "position": failure.position,
        "event_type": failure.event_type,
        "stream_id": failure.stream_id,
        "error": failure.error,
        "attempts": failure.attempts,
        "at": failure.at.isoformat(),
    }


def _failure(data: dict[str, Any]) -> FailureInfo:
    return FailureInfo(
        position=int(data["position"]),
        event_type=str(data["event_type"]),
        stream_id=str(data["stream_id"]),
        error=str(data["error"]),
        attempts=int(data["attempts"]),
        at=_moment(data["at"]),
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
    return StalledReason(int(data["held_back_events"]), _moment(data["since"]), transaction)
