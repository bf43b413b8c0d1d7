"""The one exception hierarchy of eventledger.

Every error the library raises on purpose derives from :class:`EventLedgerError`, so an
application can catch the whole family at its boundary. Each error keeps the facts that
explain it as attributes (stream, expected and actual version, type name, position) and
puts them in its message, so a log line alone says what went wrong.

The middle layers let a caller catch a *kind* of failure::

    EventLedgerError
    ├── InvalidArgument        the caller passed something the library refuses (never retry)
    │   ├── InvalidStreamId, InvalidExpectedVersion, InvalidStoreURL
    │   └── SerializationError an event or metadata that could not be stored and read back
    ├── DefinitionError        a class statement or registration is malformed (at import time)
    ├── ConcurrencyError       the stream moved on: reload, decide again
    ├── StoreError             the store cannot do it now
    │   ├── StoreUnavailable   the server or connection failed: retrying may help
    │   ├── StoreClosed, ReadOnlyStore, StoreSchemaError
    ├── StoredEventError       a stored event cannot be decoded (position, type, stream)
    │   ├── UnknownEventType, EventDecodeError, UpcastError
    ├── DomainError, AggregateNotFound, UnhandledEvent
    └── ProjectionError        a projection's bookkeeping, failure or state

:class:`StoreUnavailable` is reserved for faults of the server or the connection, so code that
retries on it never retries a caller's mistake for ever.
"""

from __future__ import annotations

from typing import Any, Protocol, Self


class EventLedgerError(Exception):
    """Root of every error raised by eventledger."""

    _arguments: tuple[tuple[Any, ...], dict[str, Any]]

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        error = super().__new__(cls, *args, **kwargs)
        # The constructor's own arguments, so every error pickles (for multiprocessing and
        # process pools) without a __reduce__ per class: their messages are built from them.
        error._arguments = (args, kwargs)
        return error

    def __reduce__(self) -> tuple[Any, ...]:
        args, kwargs = getattr(self, "_arguments", (self.args, {}))
        return (_rebuild, (type(self), args, kwargs))


