"""Turning a stored event (type name, schema version, JSON data) into today's Event class.

Every read path of every backend decodes through :func:`decode_event`, so this module is the
one place where stored shapes meet current classes. Stored rows are never rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pydantic

from eventledger.errors import EventDecodeError, UnknownEventType
from eventledger.events import Event, event_types


def decode_event(
    type_name: str,
    schema_version: int,
    data: str | bytes | Mapping[str, Any],
    *,
    stream_id: str,
    position: int,
) -> Event:
    """Decode one stored event into an instance of its current class.

    Raises :class:`UnknownEventType` when no class is registered under ``type_name`` and
    :class:`EventDecodeError` when the data does not validate against the class.
    """
    cls = event_types.resolve(type_name)
    if cls is None:
        raise UnknownEventType(type_name, stream_id, position)
    try:
        if isinstance(data, Mapping):
            return cls.model_validate(data)
        return cls.model_validate_json(data)
    except pydantic.ValidationError as error:
        raise EventDecodeError(type_name, stream_id, position, _summarise(error)) from error
    except json.JSONDecodeError as error:
        raise EventDecodeError(type_name, stream_id, position, f"invalid JSON: {error}") from error


def _summarise(error: pydantic.ValidationError) -> str:
    parts = []
    for detail in error.errors()[:5]:
        location = ".".join(str(part) for part in detail["loc"]) or "(event)"
        parts.append(f"{location}: {detail['msg']}")
    return "; ".join(parts)
