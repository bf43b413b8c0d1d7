"""eventledger: Event Sourcing & CQRS for Python.

>>> import eventledger as el
>>> class OrderPlaced(el.Event):
...     order_id: str
>>> async def main() -> None:
...     async with el.open_store("sqlite:///orders.db") as store:
...         await store.append("order-1", [OrderPlaced(order_id="1")], expected_version=el.NO_STREAM)
...         async for recorded in store.read_stream("order-1"):
...             print(recorded.version, recorded.type, recorded.event)
"""

from eventledger.compatibility import (
    CompatibilityReport,
    IncompatibleEvent,
    IncompatibleGroup,
    StoredVersion,
    check_store,
)
from eventledger.domain import (
    NO_RETRY,
    Aggregate,
    Command,
    CommandHandler,
    CommandResult,
    Decider,
    Repository,
    RepositoryStatistics,
    RetryPolicy,
    applies,
)
from eventledger.errors import (
    AggregateNotFound,
    ConcurrencyError,
    DomainError,
    DuplicateEventType,
    EventDecodeError,
    EventLedgerError,
    InvalidExpectedVersion,
    InvalidStoreURL,
    MissingUpcaster,
    SchemaEvolutionError,
    SerializationError,
    StoreClosed,
    StoredVersionTooNew,
    StoreUnavailable,
    UnhandledEvent,
    UnknownEventType,
    UpcastError,
)
from eventledger.events import Event, EventTypeRegistry, Metadata, RecordedEvent, event_types
from eventledger.store import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    EventStore,
    ExpectedVersion,
    Snapshot,
    StreamInfo,
    StreamState,
    open_store,
)
from eventledger.store.base import RawEvent
from eventledger.versioning import (
    RetiredEvent,
    Upcaster,
    UpcasterRegistry,
    active_upcasters,
    upcaster,
    upcasters,
    use_upcasters,
)

__all__ = [
    "ANY",
    "NO_RETRY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "Aggregate",
    "AggregateNotFound",
    "AppendResult",
    "Command",
    "CommandHandler",
    "CommandResult",
    "CompatibilityReport",
    "ConcurrencyError",
    "Decider",
    "DomainError",
    "DuplicateEventType",
    "Event",
    "EventDecodeError",
    "EventLedgerError",
    "EventStore",
    "EventTypeRegistry",
    "ExpectedVersion",
    "IncompatibleEvent",
    "IncompatibleGroup",
    "InvalidExpectedVersion",
    "InvalidStoreURL",
    "Metadata",
    "MissingUpcaster",
    "RawEvent",
    "RecordedEvent",
    "Repository",
    "RepositoryStatistics",
    "RetiredEvent",
    "RetryPolicy",
    "SchemaEvolutionError",
    "SerializationError",
    "Snapshot",
    "StoreClosed",
    "StoreUnavailable",
    "StoredVersion",
    "StoredVersionTooNew",
    "StreamInfo",
    "StreamState",
    "UnhandledEvent",
    "UnknownEventType",
    "UpcastError",
    "Upcaster",
    "UpcasterRegistry",
    "active_upcasters",
    "applies",
    "check_store",
    "event_types",
    "open_store",
    "upcaster",
    "upcasters",
    "use_upcasters",
]
