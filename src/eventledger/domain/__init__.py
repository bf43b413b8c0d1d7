"""The write side: aggregates and deciders, repository, units of work, commands, clocks and snapshots."""

from eventledger.domain.aggregate import Aggregate, applies
from eventledger.domain.clock import Clock, FixedClock, SystemClock, system_clock
from eventledger.domain.commands import Command, CommandHandler, CommandResult
from eventledger.domain.decider import Decider
from eventledger.domain.repository import Repository, RepositoryStatistics
from eventledger.domain.retry import NO_RETRY, RetryPolicy
from eventledger.domain.unit_of_work import UnitOfWork

__all__ = [
    "NO_RETRY",
    "Aggregate",
    "Clock",
    "Command",
    "CommandHandler",
    "CommandResult",
    "Decider",
    "FixedClock",
    "Repository",
    "RepositoryStatistics",
    "RetryPolicy",
    "SystemClock",
    "UnitOfWork",
    "applies",
    "system_clock",
]
