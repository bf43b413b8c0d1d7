"""The SQL stores decode a page of a read row by row, as the reader reaches each event.

So a reader holds one decoded event at a time rather than a page of them, a row that cannot be
decoded fails the read only when the reader reaches it (after every event before it), and a
reader that stops earlier never meets it. (The memory store decodes its pages whole.)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import eventledger as el
from backends import BACKENDS, Backend
from eventledger.errors import UnknownEventType
from eventledger.store.rows import RowPage
from eventledger.store.sqlite import from_microseconds

VANISHED = "test.store.reading-pages.vanished"
NOTED = "test.store.reading-pages.noted"


class Noted(el.Event, type_name=NOTED):
    """A small event of these tests."""

    text: str


@pytest.fixture(params=["sqlite", "postgres"])
async def sql_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    made = BACKENDS[request.param](tmp_path)
    yield made
    await made.close()


@pytest.fixture
async def sql_store(sql_backend: Backend) -> AsyncIterator[el.EventStore]:
    opened = await sql_backend.open()
    yield opened
    await opened.close()


async def two_events_then_an_undecodable_one(backend: Backend, store: el.EventStore) -> int:
    """The stream ``s1``: two events, then one of a type no class has; the last one's position."""
    await store.append("s1", [Noted(text="a"), Noted(text="b")], expected_version=0)
    await backend.insert_raw("s1", 3, VANISHED, 1, '{"text": "c"}')
    return [raw.position async for raw in store.read_all_raw()][-1]


async def test_a_read_delivers_the_events_before_an_undecodable_one_then_names_it(
    sql_backend: Backend, sql_store: el.EventStore
) -> None:
    position = await two_events_then_an_undecodable_one(sql_backend, sql_store)
    delivered = []
    with pytest.raises(UnknownEventType) as caught:
        async for recorded in sql_store.read_all():
            delivered.append(recorded.event)
    assert delivered == [Noted(text="a"), Noted(text="b")]
    error = caught.value
    assert (error.type_name, error.stream_id, error.position) == (VANISHED, "s1", position)


async def test_a_reader_that_stops_before_an_undecodable_event_never_meets_it(
    sql_backend: Backend, sql_store: el.EventStore
) -> None:
    await two_events_then_an_undecodable_one(sql_backend, sql_store)
    async for recorded in sql_store.read_stream("s1"):
        if recorded.version == 2:
            break
    assert recorded.event == Noted(text="b")


def test_a_page_of_rows_indexes_and_slices_like_the_list_of_its_events() -> None:
    rows = [
        (position, "s1", position, str(uuid.uuid4()), NOTED, 1, f'{{"text": "{text}"}}', None, 0)
        for position, text in ((1, "a"), (2, "b"), (3, "c"))
    ]
    page = RowPage(rows, event_id=uuid.UUID, recorded_at=from_microseconds)
    events = list(page)
    assert len(page) == 3
    assert [recorded.event for recorded in events] == [Noted(text="a"), Noted(text="b"), Noted(text="c")]
    assert page[-1] == events[-1]
    assert page[:2] == events[:2]
    assert events[0].event_id == uuid.UUID(rows[0][3])
    assert events[0].recorded_at == datetime(1970, 1, 1, tzinfo=UTC)
