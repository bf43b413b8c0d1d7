"""Turning a stored event (type name, schema version, JSON data) into today's Event class.

Every read path of every backend decodes through :func:`decode_event`, so this module is the
one place where stored shapes meet current classes. Stored rows are never rewritten: an old
shape is brought up to date on every read, by *upcasters*.

- An **upcaster** turns the data of one schema version into the next (``dict`` of version n to
  ``dict`` of version n + 1). Chains compose: a v1 event read by a v3 class runs 1→2, then
  2→3, and the class validates the result.
- A **rename** maps a type name that is no longer used to the current class; the old name's
  stored versions share the class's version line.
- A **retirement** declares that a type name is gone on purpose: its events decode to a
  :class:`RetiredEvent` placeholder instead of raising :class:`UnknownEventType`.

>>> class ParcelShipped(Event, schema_version=2):
...     parcel_id: str
...     carrier: str
>>> registry = UpcasterRegistry()
>>> @registry.upcaster(ParcelShipped, from_version=1)
... def add_carrier(data: dict[str, Any]) -> dict[str, Any]:
...     return {**data, "carrier": "post"}
>>> decode_event("ParcelShipped", 1, '{"parcel_id": "p1"}', stream_id="p1", position=1,
...              upcasters=registry)
ParcelShipped(parcel_id='p1', carrier='post')

Upcasters registered with the module-level :func:`upcaster` decorator (and renames and
retirements declared on :data:`upcasters`) apply everywhere; :func:`use_upcasters` makes
another registry the one in force for a block of code (a test, say).
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Final, TypeVar

import pydantic

from eventledger.errors import (
    EventDecodeError,
    MissingUpcaster,
    SchemaEvolutionError,
    StoredVersionTooNew,
    UnknownEventType,
    UpcastError,
)
from eventledger.events import Event, event_types

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns an event's data of schema version n into the data of version n + 1."""

UpcasterT = TypeVar("UpcasterT", bound=Upcaster)

StoredData = str | bytes | Mapping[str, Any]
"""Stored event data: JSON text, or a mapping a driver already decoded (JSONB)."""


class RetiredEvent(Event, type_name="eventledger.retired"):
    """What reading an event of a retired type yields: its stored facts, deliberately undecoded.

    Projections skip it (none has a handler for it); an aggregate that meets one in its stream
    refuses to load with ``UnhandledEvent`` naming the retired type (unless it declared
    ``ignore_unhandled_events``), because its state would depend on an event it no longer
    understands.
    ``type_name`` and ``schema_version`` are as stored, ``data`` is the stored data (a copy),
    ``reason`` is what the retirement said.
    """

    type_name: str
    schema_version: int
    data: dict[str, Any]
    reason: str = ""


def _origin(function: object) -> str:
    module = getattr(function, "__module__", "?")
    name = getattr(function, "__qualname__", repr(function))
    return f"{module}.{name}"


def _type_name(event: type[Event] | str) -> str:
    if isinstance(event, str):
        if not event:
            raise SchemaEvolutionError("an event type name must be a non-empty string")
        return event
    if isinstance(event, type) and issubclass(event, Event) and event is not Event:
        return event.__event_type__
    raise SchemaEvolutionError(f"expected an Event subclass or a type name, not {event!r}")


