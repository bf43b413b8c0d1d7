"""Read-model targets: where a projection's tables and checkpoint live.

- :class:`MemoryTarget`: in process, for tests and the demo.
- :class:`SQLiteTarget`: a SQLite file (the store's own or another).
- ``PostgresTarget`` (:mod:`eventledger.projections.targets.postgres`): a PostgreSQL database.
- :class:`AtLeastOnceTarget`: anything without transactions (e-mail, caches, other services).
"""

from eventledger.projections.builds import Build, BuildState, Preparation
from eventledger.projections.failures import DeadLetter, FailedEvent
from eventledger.projections.targets.at_least_once import AtLeastOnceConnection, AtLeastOnceTarget
from eventledger.projections.targets.base import Target, TargetConnection
from eventledger.projections.targets.memory import MemoryReadModel, MemoryTarget
from eventledger.projections.targets.sqlite import SQLiteTarget

__all__ = [
    "AtLeastOnceConnection",
    "AtLeastOnceTarget",
    "Build",
    "BuildState",
    "DeadLetter",
    "FailedEvent",
    "MemoryReadModel",
    "MemoryTarget",
    "Preparation",
    "SQLiteTarget",
    "Target",
    "TargetConnection",
]
