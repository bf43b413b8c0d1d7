"""Stored rows into RecordedEvents, for the SQL backends (one decoder, each driver's conversions)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import pydantic

from eventledger.events import Event, RecordedEvent, decode_metadata
from eventledger.versioning import current_validator, decode_event

# A frozen dataclass refuses attribute assignment; its slots' own descriptors set the fields, in
# the order the rows hand them over (a page decodes thousands of rows, and RecordedEvent's own
# __init__ goes through object.__setattr__ for each field).
_FIELDS: Final = ("event_id", "stream_id", "version", "position", "type", "event", "metadata", "recorded_at")
if tuple(each.name for each in fields(RecordedEvent)) != _FIELDS:
    raise AssertionError("decode_rows() must set every field of RecordedEvent, in order")
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


def decode_rows(
    rows: Iterable[Sequence[Any]],
    *,
    event_id: Callable[[Any], UUID] | None,
    recorded_at: Callable[[Any], datetime],
) -> list[RecordedEvent]:
    """Decode a page of stored rows into RecordedEvents, for the SQL backends.

    Each row is ``(position, stream_id, version, event_id, type, schema_version, data, metadata,
    recorded_at)`` as the backend's driver returns it; ``event_id`` (None: the driver already
    returns a UUID) and ``recorded_at`` turn the driver's values into a UUID and a UTC datetime.

    This is every read's inner loop, so it does per row only what the row needs: the validator
    of a (type, schema version) is found once per run of rows that share it (a row it cannot take,
    because it needs upcasting or does not validate, goes through :func:`decode_event`, which
    raises the error that names the row), and rows recorded together share one converted time.
    """
    decoded: list[RecordedEvent] = []
    append = decoded.append
    new = object.__new__
    validators: dict[tuple[str, int], Callable[[str | bytes], Event] | None] = {}
    validate: Callable[[str | bytes], Event] | None = None
    last_type: object = None
    last_version: object = None
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
        append(recorded)
    return decoded
