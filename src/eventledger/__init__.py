"""eventledger: Event Sourcing & CQRS for Python.

>>> import eventledger as el
>>> class OrderPlaced(el.Event):
...     order_id: str
>>> async def main() -> None:
...     async with el.open_store("sqlite:///orders.db") as store:
...         await store.append("order-1", [OrderPlaced(order_id="1")], expected_version=el.NO_STREAM)
...         async for recorded in store.read_stream("order-1"):
...             print(recorded.version, recorded.type, recorded.event)

The top level holds what an application writes every day: events, stores and the
expected-version forms, aggregates, deciders, the repository and commands, projections and
their runner, and the errors an application catches (the root, its middle layers, and the write
side's own). Everything else lives in the submodule that owns it, so this namespace stays small
enough to read at a glance (the README's "Where everything lives" lists them):

- :mod:`eventledger.errors`: every error class (``StoreClosed``, ``CheckpointConflict``, ...);
- :mod:`eventledger.store`: ``Snapshot``, ``StreamInfo``, ``VisibilityStatus``; backends in
  ``eventledger.store.memory`` / ``.sqlite`` / ``.postgres``;
- :mod:`eventledger.projections`: targets beyond memory and SQLite, listeners, retry and lease
  policies, :func:`~eventledger.projections.stored_status`;
- :mod:`eventledger.versioning`: the upcaster registry (``upcasters``, ``UpcasterRegistry``,
  ``use_upcasters``, ``RetiredEvent``);
- :mod:`eventledger.compatibility`: the report of :func:`check_store`;
- :mod:`eventledger.domain`: ``RepositoryStatistics``, ``NO_RETRY``;
- :mod:`eventledger.events`: the type registry (``event_types``) and the JSON codec;
- :mod:`eventledger.testing`: given/when/then, projection scenarios, and the conformance kit
  (:mod:`eventledger.testing.conformance`) for third-party stores and targets.
"""

from eventledger.compatibility import check_store
from eventledger.domain import (
    Aggregate,
    Command,
    CommandHandler,
    CommandResult,
    Decider,
    Repository,
    RetryPolicy,
    applies,
)
from eventledger.errors import (
    AggregateNotFound,
    ConcurrencyError,
    DomainError,
    EventLedgerError,
    InvalidArgument,
    ProjectionError,
    SerializationError,
    StoredEventError,
    StoreError,
    StoreUnavailable,
    UnhandledEvent,
)
from eventledger.events import Event, RecordedEvent
from eventledger.projections import (
    MemoryTarget,
    Projection,
    ProjectionRunner,
    ProjectionState,
    ProjectionStatus,
    SQLiteTarget,
    SQLTransaction,
    Target,
    handles,
)
from eventledger.store import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendRequest,
    AppendResult,
    EventStore,
    ExpectedVersion,
    open_store,
)
from eventledger.versioning import upcaster

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "Aggregate",
    "AggregateNotFound",
    "AppendRequest",
    "AppendResult",
    "Command",
    "CommandHandler",
    "CommandResult",
    "ConcurrencyError",
    "Decider",
    "DomainError",
    "Event",
    "EventLedgerError",
    "EventStore",
    "ExpectedVersion",
    "InvalidArgument",
    "MemoryTarget",
    "Projection",
    "ProjectionError",
    "ProjectionRunner",
    "ProjectionState",
    "ProjectionStatus",
    "RecordedEvent",
    "Repository",
    "RetryPolicy",
    "SQLTransaction",
    "SQLiteTarget",
    "SerializationError",
    "StoreError",
    "StoreUnavailable",
    "StoredEventError",
    "Target",
    "UnhandledEvent",
    "applies",
    "check_store",
    "handles",
    "open_store",
    "upcaster",
]