def _rebuild(cls: type[EventLedgerError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> EventLedgerError:
    return cls(*args, **kwargs)


class InvalidArgument(EventLedgerError, ValueError, TypeError):
    """The caller passed a value the library refuses; nothing was read or written.

    It also derives from :class:`ValueError` and :class:`TypeError`, so code written against
    the built-in exceptions keeps working. Retrying the same call cannot succeed.
    """


class DefinitionError(EventLedgerError, TypeError):
    """A class statement or a registration is malformed (an event, aggregate or projection class)."""


class StoreError(EventLedgerError):
    """The store cannot carry out the operation; the caller's arguments were not the problem."""


class StoredEventError(EventLedgerError):
    """A stored event cannot be turned into today's event class.

    Every subclass carries ``type_name``, ``stream_id`` and ``position`` (the last two None only
    when found before reading any event, as ``UpcasterRegistry.check_chains`` does)."""

    type_name: str
    stream_id: str | None
    position: int | None


class ProjectionError(EventLedgerError):
    """A projection's bookkeeping, failure or state stops what was asked."""


def describe_expected(expected: object) -> str:
    """Render an expected version the way people say it (``no stream`` rather than ``0``)."""
    if expected == 0 and isinstance(expected, int):
        return "no stream (0)"
    name = getattr(expected, "name", None)
    if isinstance(name, str):
        return name.lower().replace("_", " ")
    return str(expected)


class ConcurrencyError(EventLedgerError):
    """An append's expected version did not match the stream's actual version; nothing of the
    batch was written. Reload the stream and decide again.

    >>> str(ConcurrencyError("order-1", 3, 4))
    "stream 'order-1': expected version 3, actual version 4"

    A multi-stream append names every stream whose expected version did not hold: the first
    in ``stream_id``, ``expected`` and ``actual``, the others in ``also``, and all of them in
    :attr:`conflicts`.
    """

    def __init__(
        self, stream_id: str, expected: object, actual: int, *, also: tuple[tuple[str, object, int], ...] = ()
    ) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        self.also = also
        super().__init__(
            "; ".join(
                f"stream {stream!r}: expected version {describe_expected(wanted)}, actual version {found}"
                for stream, wanted, found in self.conflicts
            )
        )

    @property
    def conflicts(self) -> tuple[tuple[str, object, int], ...]:
        """Every ``(stream_id, expected, actual)`` that did not hold, the first one first."""
        return ((self.stream_id, self.expected, self.actual), *self.also)


class InvalidExpectedVersion(InvalidArgument):
    """The expected version is not an int from 0 to 2**63 - 2, ``ANY``, ``NO_STREAM`` or ``STREAM_EXISTS``."""

    def __init__(self, stream_id: str, expected: object) -> None:
        self.stream_id = stream_id
        self.expected = expected
        super().__init__(
            f"stream {stream_id!r}: invalid expected version {expected!r}; use an int from 0 to "
            f"{2**63 - 2} "
            "(0 means the stream must not exist), ANY, NO_STREAM or STREAM_EXISTS"
        )


class InvalidStreamId(InvalidArgument):
    """A stream id is not a string the store accepts (see ``eventledger.store.limits``)."""

    def __init__(self, stream_id: object, reason: str) -> None:
        self.stream_id = stream_id
        self.reason = reason
        shown = (
            repr(stream_id)
            if not isinstance(stream_id, str) or len(stream_id) <= 80
            else (f"{stream_id[:60]!r}... ({len(stream_id)} characters)")
        )
        super().__init__(f"invalid stream id {shown}: {reason}")


class DuplicateEventType(DefinitionError):
    """Two event classes claim the same type name (``existing`` and ``new`` are ``module.QualifiedName``)."""

    def __init__(self, type_name: str, existing: str, new: str) -> None:
        self.type_name = type_name
        super().__init__(
            f"event type name {type_name!r} is already registered by {existing}; {new} must choose "
            "another: give a base class of its events a namespace (class MyEvent(Event, "
            "type_namespace='...')) or give it a type_name='...'"
        )


class UnknownEventType(StoredEventError):
    """A stored event's type name has no registered class (or rename, or retirement)."""

    def __init__(self, type_name: str, stream_id: str, position: int) -> None:
        self.type_name = type_name
        self.stream_id = stream_id
        self.position = position
        super().__init__(
            f"unknown event type {type_name!r} at position {position} in stream {stream_id!r}; "
            "import the module that defines it, or declare it renamed or retired"
        )


class EventDecodeError(StoredEventError):
    """Stored data does not fit the current class of its event type."""

    def __init__(self, type_name: str, stream_id: str, position: int, reason: str) -> None:
        self.type_name = type_name
        self.stream_id = stream_id
        self.position = position
        self.reason = reason
        super().__init__(
            f"cannot decode event {type_name!r} at position {position} in stream {stream_id!r}: {reason}"
        )


def _where(stream_id: str | None, position: int | None) -> str:
    if position is None:
        return ""
    return f" at position {position} in stream {stream_id!r}"


class UpcastError(StoredEventError):
    """A stored event's data could not be brought up to its current class's schema version.

    ``stream_id`` and ``position`` are None when the problem was found before reading any
    event (by ``UpcasterRegistry.check_chains``).
    """

    def __init__(
        self,
        type_name: str,
        stored_version: int,
        current_version: int,
        reason: str,
        stream_id: str | None = None,
        position: int | None = None,
    ) -> None:
        self.type_name = type_name
        self.stored_version = stored_version
        self.current_version = current_version
        self.reason = reason
        self.stream_id = stream_id
        self.position = position
        super().__init__(
            f"cannot upcast event {type_name!r}{_where(stream_id, position)} from schema version "
            f"{stored_version} to {current_version}: {reason}"
        )


class MissingUpcaster(UpcastError):
    """A chain of upcasters has a gap: no upcaster from ``missing_from`` to ``missing_from + 1``."""

    def __init__(
        self,
        type_name: str,
        stored_version: int,
        current_version: int,
        missing_from: int,
        stream_id: str | None = None,
        position: int | None = None,
    ) -> None:
        self.missing_from = missing_from
        super().__init__(
            type_name,
            stored_version,
            current_version,
            f"no upcaster from version {missing_from} to {missing_from + 1} is registered "
            f"(register one with @upcaster({type_name!r}, from_version={missing_from}))",
            stream_id,
            position,
        )


class StoredVersionTooNew(UpcastError):
    """A stored event has a schema version newer than its class: older code reads newer events."""

    def __init__(
        self,
        type_name: str,
        stored_version: int,
        current_version: int,
        stream_id: str | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(
            type_name,
            stored_version,
            current_version,
            "the stored version is newer than the class; this code is older than the code that "
            "wrote the event, so deploy the newer event class (upcasters only go forwards)",
            stream_id,
            position,
        )


class SchemaEvolutionError(DefinitionError, ValueError):
    """An upcaster, rename or retirement contradicts what is already declared, or cannot be used."""


class SerializationError(InvalidArgument):
    """An event or its metadata cannot be stored so that it reads back equal; nothing was written.

    Raised before any I/O: an unserialisable value, a float that is NaN or infinite, a string
    with a NUL character, data over the size limit, or anything else whose stored form would
    not decode to an equal event.
    """

    def __init__(
        self,
        stream_id: str,
        what: str,
        reason: str,
        *,
        event_type: str | None = None,
        field: str | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.what = what
        self.reason = reason
        self.event_type = event_type
        self.field = field
        super().__init__(f"stream {stream_id!r}: cannot serialise {what}: {reason}; nothing was written")


class InvalidStoreURL(InvalidArgument):
    """A store URL is malformed or names a scheme eventledger does not support."""

    def __init__(self, url: str, reason: str, supported: tuple[str, ...]) -> None:
        self.url = url
        self.reason = reason
        self.supported = supported
        super().__init__(f"invalid store URL {url!r}: {reason}; supported: {', '.join(supported)}")


class StoreClosed(StoreError):
    """The store was used after :meth:`EventStore.close`."""


class StoreUnavailable(StoreError):
    """The server or the connection to it failed; retrying later may help.

    Raised only for faults of the database or the way to it (unreachable, restarted, locked
    past ``lock_timeout``), never for the caller's arguments. The message names the host and
    database, never the password.
    """


class ReadOnlyStore(StoreError):
    """The store was opened without the right to write (read-only role, hot standby,
    ``default_transaction_read_only``, SQLite ``?mode=ro``) and an operation needed to write.

    ``reason`` says which of those it was, as the database reported it.
    """

    def __init__(self, where: str, doing: str, reason: str) -> None:
        self.where = where
        self.doing = doing
        self.reason = reason
        super().__init__(f"{where}: cannot {doing}: the store is read-only ({reason})")


class StoreSchemaError(StoreError):
    """The store's tables are newer than this release (upgrade it), or missing or older and the
    connection has no right to create or migrate them (raised on open)."""


class DomainError(EventLedgerError):
    """A command broke a business rule; nothing was recorded.

    >>> raise DomainError("Cannot confirm")
    Traceback (most recent call last):
    ...
    eventledger.errors.DomainError: Cannot confirm
    """


class AggregateNotFound(EventLedgerError):
    """An aggregate was loaded from a stream that has no events."""

    def __init__(self, stream_id: str, aggregate_type: str = "aggregate") -> None:
        self.stream_id = stream_id
        self.aggregate_type = aggregate_type
        super().__init__(f"{aggregate_type} {stream_id!r} not found: its stream has no events")


class UnhandledEvent(EventLedgerError):
    """An aggregate met an event type it has no apply handler for (recording or replaying).

    So state never silently skips an event; an aggregate that means to ignore such types says so
    (``class Order(Aggregate, ignore_unhandled_events=True)``). For an event of a retired type,
    ``retired_reason`` says why it was retired.
    """

    def __init__(
        self,
        aggregate_type: str,
        aggregate_id: str,
        event_type: str,
        version: int,
        retired_reason: str | None = None,
    ) -> None:
        self.aggregate_type = aggregate_type
        self.aggregate_id = aggregate_id
        self.event_type = event_type
        self.version = version
        self.retired_reason = retired_reason
        retired = ""
        if retired_reason is not None:
            retired = f", a retired type ({retired_reason or 'no reason given'})"
        super().__init__(
            f"{aggregate_type} {aggregate_id!r} has no handler for event type {event_type!r} "
            f"(version {version}{retired}); add a method decorated with @applies that takes it, or "
            f"declare class {aggregate_type}(Aggregate, ignore_unhandled_events=True)"
        )


class ProjectionDefinitionError(DefinitionError):
    """A projection class is malformed: a bad name, table name or handler signature."""


class CheckpointConflict(ProjectionError):
    """A projection batch found another checkpoint than the one it started from.

    Another runner applied these events first; the batch was rolled back, so nothing was
    applied twice.
    """

    def __init__(self, projection: str, build: int, expected: int, actual: int | None) -> None:
        self.projection = projection
        self.build = build
        self.expected = expected
        self.actual = actual
        found = "no checkpoint" if actual is None else f"checkpoint {actual}"
        super().__init__(
            f"projection {projection!r} build {build}: expected checkpoint {expected}, found {found}; "
            "another runner got there first and this batch was rolled back"
        )


class ProjectionRetired(ProjectionError):
    """A projection build was replaced by a newer build or schema version and must stop."""

    def __init__(self, projection: str, build: int, reason: str) -> None:
        self.projection = projection
        self.build = build
        self.reason = reason
        super().__init__(f"projection {projection!r} build {build} is retired: {reason}")


class LeaseLost(ProjectionError):
    """This runner no longer holds the lease on a projection; another runner may own it now."""

    def __init__(self, projection: str, owner: str) -> None:
        self.projection = projection
        self.owner = owner
        super().__init__(
            f"projection {projection!r}: runner {owner!r} lost its lease; the batch was rolled back"
        )


class FailureFacts(Protocol):
    """What :class:`ProjectionFailed` needs of its failure: the shape of
    :class:`eventledger.projections.failures.EventFailure`, since this module sits below every other."""

    @property
    def position(self) -> int: ...
    @property
    def event_type(self) -> str: ...
    @property
    def stream_id(self) -> str: ...
    @property
    def error(self) -> str: ...


class ProjectionFailed(ProjectionError):
    """A projection stopped at an event it could not apply after its retries ran out.

    Nothing after the event was applied. Fix the cause and retry, or skip the event
    explicitly (it is then recorded in the dead-letter table with this error). ``failure`` is
    the projection's record of it (the one its status and the dead-letter table show);
    ``position``, ``event_type``, ``stream_id`` and ``reason`` read through to it.
    """

    def __init__(self, projection: str, failure: FailureFacts) -> None:
        self.projection = projection
        self.failure = failure
        super().__init__(
            f"projection {projection!r} failed at position {failure.position} (event "
            f"{failure.event_type!r} in stream {failure.stream_id!r}): {failure.error}"
        )

    @property
    def position(self) -> int:
        """The failed event's position."""
        return self.failure.position

    @property
    def event_type(self) -> str:
        """The failed event's type name."""
        return self.failure.event_type

    @property
    def stream_id(self) -> str:
        """The failed event's stream."""
        return self.failure.stream_id

    @property
    def reason(self) -> str:
        """What it failed with."""
        return self.failure.error


class UnknownProjection(ProjectionError, LookupError):
    """A runner was asked about a projection it does not run."""

    def __init__(self, projection: str, known: tuple[str, ...]) -> None:
        self.projection = projection
        self.known = known
        super().__init__(f"unknown projection {projection!r}; this runner runs: {', '.join(known) or 'none'}")


class ProjectionStateError(ProjectionError):
    """An operator action does not fit the projection's current state (e.g. skip when not failed)."""
