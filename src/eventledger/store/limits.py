"""What every event store accepts, checked once in the base class before any I/O.

The same limits hold on every backend, so an application that works on SQLite does not meet a
different refusal on PostgreSQL, and a caller's mistake is always an
:class:`~eventledger.errors.InvalidArgument` naming what was wrong, never a driver error or an
outage.

- **Stream ids**: a non-empty ``str`` of at most :data:`MAX_STREAM_ID_LENGTH` characters,
  without the NUL character (PostgreSQL text cannot hold it) and without lone surrogates
  (they have no UTF-8 form). The length keeps a stream id inside PostgreSQL's index entry
  limit in any script (4 bytes per character at most).
- **Versions and positions** are 64-bit: an expected version is at most
  :data:`MAX_VERSION` - 1 (the next version must still fit), ``from_version``, ``to_version``
  and ``after`` at most :data:`MAX_VERSION`.
- **Event data and metadata**: at most :data:`MAX_EVENT_SIZE` characters of JSON each, no NUL
  character in any string, and nothing whose stored form would not read back equal (see
  :func:`eventledger.events.encode_event`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from eventledger.errors import InvalidArgument, InvalidStreamId
from eventledger.events import MAX_EVENT_SIZE, Event

__all__ = ["MAX_EVENT_SIZE", "MAX_STREAM_ID_LENGTH", "MAX_VERSION"]

MAX_STREAM_ID_LENGTH: Final = 500
"""The longest stream id, in characters."""

MAX_VERSION: Final = 2**63 - 1
"""The largest version or position a store can hold (a signed 64-bit integer)."""


def check_stream_id(stream_id: object) -> str:
    """``stream_id`` if every store accepts it, else :class:`InvalidStreamId` saying why."""
    if (
        type(stream_id) is str
        and 0 < len(stream_id) <= MAX_STREAM_ID_LENGTH
        and stream_id.isascii()
        and "\x00" not in stream_id
    ):
        return stream_id  # the common case: short ASCII, decided by cheap tests in C
    if not isinstance(stream_id, str):
        raise InvalidStreamId(stream_id, f"a stream id is a str, not {type(stream_id).__name__}")
    if not stream_id:
        raise InvalidStreamId(stream_id, "a stream id cannot be empty")
    if len(stream_id) > MAX_STREAM_ID_LENGTH:
        raise InvalidStreamId(stream_id, f"{len(stream_id)} characters; the limit is {MAX_STREAM_ID_LENGTH}")
    if "\x00" in stream_id:
        raise InvalidStreamId(stream_id, f"NUL character at index {stream_id.index(chr(0))}")
    try:
        stream_id.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidStreamId(stream_id, f"lone surrogate at index {error.start} has no UTF-8 form") from None
    return stream_id


def check_position(name: str, value: object, *, allow_none: bool = False) -> int | None:
    """A version or position argument: an int in 0..MAX_VERSION (or None when allowed)."""
    if value is None and allow_none:
        return None
    if type(value) is not int or not 0 <= value <= MAX_VERSION:
        raise InvalidArgument(f"{name} must be an int from 0 to {MAX_VERSION}, not {value!r}")
    return value


def check_limit(limit: object) -> int | None:
    """A ``limit`` argument: an int >= 0, or None for no limit."""
    if limit is None:
        return None
    if type(limit) is not int or limit < 0:
        raise InvalidArgument(f"limit must be an int >= 0 or None, not {limit!r}")
    return limit


def check_batch(stream_id: str, events: object) -> Sequence[object]:
    """The events of an append: a list or tuple (a single event or None is a mistake)."""
    if isinstance(events, list | tuple):
        return events
    hint = " (wrap a single event in a list)" if isinstance(events, Event) else ""
    raise InvalidArgument(
        f"stream {stream_id!r}: events must be a list or tuple of events, not {type(events).__name__}{hint}"
    )