class UpcasterRegistry:
    """Upcasters per (type name, from version), renamed type names and retired type names.

    The process-wide registry is :data:`upcasters`; create another for tests and activate it
    with :func:`use_upcasters`. Declarations are checked as far as they can be when they are
    made (an upcaster past the class's current version, two upcasters for one step, a rename
    of a name a class still uses); :meth:`check_chains` finds gaps once everything is imported.
    """

    def __init__(self) -> None:
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self._renames: dict[str, str] = {}
        self._retired: dict[str, str] = {}

    # ----------------------------------------------------------------- declaring

    def register(self, event: type[Event] | str, from_version: int, upcaster: Upcaster) -> None:
        """Register ``upcaster`` for ``event``'s data of ``from_version`` (to ``from_version + 1``).

        ``event`` is the current class or a stored type name (an old name of a renamed type).
        """
        name = _type_name(event)
        if isinstance(from_version, bool) or not isinstance(from_version, int) or from_version < 1:
            raise SchemaEvolutionError(
                f"upcaster for {name!r}: from_version must be an int >= 1, not {from_version!r}"
            )
        if not callable(upcaster):
            raise SchemaEvolutionError(f"upcaster for {name!r} v{from_version} is not callable")
        cls = event if isinstance(event, type) else event_types.resolve(name)
        if cls is not None and from_version >= cls.__schema_version__:
            raise SchemaEvolutionError(
                f"upcaster for {name!r} from version {from_version} would go past the class's "
                f"current schema version {cls.__schema_version__}; raise schema_version in the "
                "class statement first"
            )
        existing = self._upcasters.get((name, from_version))
        if existing is not None and _origin(existing) != _origin(upcaster):
            raise SchemaEvolutionError(
                f"{name!r} already has an upcaster from version {from_version}: {_origin(existing)}"
            )
        self._upcasters[(name, from_version)] = upcaster

    def upcaster(self, event: type[Event] | str, *, from_version: int) -> Callable[[UpcasterT], UpcasterT]:
        """Decorator form of :meth:`register`; the function is returned unchanged.

        >>> registry = UpcasterRegistry()
        >>> @registry.upcaster("OrderPlaced", from_version=1)
        ... def add_currency(data: dict[str, Any]) -> dict[str, Any]:
        ...     return {**data, "currency": "EUR"}
        """

        def register(function: UpcasterT) -> UpcasterT:
            self.register(event, from_version, function)
            return function

        return register

    def rename(self, old_type_name: str, to: type[Event] | str) -> None:
        """Read events stored as ``old_type_name`` with the class ``to`` (or the class named so).

        Upcasters registered on the old name run first for each step; steps without one use the
        current name's upcasters, so a shared history needs registering only once.
        """
        old = _type_name(old_type_name)
        target = _type_name(to)
        if old == target:
            raise SchemaEvolutionError(f"cannot rename {old!r} to itself")
        _refuse_if_in_use(old, "rename")
        if old in self._retired:
            raise SchemaEvolutionError(f"cannot rename {old!r}: it is declared retired")
        previous = self._renames.get(old)
        if previous is not None and previous != target:
            raise SchemaEvolutionError(f"{old!r} is already renamed to {previous!r}")
        if target in self._renames:
            raise SchemaEvolutionError(
                f"cannot rename {old!r} to {target!r}: {target!r} is itself renamed to "
                f"{self._renames[target]!r}; point every old name at the current class"
            )
        self._renames[old] = target

    def retire(self, type_name: str, *, reason: str = "") -> None:
        """Declare ``type_name`` retired: its stored events decode to :class:`RetiredEvent`."""
        name = _type_name(type_name)
        _refuse_if_in_use(name, "retire")
        if name in self._renames:
            raise SchemaEvolutionError(f"cannot retire {name!r}: it is renamed to {self._renames[name]!r}")
        self._retired[name] = reason

    # ----------------------------------------------------------------- asking

    def renamed_from(self, type_name: str) -> tuple[str, ...]:
        """The old type names renamed to ``type_name`` (what a type filter must also match)."""
        return tuple(old for old, target in self._renames.items() if target == type_name)

    def retired(self) -> dict[str, str]:
        """Retired type names and the reason given for each."""
        return dict(self._retired)

    def check_chains(self) -> None:
        """Raise for the first gap in any chain, once every event class is imported.

        For each type name with upcasters or a rename, every step from its lowest registered
        version up to the class's current version must have an upcaster. Raises
        :class:`MissingUpcaster` for a gap and :class:`SchemaEvolutionError` for upcasters of a
        name that no class or rename explains, or that go past the class's version.
        """
        names = sorted({name for name, _ in self._upcasters} | set(self._renames))
        for name in names:
            cls = self._target(name)
            registered = sorted(version for key, version in self._upcasters if key == name)
            if cls is None:
                raise SchemaEvolutionError(
                    f"upcasters or a rename are declared for {name!r}, but no event class has that "
                    "name or the name it is renamed to; import the module that defines it"
                )
            current = cls.__schema_version__
            if registered and registered[-1] >= current:
                raise SchemaEvolutionError(
                    f"upcaster for {name!r} from version {registered[-1]} would go past the class's "
                    f"current schema version {current}"
                )
            if not registered:
                continue
            missing = self._first_gap(name, cls, registered[0])
            if missing is not None:
                raise MissingUpcaster(name, registered[0], current, missing)

    def upcast(self, type_name: str, schema_version: int, data: StoredData) -> dict[str, Any]:
        """The data of a stored event brought up to its class's current version (not validated).

        For testing upcasters: the input is never changed. Raises :class:`UpcastError` (and its
        subclasses) without a position.
        """
        cls = self._target(type_name)
        if cls is None:
            raise SchemaEvolutionError(f"no event class or rename for type name {type_name!r}")
        steps = self._steps(type_name, cls, schema_version, None, None)
        if isinstance(data, Mapping):
            document = copy.deepcopy(dict(data))
        else:
            document = json.loads(data)
            if not isinstance(document, dict):
                raise SchemaEvolutionError(f"{type_name!r} data must be a JSON object, not {data!r}")
        return _apply(type_name, schema_version, cls, steps, document, None, None)

    # ----------------------------------------------------------------- decoding

    def decode(
        self, type_name: str, schema_version: int, data: StoredData, *, stream_id: str, position: int
    ) -> Event:
        """Decode a stored event through renames, retirements and upcasters.

        This is the path for events whose stored version or name differs from the current
        class; :func:`decode_event` takes the fast path itself when nothing needs doing.
        """
        cls = self._target(type_name)
        if cls is None:
            if type_name in self._retired:
                return RetiredEvent(
                    type_name=type_name,
                    schema_version=schema_version,
                    data=_document(type_name, data, stream_id, position),
                    reason=self._retired[type_name],
                )
            target = self._renames.get(type_name)
            if target is not None:
                raise EventDecodeError(
                    type_name,
                    stream_id,
                    position,
                    f"it is renamed to {target!r}, but no event class has that type name; "
                    "import the module that defines it",
                )
            raise UnknownEventType(type_name, stream_id, position)
        steps = self._steps(type_name, cls, schema_version, stream_id, position)
        try:
            if not steps and not isinstance(data, Mapping):
                return cls.model_validate_json(data)
            document = _document(type_name, data, stream_id, position)
            upcast = _apply(type_name, schema_version, cls, steps, document, stream_id, position)
            return cls.model_validate(upcast)
        except pydantic.ValidationError as error:
            reason = _summarise(error)
            if steps:
                reason += f" (after upcasting from version {schema_version} to {cls.__schema_version__})"
            raise EventDecodeError(type_name, stream_id, position, reason) from error

    def _target(self, type_name: str) -> type[Event] | None:
        cls = event_types.resolve(type_name)
        if cls is not None:
            return cls
        target = self._renames.get(type_name)
        return None if target is None else event_types.resolve(target)

    def _step(self, type_name: str, cls: type[Event], version: int) -> Upcaster | None:
        found = self._upcasters.get((type_name, version))
        if found is None and type_name != cls.__event_type__:
            found = self._upcasters.get((cls.__event_type__, version))
        return found

    def _first_gap(self, type_name: str, cls: type[Event], stored: int) -> int | None:
        for version in range(stored, cls.__schema_version__):
            if self._step(type_name, cls, version) is None:
                return version
        return None

    def _steps(
        self, type_name: str, cls: type[Event], stored: int, stream_id: str | None, position: int | None
    ) -> list[tuple[int, Upcaster]]:
        current = cls.__schema_version__
        if stored > current:
            raise StoredVersionTooNew(type_name, stored, current, stream_id, position)
        steps: list[tuple[int, Upcaster]] = []
        for version in range(stored, current):
            step = self._step(type_name, cls, version)
            if step is None:
                raise MissingUpcaster(type_name, stored, current, version, stream_id, position)
            steps.append((version, step))
        return steps

    def __repr__(self) -> str:
        return (
            f"UpcasterRegistry(upcasters={len(self._upcasters)}, renames={len(self._renames)}, "
            f"retired={len(self._retired)})"
        )


