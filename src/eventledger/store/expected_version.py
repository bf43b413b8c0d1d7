"""The four expected-version forms of an append, and how a stream's version is checked against them.

An exact version (``0`` is :data:`NO_STREAM`), :data:`ANY` or :data:`STREAM_EXISTS`, as
KurrentDB has them. Defined once here and used by the store contract
(:mod:`eventledger.store.base`, which re-exports them) and by every backend.
"""

from __future__ import annotations

import enum
from typing import Final

from eventledger.errors import InvalidExpectedVersion
from eventledger.store.limits import MAX_VERSION


class StreamState(enum.Enum):
    """Expected-version forms that are not an exact version."""

    ANY = "any"
    """Append whatever the stream's version is (no concurrency check)."""
    STREAM_EXISTS = "stream_exists"
    """Append only to a stream that has at least one event."""

    def __repr__(self) -> str:
        return self.name


ANY: Final = StreamState.ANY
"""Expected version: no check."""
STREAM_EXISTS: Final = StreamState.STREAM_EXISTS
"""Expected version: the stream must already exist."""
NO_STREAM: Final[int] = 0
"""Expected version: the stream must not exist yet (the same as the exact version 0)."""

ExpectedVersion = int | StreamState
"""An exact version (``0`` == :data:`NO_STREAM`), :data:`ANY` or :data:`STREAM_EXISTS`."""


def check_expected_version(stream_id: str, expected: object) -> ExpectedVersion:
    """Validate an expected version, or raise :class:`InvalidExpectedVersion`."""
    if type(expected) is int and 0 <= expected < MAX_VERSION:
        return expected  # the common case, decided without the isinstance chain below
    if isinstance(expected, StreamState):
        return expected
    raise InvalidExpectedVersion(stream_id, expected)


def expected_version_matches(expected: ExpectedVersion, actual: int) -> bool:
    """Does a stream at version ``actual`` satisfy ``expected``?"""
    if expected is ANY:
        return True
    if expected is STREAM_EXISTS:
        return actual > 0
    return expected == actual
