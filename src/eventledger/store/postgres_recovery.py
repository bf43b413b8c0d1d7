"""What the PostgreSQL store does when its connection drops in the middle of an append.

An append (one stream's batch, or a multi-stream append) is one statement, so it is stored
entirely or not at all, and whether it was is a fact the database can tell: its first event id
is there or not. :func:`recover` asks, and turns the answer into the append's results or a
:class:`~eventledger.errors.StoreUnavailable` that says which way it went (or that it is
unknown, when the server cannot be asked either).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from eventledger.errors import StoreUnavailable
from eventledger.store.appends import EncodedAppend
from eventledger.store.drivers.postgres import ConnectionLost
from eventledger.store.drivers.postgres_store_connections import Row
from eventledger.store.postgres_statements import Statements
from eventledger.store.records import AppendResult

Fetch = Callable[[bytes, Any, str], Awaitable[list[Row]]]
"""The store's read: (statement, parameters, what it is doing) -> rows."""


@dataclass(frozen=True, slots=True)
class Sent:
    """One stream's part of an append as it was sent: its first event id and how many events."""

    stream_id: str
    first_event_id: uuid.UUID
    count: int

    @classmethod
    def of(cls, requests: list[EncodedAppend], event_ids: list[uuid.UUID]) -> list[Sent]:
        """The parts of a multi-stream append that write events; ``event_ids`` as sent, in order."""
        sent = []
        first = 0
        for request in requests:
            if request.events:
                sent.append(cls(request.stream_id, event_ids[first], len(request.events)))
            first += len(request.events)
        return sent


async def recover(
    fetch: Fetch, statements: Statements, sent: list[Sent], what: str, lost: ConnectionLost
) -> list[AppendResult]:
    """The results of the append of ``sent`` (``what`` names it) if it was stored, in order.

    Raises :class:`StoreUnavailable` saying that nothing of it is stored, or that whether it
    was is unknown (with the event id to look for).
    """
    first_id = sent[0].first_event_id
    try:
        found = await fetch(statements.find_event, (first_id,), "look for an appended event")
    except StoreUnavailable:
        raise StoreUnavailable(
            f"{lost}; whether {what} was stored is unknown (it is all or nothing): look for event "
            f"id {first_id} before appending again"
        ) from None
    if not found:
        raise StoreUnavailable(f"{lost}; nothing of {what} is stored (it is all or nothing): append again")
    results = []
    for part in sent:
        if part.first_event_id != first_id:
            found = await fetch(statements.find_event, (part.first_event_id,), "look for an appended event")
        first_version = int(found[0][1])
        # Concurrent inserts may interleave positions, so read the part's positions back.
        rows = await fetch(
            statements.read_stream_forwards,
            (part.stream_id, first_version, part.count),
            f"read an appended batch of stream {part.stream_id!r}",
        )
        results.append(
            AppendResult(part.stream_id, first_version + part.count - 1, tuple(int(row[0]) for row in rows))
        )
    return results
