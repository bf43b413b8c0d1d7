"""The read side: projections that build read models from the global log, exactly once.

See :mod:`eventledger.projections.projection` (defining one), :mod:`.runner` (running them),
:mod:`.worker` (one projection's life, in parts), :mod:`.targets` (where read models live),
:mod:`.builds` (builds and blue/green), :mod:`.checkpoints` (how exactly-once works),
:mod:`.leases` (one runner per projection), :mod:`.failures` (the one record of a failed event),
:mod:`.listeners` (the monitoring hook), :mod:`.lag` (lag against the newest committed event,
stalls), :mod:`.progress` (a projection's status read from another process) and
:mod:`.reactor` (process managers: handlers that append events, exactly once), :mod:`.waits`
(bounded waits for read models, in the runner's process or any other) and :mod:`.documents`
(read models of typed pydantic documents in SQL tables).
"""

from eventledger.projections.builds import Build, BuildState, ReadModelSchema
from eventledger.projections.documents import DocumentProjection, DocumentReader, DocumentSession
from eventledger.projections.failures import DeadLetter, EventFailure, FailedEvent, FailureInfo
from eventledger.projections.leases import LeasePolicy
from eventledger.projections.listeners import (
    BatchApplied,
    BatchStarting,
    EventFailed,
    ProjectionListener,
    Reacting,
    StateChanged,
)
from eventledger.projections.membership import SharePolicy
from eventledger.projections.progress import StoredStatus, stored_status
from eventledger.projections.projection import Projection, handles
from eventledger.projections.reactor import Emit, Reactor
from eventledger.projections.retries import ProjectionRetryPolicy
from eventledger.projections.runner import ProjectionRunner
from eventledger.projections.sql import SQLTransaction
from eventledger.projections.status import (
    ProjectionState,
    ProjectionStatus,
    RebuildProgress,
    StalledReason,
)
from eventledger.projections.targets import (
    AtLeastOnceTarget,
    MemoryReadModel,
    MemoryTarget,
    SQLiteTarget,
    Target,
    TargetConnection,
)
from eventledger.projections.waits import ProjectionNotRunning, ProjectionWaitTimeout, wait_for_checkpoint
from eventledger.projections.worker import Decision

__all__ = [
    "AtLeastOnceTarget",
    "BatchApplied",
    "BatchStarting",
    "Build",
    "BuildState",
    "DeadLetter",
    "Decision",
    "DocumentProjection",
    "DocumentReader",
    "DocumentSession",
    "Emit",
    "EventFailed",
    "EventFailure",
    "FailedEvent",
    "FailureInfo",
    "LeasePolicy",
    "MemoryReadModel",
    "MemoryTarget",
    "Projection",
    "ProjectionListener",
    "ProjectionNotRunning",
    "ProjectionRetryPolicy",
    "ProjectionRunner",
    "ProjectionState",
    "ProjectionStatus",
    "ProjectionWaitTimeout",
    "Reacting",
    "Reactor",
    "ReadModelSchema",
    "RebuildProgress",
    "SQLTransaction",
    "SQLiteTarget",
    "SharePolicy",
    "StalledReason",
    "StateChanged",
    "StoredStatus",
    "Target",
    "TargetConnection",
    "handles",
    "stored_status",
    "wait_for_checkpoint",
]
