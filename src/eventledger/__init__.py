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

from eventledger.errors import (
    AggregateNotFound,
    ConcurrencyError,
    DomainError,
    DuplicateEventType,
    EventDecodeError,
    EventLedgerError,
    InvalidExpectedVersion,
    InvalidStoreURL,
    SerializationError,
    StoreClosed,
    StoreUnavailable,
    UnknownEventType,
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

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AggregateNotFound",
    "AppendResult",
    "ConcurrencyError",
    "DomainError",
    "DuplicateEventType",
    "Event",
    "EventDecodeError",
    "EventLedgerError",
    "EventStore",
    "EventTypeRegistry",
    "ExpectedVersion",
    "InvalidExpectedVersion",
    "InvalidStoreURL",
    "Metadata",
    "RecordedEvent",
    "SerializationError",
    "Snapshot",
    "StoreClosed",
    "StoreUnavailable",
    "StreamInfo",
    "StreamState",
    "UnknownEventType",
    "event_types",
    "open_store",
]
