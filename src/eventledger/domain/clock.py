"""The time a command is decided at, as something a test can replace.

Rules that depend on the time ("an order not paid within 7 days expires") read it from the
command (``command.now``), never from the system clock, so that a decider stays a pure function
and a test can state the time it runs at. The :class:`~eventledger.CommandHandler` asks its
:class:`Clock` once per command; tests hand it a :class:`FixedClock`::

    clock = FixedClock(datetime(2026, 1, 31, 12, 0, tzinfo=UTC))
    handler = CommandHandler(store, decider, clock=clock)
    clock.advance(timedelta(days=8))
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from eventledger.errors import InvalidArgument


@runtime_checkable
class Clock(Protocol):
    """Where the current time comes from: anything with a ``now()`` giving an aware datetime."""

    def now(self) -> datetime:
        """The current time, timezone-aware (it is stored in UTC)."""
        ...


class SystemClock:
    """The machine's clock, in UTC: the default of every handler."""

    def now(self) -> datetime:
        """The current time in UTC."""
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "system_clock"


system_clock: Clock = SystemClock()
"""The machine's clock, in UTC."""


class FixedClock:
    """A clock that says what the test tells it, and moves only when told (``advance``, ``set``)."""

    def __init__(self, at: datetime) -> None:
        self._at = utc(at, source="FixedClock")

    def now(self) -> datetime:
        """The time the clock was set to."""
        return self._at

    def set(self, at: datetime) -> None:
        """Move the clock to ``at`` (forwards or backwards)."""
        self._at = utc(at, source="FixedClock")

    def advance(self, by: timedelta) -> datetime:
        """Move the clock forward by ``by``; return the new time."""
        self._at += by
        return self._at

    def __repr__(self) -> str:
        return f"FixedClock({self._at.isoformat()})"


def utc(moment: datetime, *, source: object) -> datetime:
    """``moment`` in UTC; a naive datetime is refused, since its zone would be a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidArgument(
            f"{source} gave a naive datetime {moment.isoformat()}; give it a timezone (UTC)"
        )
    return moment.astimezone(UTC)


def timestamp(moment: datetime) -> str:
    """The ISO-8601 text of ``moment`` in UTC, as stored in event metadata (``...+00:00``)."""
    return utc(moment, source="timestamp").isoformat()