def _refuse_if_in_use(type_name: str, what: str) -> None:
    cls = event_types.resolve(type_name)
    if cls is not None:
        raise SchemaEvolutionError(
            f"cannot {what} {type_name!r}: the event class {_origin(cls)} still uses that type name"
        )


def _document(type_name: str, data: StoredData, stream_id: str, position: int) -> dict[str, Any]:
    """A private copy of the stored data as a dict: upcasters may change it freely."""
    if isinstance(data, Mapping):
        document: object = copy.deepcopy(dict(data))
    else:
        try:
            document = json.loads(data)
        except json.JSONDecodeError as error:
            raise EventDecodeError(type_name, stream_id, position, f"invalid JSON: {error}") from error
    if not isinstance(document, dict):
        raise EventDecodeError(
            type_name, stream_id, position, f"stored data is a JSON {type(document).__name__}, not an object"
        )
    return document


def _apply(
    type_name: str,
    stored: int,
    cls: type[Event],
    steps: list[tuple[int, Upcaster]],
    document: dict[str, Any],
    stream_id: str | None,
    position: int | None,
) -> dict[str, Any]:
    current = cls.__schema_version__
    for version, step in steps:
        try:
            result = step(document)
        except Exception as error:
            raise UpcastError(
                type_name,
                stored,
                current,
                f"upcaster from version {version} ({_origin(step)}) raised {error!r}",
                stream_id,
                position,
            ) from error
        if not isinstance(result, dict):
            raise UpcastError(
                type_name,
                stored,
                current,
                f"upcaster from version {version} ({_origin(step)}) returned "
                f"{type(result).__name__}, not a dict",
                stream_id,
                position,
            )
        document = result
    return document


