"""The event store: the :class:`EventStore` contract, its backends and :func:`open_store`."""

from eventledger.store.appends import AppendRequest
from eventledger.store.base import ANY, NO_STREAM, STREAM_EXISTS, EventStore, ExpectedVersion, StreamState
from eventledger.store.records import AppendResult, OpenTransaction, Snapshot, StreamInfo, VisibilityStatus
from eventledger.store.url import StoreOpener, open_store

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendRequest",
    "AppendResult",
    "EventStore",
    "ExpectedVersion",
    "OpenTransaction",
    "Snapshot",
    "StoreOpener",
    "StreamInfo",
    "StreamState",
    "VisibilityStatus",
    "open_store",
]
