"""Properties: upcasting never changes what is stored, and reading twice gives equal events."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import eventledger as el
from eventledger.store.memory import MemoryEventStore, StoredEvent
from eventledger.versioning import UpcasterRegistry, decode_event, use_upcasters

NOTE = "versioning.property-note"


class NoteWritten(el.Event, type_name=NOTE, schema_version=3):
    title: str
    body: dict[str, Any]
    tags: list[str]


def heading_to_title(data: dict[str, Any]) -> dict[str, Any]:
    # Careless on purpose: changes its input in place, nested values included.
    data["title"] = data.pop("heading")
    data["body"]["upcast"] = True
    return data


def add_tags(data: dict[str, Any]) -> dict[str, Any]:
    data.setdefault("tags", []).append("v3")
    data["body"]["steps"] = data["body"].get("steps", 0) + 1
    return data


def note_history() -> UpcasterRegistry:
    registry = UpcasterRegistry()
    registry.register(NoteWritten, 1, heading_to_title)
    registry.register(NoteWritten, 2, add_tags)
    return registry


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=12,
)
bodies = st.dictionaries(st.text(max_size=5), json_values, max_size=4)


@st.composite
def stored_notes(draw: st.DrawFn) -> tuple[int, dict[str, Any]]:
    """A stored note of any schema version, shaped as the release of that version wrote it."""
    version = draw(st.integers(min_value=1, max_value=3))
    body = draw(bodies)
    title = draw(st.text(max_size=10))
    if version == 1:
        return version, {"heading": title, "body": body}
    if version == 2:
        return version, {"title": title, "body": body}
    return version, {"title": title, "body": body, "tags": draw(st.lists(st.text(max_size=4), max_size=3))}


@settings(max_examples=150, deadline=None)
@given(stored_notes())
def test_upcasting_a_decoded_row_never_changes_it(note: tuple[int, dict[str, Any]]) -> None:
    # PostgreSQL drivers hand JSONB over as a dict; the store's dict must come back untouched.
    version, row = note
    snapshot = copy.deepcopy(row)
    registry = note_history()
    first = decode_event(NOTE, version, row, stream_id="n", position=1, upcasters=registry)
    second = decode_event(NOTE, version, row, stream_id="n", position=1, upcasters=registry)
    assert row == snapshot
    assert first == second
    assert isinstance(first, NoteWritten)


@settings(max_examples=150, deadline=None)
@given(stored_notes())
def test_dict_and_text_rows_decode_to_equal_events(note: tuple[int, dict[str, Any]]) -> None:
    version, row = note
    registry = note_history()
    text = json.dumps(row)
    from_text = decode_event(NOTE, version, text, stream_id="n", position=1, upcasters=registry)
    from_dict = decode_event(NOTE, version, json.loads(text), stream_id="n", position=1, upcasters=registry)
    assert from_text == from_dict


@settings(max_examples=50, deadline=None)
@given(st.lists(stored_notes(), min_size=1, max_size=6))
def test_reading_a_store_twice_gives_equal_events_and_leaves_its_rows_as_they_were(
    notes: list[tuple[int, dict[str, Any]]],
) -> None:
    async def scenario() -> None:
        store = MemoryEventStore()
        for index, (version, row) in enumerate(notes, start=1):
            data = json.dumps(row)
            at = datetime.now(UTC)
            row_id = uuid.uuid4()
            store.insert_stored_event(StoredEvent(index, "n", index, row_id, NOTE, version, data, None, at))
        rows_before = store.stored_events()
        with use_upcasters(note_history()):
            first = [r.event async for r in store.read_all()]
            second = [r.event async for r in store.read_stream("n")]
        assert first == second
        assert store.stored_events() == rows_before
        assert [row.data for row in store.stored_events()] == [json.dumps(row) for _, row in notes]
        await store.close()

    asyncio.run(scenario())
