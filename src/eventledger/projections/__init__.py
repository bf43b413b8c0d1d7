"""The read side: projections that build read models from the global log, exactly once.

See :mod:`eventledger.projections.projection` (defining one), :mod:`.runner` (running them),
:mod:`.checkpoints` (how exactly-once works), :mod:`.leases` (one runner per projection),
:mod:`.lag` (lag against the newest committed event, stalls) and :mod:`.progress` (a projection's
status read from another process).
"""

from eventledger.projections.leases import LeasePolicy
from eventledger.projections.progress import StoredStatus, stored_status
from eventledger.projections.projection import Projection, handles
from eventledger.projections.retries import ProjectionRetryPolicy
from eventledger.projections.runner import ProjectionRunner
from eventledger.projections.sql import SQLTransaction
from eventledger.projections.status import (
    BatchApplied,
    EventFailed,
    FailureInfo,
    ProjectionListener,
    ProjectionState,
    ProjectionStatus,
    RebuildProgress,
    StalledReason,
    StateChanged,
)
from eventledger.projections.targets import (
    AtLeastOnceTarget,
    Build,
    BuildState,
    DeadLetter,
    FailedEvent,
    MemoryReadModel,
    MemoryTarget,
    SQLiteTarget,
    Target,
    TargetConnection,
)

__all__ = [
    "AtLeastOnceTarget",
    "BatchApplied",
    "Build",
    "BuildState",
    "DeadLetter",
    "EventFailed",
    "FailedEvent",
    "FailureInfo",
    "LeasePolicy",
    "MemoryReadModel",
    "MemoryTarget",
    "Projection",
    "ProjectionListener",
    "ProjectionRetryPolicy",
    "ProjectionRunner",
    "ProjectionState",
    "ProjectionStatus",
    "RebuildProgress",
    "SQLTransaction",
    "SQLiteTarget",
    "StalledReason",
    "StateChanged",
    "StoredStatus",
    "Target",
    "TargetConnection",
    "handles",
    "stored_status",
]
