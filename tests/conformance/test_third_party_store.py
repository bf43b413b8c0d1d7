"""A third party's store runs the conformance kit the way the README shows.

``ListStore`` stands for a backend written outside this project: it subclasses
:class:`~eventledger.EventStore`, supplies the primitives, and runs the whole kit through the
one documented fixture. It offers no raw access, so it runs ``StoreConformance`` (the
specifications that write behind the store's back are ``RawStoreConformance``'s), and nothing is
skipped: the last test runs it as a third party would and says so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from eventledger import ANY, AppendResult, ConcurrencyError, EventStore, ExpectedVersion, RecordedEvent
from eventledger.events import EncodedEvent, decode_metadata
from eventledger.store import Snapshot, StreamInfo
from eventledger.store.appends import EncodedAppend
from eventledger.store.base import expected_version_matches
from eventledger.store.records import RawEvent
from eventledger.testing.conformance import StoreConformance, StoreUnderTest
from eventledger.versioning import decode_event


@dataclass(frozen=True)
class Row:
    position: int
    stream_id: str
    version: int
    event_id: uuid.UUID
    type: str
    schema_version: int
    data: str
    metadata: str | None
    recorded_at: datetime


@dataclass
class ListDatabase:
    """What several ListStore "connections" share: the rows and the snapshots."""

    rows: list[Row] = field(default_factory=list)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)


class ListStore(EventStore):
    """An event store kept in a plain list: the least a backend has to write."""

    def __init__(self, database: ListDatabase) -> None:
        super().__init__()
        self.database = database

    def _stream(self, stream_id: str) -> list[Row]:
        return [row for row in self.database.rows if row.stream_id == stream_id]

    async def _append(
        self, stream_id: str, events: list[EncodedEvent], expected: ExpectedVersion, metadata: str | None
    ) -> AppendResult:
        self._check_open()
        actual = len(self._stream(stream_id))  # no await until written: the batch is atomic
        if not expected_version_matches(expected, actual):
            raise ConcurrencyError(stream_id, expected, actual)
        first, now = len(self.database.rows) + 1, datetime.now(UTC)
        rows = [
            Row(
                first + i,
                stream_id,
                actual + 1 + i,
                uuid.uuid4(),
                e.type,
                e.schema_version,
                e.data,
                metadata,
                now,
            )
            for i, e in enumerate(events)
        ]
        self.database.rows.extend(rows)
        return AppendResult(stream_id, actual + len(rows), tuple(row.position for row in rows))

    async def _append_many(self, requests: list[EncodedAppend]) -> list[AppendResult]:
        self._check_open()
        # Every check before any write, no await between: all of it or nothing.
        conflicts = [
            (request.stream_id, request.expected, len(self._stream(request.stream_id)))
            for request in requests
            if not expected_version_matches(request.expected, len(self._stream(request.stream_id)))
        ]
        if conflicts:
            raise ConcurrencyError(*conflicts[0], also=tuple(conflicts[1:]))
        return [
            await self._append(request.stream_id, request.events, ANY, request.metadata)
            if request.events
            else AppendResult(request.stream_id, len(self._stream(request.stream_id)), ())
            for request in requests
        ]

    async def _read_stream_page(
        self, stream_id: str, start: int | None, limit: int, backwards: bool
    ) -> list[RecordedEvent]:
        self._check_open()
        stream = self._stream(stream_id)
        if backwards:
            end = len(stream) if start is None else min(start, len(stream))
            return [_decoded(row) for row in stream[max(end - limit, 0) : end][::-1]]
        begin = (start or 1) - 1
        return [_decoded(row) for row in stream[begin : begin + limit]]

    async def _read_all_page(
        self, after: int, limit: int, types: tuple[str, ...] | None
    ) -> list[RecordedEvent]:
        self._check_open()
        rows = [row for row in self.database.rows[after:] if types is None or row.type in types]
        return [_decoded(row) for row in rows[:limit]]

    async def _read_all_raw_page(self, after: int, limit: int) -> list[RawEvent]:
        self._check_open()
        return [
            RawEvent(row.position, row.stream_id, row.version, row.type, row.schema_version, row.data)
            for row in self.database.rows[after : after + limit]
        ]

    async def _stream_version(self, stream_id: str) -> int:
        self._check_open()
        return len(self._stream(stream_id))

    async def head_position(self) -> int:
        self._check_open()
        return len(self.database.rows)

    async def _list_streams(self, after: str, limit: int) -> list[StreamInfo]:
        self._check_open()
        names = sorted({row.stream_id for row in self.database.rows if row.stream_id > after})[:limit]
        return [
            StreamInfo(name, len(rows), rows[-1].recorded_at)
            for name in names
            for rows in [self._stream(name)]
        ]

    async def _save_snapshot(self, snapshot: Snapshot) -> None:
        self._check_open()
        current = self.database.snapshots.get(snapshot.stream_id)
        if current is None or current.version <= snapshot.version:
            self.database.snapshots[snapshot.stream_id] = snapshot

    async def _load_snapshot(self, stream_id: str) -> Snapshot | None:
        self._check_open()
        return self.database.snapshots.get(stream_id)

    async def _close(self) -> None:
        pass


def _decoded(row: Row) -> RecordedEvent:
    event = decode_event(
        row.type, row.schema_version, row.data, stream_id=row.stream_id, position=row.position
    )
    return RecordedEvent(
        event_id=row.event_id,
        stream_id=row.stream_id,
        version=row.version,
        position=row.position,
        type=row.type,
        event=event,
        metadata=decode_metadata(row.metadata),
        recorded_at=row.recorded_at,
    )


# ---------------------------------------------------------------- what the README shows


class ListDatabaseUnderTest(StoreUnderTest):
    def __init__(self) -> None:
        self.database = ListDatabase()

    async def open(self) -> EventStore:
        return ListStore(self.database)


class TestListStore(StoreConformance):
    @pytest.fixture
    def store_under_test(self) -> StoreUnderTest:
        return ListDatabaseUnderTest()


def test_a_third_party_store_runs_the_kit_with_nothing_failed_or_skipped(pytestconfig: pytest.Config) -> None:
    """Run the kit on ListStore in a pytest of its own, in pytest-asyncio's strict mode (the
    default a third party may well have), and read its outcome."""
    result = pytest.main(
        ["-q", "-p", "no:cacheprovider", "-o", "asyncio_mode=strict", f"{__file__}::TestListStore"],
        plugins=[outcomes := Outcomes()],
    )
    assert result == pytest.ExitCode.OK
    assert outcomes.failed == []
    assert outcomes.skipped == []
    assert len(outcomes.passed) > 50


class Outcomes:
    """A pytest plugin that records each test's outcome by name."""

    def __init__(self) -> None:
        self.passed: list[str] = []
        self.failed: list[str] = []
        self.skipped: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = report.nodeid.rsplit("::", 1)[-1]
        if report.skipped:
            self.skipped.append(name)
        elif report.failed:
            self.failed.append(name)
        elif report.when == "call":
            self.passed.append(name)
