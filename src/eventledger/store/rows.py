"""Stored rows into RecordedEvents, for the SQL backends (one decoder, each driver's conversions).

A page of rows is handed to the paging loop undecoded (:class:`RowPage`) and each row becomes
its RecordedEvent when the reader reaches it. A reader that handles one event at a time (a
projection, a subscriber, ``read_all`` in a loop) then holds one decoded event, not a page of a
thousand: the four small objects each event is made of (the RecordedEvent, its Event, the
Event's set of fields and the UUID) die young instead of outliving the collector's youngest
generation, a page at a time, and being traversed again in the older ones. A row that cannot be
decoded raises when it is reached, after the rows before it were delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, Final, overload
from uuid import UUID

import pydantic

from eventledger.events import Event, RecordedEvent, decode_metadata
from eventledger.versioning import current_validator, decode_event

# A frozen dataclass refuses attribute assignment; its slots' own descriptors set the fields, in
# the order the rows hand them over (RecordedEvent's own __init__ goes through
# object.__setattr__ for each field, on every row read).
_FIELDS: Final = ("event_id", "stream_id", "version", "position", "type", "event", "metadata", "recorded_at")
if tuple(each.name for each in fields(RecordedEvent)) != _FIELDS:
    raise AssertionError("decoded() must set every field of RecordedEvent, in order")
(
    _set_event_id,
    _set_stream_id,
    _set_version,
    _set_position,
    _set_type,
    _set_event,
    _set_metadata,
    _set_recorded_at,
) = (RecordedEvent.__dict__[name].__set__ for name in _FIELDS)

_NOTHING: Final = object()

EventId = Callable[[Any], UUID] | None
"""Turns a driver's event id into a UUID (None: the driver already returns one)."""

RecordedAt = Callable[[Any], datetime]
"""Turns a driver's recorded_at into a UTC datetime."""


def decoded(
    rows: Iterable[Sequence[Any]], event_id: EventId, recorded_at: RecordedAt
) -> Iterator[RecordedEvent]:
    """Decode stored rows into RecordedEvents, one at a time, for the SQL backends.

    Each row is ``(position, stream_id, version, event_id, type, schema_version, data, metadata,
    recorded_at)`` as the backend's driver returns it. This is every read's inner loop, so it does
    per row only what the row needs: the validator of a (type, schema version) is found once per
    run of rows that share it (a row it cannot take, because it needs upcasting or does not
    validate, goes through :func:`decode_event`, which raises the error that names the row), and
    rows recorded together share one converted time.
    """
    new = object.__new__
    validators: dict[tuple[str, int], Callable[[str | bytes], Event] | None] = {}
    validate: Callable[[str | bytes], Event] | None = None
    last_type: object = _NOTHING
    last_version: object = _NOTHING
    last_at: object = _NOTHING
    moment: datetime | None = None
    for position, stream_id, version, stored_id, type_name, schema_version, data, metadata, at in rows:
        if type_name != last_type or schema_version != last_version:
            key = (type_name, schema_version)
            if key not in validators:
                validators[key] = current_validator(type_name, schema_version)
            validate = validators[key]
            last_type, last_version = type_name, schema_version
        event: Event | None = None
        if validate is not None:
            try:
                event = validate(data)
            except pydantic.ValidationError:
                event = None
        if event is None:
            event = decode_event(type_name, schema_version, data, stream_id=stream_id, position=position)
        if at != last_at:
            moment = recorded_at(at)
            last_at = at
        recorded = new(RecordedEvent)
        _set_event_id(recorded, stored_id if event_id is None else event_id(stored_id))
        _set_stream_id(recorded, stream_id)
        _set_version(recorded, version)
        _set_position(recorded, position)
        _set_type(recorded, type_name)
        _set_event(recorded, event)
        _set_metadata(recorded, decode_metadata(metadata) if metadata else {})
        _set_recorded_at(recorded, moment)
        yield recorded


class RowPage(Sequence[RecordedEvent]):
    """A page of a read as the driver returned it, decoded row by row as it is iterated.

    Iterating decodes each row when it is reached (see the module docstring for why); indexing
    decodes the rows asked for. Each iteration decodes again: the paging loop iterates a page
    once.
    """

    __slots__ = ("_event_id", "_recorded_at", "_rows")

    def __init__(self, rows: Sequence[Sequence[Any]], *, event_id: EventId, recorded_at: RecordedAt) -> None:
        self._rows = rows
        self._event_id = event_id
        self._recorded_at = recorded_at

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[RecordedEvent]:
        return decoded(self._rows, self._event_id, self._recorded_at)

    @overload
    def __getitem__(self, index: int) -> RecordedEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[RecordedEvent]: ...

    def __getitem__(self, index: int | slice) -> RecordedEvent | list[RecordedEvent]:
        if isinstance(index, slice):
            return list(decoded(self._rows[index], self._event_id, self._recorded_at))
        return next(decoded((self._rows[index],), self._event_id, self._recorded_at))

    def __repr__(self) -> str:
        return f"RowPage({len(self._rows)} rows)"
