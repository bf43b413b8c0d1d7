"""Stored rows into RecordedEvents, for the SQL backends (one decoder, each driver's conversions)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventledger.events import RecordedEvent, decode_metadata, recorded_event
from eventledger.versioning import PageDecoder


def decode_rows(
    rows: Iterable[Sequence[Any]],
    *,
    event_id: Callable[[Any], UUID],
    recorded_at: Callable[[Any], datetime],
) -> list[RecordedEvent]:
    """Decode a page of stored rows into RecordedEvents, for the SQL backends.

    Each row is ``(position, stream_id, version, event_id, type, schema_version, data, metadata,
    recorded_at)`` as the backend's driver returns it; ``event_id`` and ``recorded_at`` turn the
    driver's values into a UUID and a UTC datetime.
    """
    decoded: list[RecordedEvent] = []
    append = decoded.append
    decode = PageDecoder().decode
    # The events of one batch share their recorded_at, so one conversion serves them all.
    last_at: object = None
    moment = datetime.fromtimestamp(0, UTC)
    for position, stream_id, version, stored_id, type_name, schema_version, data, metadata, at in rows:
        if at != last_at:
            moment = recorded_at(at)
            last_at = at
        append(
            recorded_event(
                event_id(stored_id),
                stream_id,
                version,
                position,
                type_name,
                decode(type_name, schema_version, data, stream_id, position),
                decode_metadata(metadata) if metadata else {},
                moment,
            )
        )
    return decoded
