"""The write side: aggregates and deciders, the repository, units of work, command handling and snapshots."""

from eventledger.domain.aggregate import Aggregate, applies
from eventledger.domain.commands import Command, CommandHandler, CommandResult
from eventledger.domain.decider import Decider
from eventledger.domain.repository import Repository, RepositoryStatistics
from eventledger.domain.retry import NO_RETRY, RetryPolicy
from eventledger.domain.unit_of_work import UnitOfWork

__all__ = [
    "NO_RETRY",
    "Aggregate",
    "Command",
    "CommandHandler",
    "CommandResult",
    "Decider",
    "Repository",
    "RepositoryStatistics",
    "RetryPolicy",
    "UnitOfWork",
    "applies",
]