upcasters = UpcasterRegistry()
"""The process-wide registry: what every read uses unless :func:`use_upcasters` says otherwise."""

upcaster = upcasters.upcaster
"""Register an upcaster in :data:`upcasters`: ``@upcaster(OrderCreated, from_version=1)``."""

_active: ContextVar[UpcasterRegistry | None] = ContextVar("eventledger_upcasters", default=None)


def active_upcasters() -> UpcasterRegistry:
    """The registry in force here: the one :func:`use_upcasters` set, else :data:`upcasters`."""
    registry = _active.get()
    return upcasters if registry is None else registry


@contextlib.contextmanager
def use_upcasters(registry: UpcasterRegistry) -> Iterator[UpcasterRegistry]:
    """Make ``registry`` the one every read uses within the block (and tasks started in it)."""
    token = _active.set(registry)
    try:
        yield registry
    finally:
        _active.reset(token)


def decode_event(
    type_name: str,
    schema_version: int,
    data: StoredData,
    *,
    stream_id: str,
    position: int,
    upcasters: UpcasterRegistry | None = None,
) -> Event:
    """Decode one stored event into an instance of its current class.

    When the stored version is the class's, the data validates directly. Otherwise (an older
    version, a renamed or retired type name) ``upcasters`` (default: :func:`active_upcasters`)
    brings it up to date. Raises :class:`UnknownEventType` for a name nothing explains,
    :class:`MissingUpcaster` / :class:`StoredVersionTooNew` / :class:`UpcastError` when the
    version cannot be brought up to date, and :class:`EventDecodeError` when the data does not
    validate against the class.
    """
    cls = event_types.resolve(type_name)
    if cls is not None and schema_version == cls.__schema_version__:
        # The fast path: nothing to upcast, so no registry lookups and no dict in between.
        try:
            # Every backend hands over JSON text; test for it with concrete types, not the ABC.
            if isinstance(data, str | bytes):
                return cls.model_validate_json(data)
            return cls.model_validate(data)
        except pydantic.ValidationError as error:
            raise EventDecodeError(type_name, stream_id, position, _summarise(error)) from error
    registry = active_upcasters() if upcasters is None else upcasters
    return registry.decode(type_name, schema_version, data, stream_id=stream_id, position=position)


def _summarise(error: pydantic.ValidationError) -> str:
    parts = []
    for detail in error.errors()[:5]:
        location = ".".join(str(part) for part in detail["loc"]) or "(event)"
        parts.append(f"{location}: {detail['msg']}")
    return "; ".join(parts)


_PYDANTIC_VALIDATE_JSON: Final = pydantic.BaseModel.__dict__["model_validate_json"].__func__


def current_validator(type_name: str, schema_version: int) -> Callable[[str | bytes], Event] | None:
    """The JSON validator that decodes stored events of this type and version, or None.

    For backends decoding pages of rows: when the stored type's class is registered at this
    very schema version, :func:`~eventledger.versioning.decode_event` does nothing but
    ``cls.model_validate_json(data)``, and this returns what that calls, to be looked up once
    per page rather than per event. Anything else (an older version to upcast, a renamed,
    retired or unknown type, a class that overrides ``model_validate_json`` or is not fully
    defined) returns None: decode those with ``decode_event``. A ``ValidationError`` from the
    validator means the row must go through ``decode_event`` too, which raises the error that
    names it.
    """
    cls = event_types.resolve(type_name)
    if cls is None or cls.__schema_version__ != schema_version or not cls.__pydantic_complete__:
        return None
    if getattr(cls.model_validate_json, "__func__", None) is not _PYDANTIC_VALIDATE_JSON:
        return None
    validate: Callable[[str | bytes], Event] = cls.__pydantic_validator__.validate_json
    return validate
