"""The one record of "an event failed", from the failed batch to the dead-letter table.

An :class:`EventFailure` is made where an attempt to apply (or decode) an event fails, and the
same record then travels on: into the listener's :class:`~.listeners.EventFailed`, into
:class:`~eventledger.errors.ProjectionFailed`, into the status and the stored report
(``status.failure``), to the operator who retries or skips it (``runner.retry()`` returns it),
and into the dead-letter table (:class:`DeadLetter` wraps it with where and when it was
skipped). Nothing converts it into another shape on the way.

It depends on nothing else of the library, so every layer of the read side can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias
from uuid import UUID

from eventledger.errors import StoredEventError
from eventledger.events import RecordedEvent


@dataclass(frozen=True, slots=True)
class EventFailure:
    """An event a projection could not apply (or could not even decode), and why.

    ``attempts`` is how many times it was tried so far (the retry policy's ``attempts`` once
    the projection has stopped at it), ``at`` when the latest attempt failed. ``event_id`` is
    None for an event that could not be decoded. The field order is that of the older
    ``FailureInfo``, which is this record.
    """

    position: int
    event_type: str
    stream_id: str
    error: str
    attempts: int
    at: datetime
    event_id: UUID | None = None

    @classmethod
    def of_event(cls, recorded: RecordedEvent, error: BaseException, attempts: int) -> EventFailure:
        """The failure of applying ``recorded`` (``error`` is what its handler or the database raised)."""
        return cls(
            position=recorded.position,
            event_type=recorded.type,
            stream_id=recorded.stream_id,
            error=describe_error(error),
            attempts=attempts,
            at=datetime.now(UTC),
            event_id=recorded.event_id,
        )

    @classmethod
    def of_undecodable(cls, error: StoredEventError, attempts: int) -> EventFailure:
        """The failure of reading the stored event a decode error names."""
        return cls(
            position=error.position or 0,
            event_type=error.type_name,
            stream_id=error.stream_id or "",
            error=describe_error(error),
            attempts=attempts,
            at=datetime.now(UTC),
        )


FailureInfo: TypeAlias = EventFailure
"""The name the status and the reports used for the record (the same class)."""

FailedEvent: TypeAlias = EventFailure
"""The name the targets and the operator actions used for the record (the same class)."""


def describe_error(error: BaseException) -> str:
    """``TypeName: message``: how a failure names its cause in statuses, logs and dead letters."""
    return f"{type(error).__name__}: {error}"


class ReadsThroughFailure:
    """A record that carries an :class:`EventFailure` as ``failure`` and shows its facts as its own.

    So the records that pass a failure on (a dead letter, a listener's event) do not copy its
    fields, and code written against their older flat shapes keeps working.
    """

    __slots__ = ()
    failure: EventFailure

    @property
    def position(self) -> int:
        """The failed event's position."""
        return self.failure.position

    @property
    def stream_id(self) -> str:
        """The failed event's stream."""
        return self.failure.stream_id

    @property
    def event_type(self) -> str:
        """The failed event's type name."""
        return self.failure.event_type

    @property
    def event_id(self) -> UUID | None:
        """The failed event's id (None when it could not be decoded)."""
        return self.failure.event_id

    @property
    def error(self) -> str:
        """What it failed with."""
        return self.failure.error


@dataclass(frozen=True, slots=True)
class DeadLetter(ReadsThroughFailure):
    """An event an operator skipped: its failure, and which build skipped it when.

    In a dead-letter row written before failures kept their attempts and time,
    ``failure.attempts`` is 0 and ``failure.at`` the time of the skip.
    """

    projection: str
    build: int
    failure: EventFailure
    skipped_at: datetime | str
