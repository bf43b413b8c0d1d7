"""An in-process event store: same behaviour and errors as the database backends.

For tests and prototypes. Events live in a list for the life of the store object; nothing
survives the process. Stored rows are frozen, and the store has no operation that changes or
removes one.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from eventledger.errors import ConcurrencyError
from eventledger.events import EncodedEvent, RecordedEvent, decode_metadata
from eventledger.store.appends import EncodedAppend, check_versions
from eventledger.store.base import EventStore, ExpectedVersion, expected_version_matches
from eventledger.store.records import AppendResult, RawEvent, Snapshot, StreamInfo
from eventledger.versioning import decode_event


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One stored row, exactly as a database backend would hold it (encoded, immutable)."""

    position: int
    stream_id: str
    version: int
    event_id: uuid.UUID
    type: str
    schema_version: int
    data: str
    metadata: str | None
    recorded_at: datetime


class MemoryEventStore(EventStore):
    """The ``memory://`` store."""

    def __init__(self) -> None:
        super().__init__()
        self._log: list[StoredEvent] = []
        self._streams: dict[str, list[StoredEvent]] = {}
        self._snapshots: dict[str, Snapshot] = {}

    def __repr__(self) -> str:
        return "MemoryEventStore()"

    async def _append(
        self,
        stream_id: str,
        events: list[EncodedEvent],
        expected: ExpectedVersion,
        metadata: str | None,
    ) -> AppendResult:
        # No await between the check and the write: asyncio cannot interleave another append.
        self._check_open()
        actual = len(self._streams.get(stream_id, ()))
        if not expected_version_matches(expected, actual):
            raise ConcurrencyError(stream_id, expected, actual)
        return self._write(stream_id, events, metadata, datetime.now(UTC))

    async def _append_many(self, requests: list[EncodedAppend]) -> list[AppendResult]:
        return self.append_in_order([requests])[0]

    def append_in_order(self, groups: Sequence[Sequence[EncodedAppend]]) -> list[list[AppendResult]]:
        """Write several multi-stream appends, one after another, as one step: all or nothing.

        Each group is checked against the versions the groups before it leave, and every check
        comes before any write, with no ``await`` anywhere: a refusal (:class:`ConcurrencyError`,
        naming every stream of the first group that does not hold) writes nothing of any
        group, and no other task sees a part. The caller may do more in the same step (a
        reactor moves its checkpoint). Subscribers are woken when something was written.
        """
        self._check_open()
        versions: dict[str, int] = {}
        for group in groups:
            actual = {
                request.stream_id: versions.get(
                    request.stream_id, len(self._streams.get(request.stream_id, ()))
                )
                for request in group
            }
            check_versions(group, actual)
            versions.update(
                (request.stream_id, actual[request.stream_id] + len(request.events)) for request in group
            )
        now = datetime.now(UTC)
        results = [[self._write(r.stream_id, r.events, r.metadata, now) for r in group] for group in groups]
        if any(result.positions for group in results for result in group):
            self._wake_subscribers()
        return results

    def _write(
        self, stream_id: str, events: list[EncodedEvent], metadata: str | None, now: datetime
    ) -> AppendResult:
        actual = len(self._streams.get(stream_id, ()))
        first = len(self._log) + 1
        rows = [
            StoredEvent(
                position=first + index,
                stream_id=stream_id,
                version=actual + 1 + index,
                event_id=uuid.uuid4(),
                type=encoded.type,
                schema_version=encoded.schema_version,
                data=encoded.data,
                metadata=metadata,
                recorded_at=now,
            )
            for index, encoded in enumerate(events)
        ]
        self._log.extend(rows)
        self._streams.setdefault(stream_id, []).extend(rows)
        return AppendResult(stream_id, actual + len(rows), tuple(row.position for row in rows))

    async def _read_stream_page(
        self, stream_id: str, start: int | None, limit: int, backwards: bool
    ) -> list[RecordedEvent]:
        self._check_open()
        stream = self._streams.get(stream_id, [])
        if backwards:
            end = len(stream) if start is None else min(start, len(stream))
            rows = stream[max(end - limit, 0) : end][::-1]
        else:
            begin = (start or 1) - 1
            rows = stream[begin : begin + limit]
        return [_decode(row) for row in rows]

    async def _read_all_page(
        self, after: int, limit: int, types: tuple[str, ...] | None
    ) -> list[RecordedEvent]:
        self._check_open()
        index = bisect.bisect_right(self._log, after, key=lambda row: row.position)
        page: list[RecordedEvent] = []
        for row in self._log[index:]:
            if types is not None and row.type not in types:
                continue
            page.append(_decode(row))
            if len(page) >= limit:
                break
        return page

    async def _read_all_raw_page(self, after: int, limit: int) -> list[RawEvent]:
        self._check_open()
        index = bisect.bisect_right(self._log, after, key=lambda row: row.position)
        return [
            RawEvent(row.position, row.stream_id, row.version, row.type, row.schema_version, row.data)
            for row in self._log[index : index + limit]
        ]

    async def _stream_version(self, stream_id: str) -> int:
        """The stream's current version (0 when it has no events)."""
        self._check_open()
        return len(self._streams.get(stream_id, ()))

    async def head_position(self) -> int:
        """The position of the last event (0 for an empty store)."""
        self._check_open()
        return self._log[-1].position if self._log else 0

    async def _list_streams(self, after: str, limit: int) -> list[StreamInfo]:
        """Streams ordered by id, starting after ``after``."""
        self._check_open()
        names = sorted(name for name in self._streams if name > after)
        return [
            StreamInfo(name, len(self._streams[name]), self._streams[name][-1].recorded_at)
            for name in names[:limit]
        ]

    async def _save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` unless a newer one of the stream is already stored."""
        self._check_open()
        current = self._snapshots.get(snapshot.stream_id)
        if current is None or current.version <= snapshot.version:
            self._snapshots[snapshot.stream_id] = snapshot

    async def _load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of ``stream_id``, or None."""
        self._check_open()
        return self._snapshots.get(stream_id)

    def stored_events(self) -> tuple[StoredEvent, ...]:
        """The raw stored rows (frozen), for tests that inspect what was written."""
        return tuple(self._log)

    def insert_stored_event(self, row: StoredEvent) -> None:
        """Add a raw row as an older release would have written it (for migration tests).

        The row must continue the stream and the log; it cannot replace anything.
        """
        stream = self._streams.setdefault(row.stream_id, [])
        if row.version != len(stream) + 1:
            raise ValueError(f"version {row.version} does not follow stream {row.stream_id!r}")
        if self._log and row.position <= self._log[-1].position:
            raise ValueError(f"position {row.position} does not follow the log")
        if any(stored.event_id == row.event_id for stored in self._log):
            raise ValueError(f"event id {row.event_id} is already stored")
        self._log.append(row)
        stream.append(row)

    async def _close(self) -> None:
        self._log = []
        self._streams = {}


def _decode(row: StoredEvent) -> RecordedEvent:
    return RecordedEvent(
        event_id=row.event_id,
        stream_id=row.stream_id,
        version=row.version,
        position=row.position,
        type=row.type,
        event=decode_event(
            row.type, row.schema_version, row.data, stream_id=row.stream_id, position=row.position
        ),
        metadata=decode_metadata(row.metadata),
        recorded_at=row.recorded_at,
    )
