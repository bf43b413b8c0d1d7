"""Domain events, the envelope the store hands back, and the registry of event type names.

An event is a frozen pydantic model. Its *type name* is what the store records, so renaming the
Python class never orphans stored events: the name is the class name unless the class statement
says otherwise, and two classes may never claim one name. A ``type_namespace`` on a base class
prefixes the names of its subclasses, so that same-named classes of two modules can coexist.

>>> class OrderConfirmed(Event):
...     order_id: str
>>> OrderConfirmed.__event_type__, OrderConfirmed.__schema_version__
('OrderConfirmed', 1)
>>> class OrderShipped(Event, type_name="order.shipped", schema_version=2):
...     order_id: str
>>> event_types.resolve("order.shipped") is OrderShipped
True
>>> class WikiEvent(Event, type_namespace="wiki"):
...     pass
>>> class Page:
...     class Created(WikiEvent):
...         title: str
>>> Page.Created.__event_type__
'wiki.Page.Created'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Final
from uuid import UUID

import pydantic
import pydantic_core

from eventledger.errors import DefinitionError, DuplicateEventType, SerializationError


class Event(pydantic.BaseModel):
    """Base class of every domain event: an immutable pydantic model.

    Class keywords:

    - ``type_name``: the stable name stored with each event (default: the class name, or the
      namespaced name below). It is used as given, namespace or not.
    - ``type_namespace``: a prefix for the default type names of this class and every subclass
      (a subclass may declare its own). The name is then ``namespace.QualifiedName``: the class
      name with its enclosing classes, so ``Page.Created`` under ``"wiki"`` is
      ``wiki.Page.Created``. Without a namespace the default is the bare class name, which keeps
      the names of events stored before namespaces existed; two classes of one name in
      different modules need a namespace (or a ``type_name``) to coexist.
    - ``schema_version``: the version of this event's data shape (default 1); raise it when the
      fields change and register an upcaster for stored events of the older shape.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    __event_type__: ClassVar[str] = "Event"
    __event_namespace__: ClassVar[str | None] = None
    __schema_version__: ClassVar[int] = 1

    def __init_subclass__(
        cls,
        *,
        type_name: str | None = None,
        type_namespace: str | None = None,
        schema_version: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if type_namespace is not None:
            namespace = type_namespace
            if not (isinstance(namespace, str) and namespace and namespace.strip(". ") == namespace):
                raise DefinitionError(
                    f"{cls.__qualname__}: type_namespace must be a non-empty string that neither starts "
                    f"nor ends with a dot or a space, not {type_namespace!r}"
                )
            cls.__event_namespace__ = type_namespace
        name = type_name if type_name is not None else _default_type_name(cls)
        if not name or not isinstance(name, str):
            raise DefinitionError(f"{cls.__qualname__}: type_name must be a non-empty string")
        if not isinstance(schema_version, int) or schema_version < 1:
            raise DefinitionError(f"{cls.__qualname__}: schema_version must be an int >= 1")
        cls.__event_type__ = name
        cls.__schema_version__ = schema_version
        event_types.register(cls)


def _default_type_name(cls: type[Event]) -> str:
    """The class name, or ``namespace.Outer.Name`` under a namespace (enclosing functions left out)."""
    namespace = cls.__event_namespace__
    if namespace is None:
        return cls.__name__
    qualified = cls.__qualname__.rsplit("<locals>.", 1)[-1]
    return f"{namespace}.{qualified}"


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class EventTypeRegistry:
    """Maps stored type names to event classes.

    Every :class:`Event` subclass registers itself in :data:`event_types` when its class
    statement runs. Re-running the same class statement (a module reload, or a class defined in
    a function that runs again) replaces the earlier class; a *different* class taking a name
    that is already registered raises :class:`DuplicateEventType`.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, type[Event]] = {}

    def register(self, cls: type[Event]) -> None:
        """Register ``cls`` under its type name."""
        name = cls.__event_type__
        existing = self._by_name.get(name)
        if existing is not None and existing is not cls and _origin(existing) != _origin(cls):
            raise DuplicateEventType(name, _origin(existing), _origin(cls))
        self._by_name[name] = cls

    def resolve(self, type_name: str) -> type[Event] | None:
        """The class registered under ``type_name``, or None."""
        return self._by_name.get(type_name)

    def names(self) -> list[str]:
        """Every registered type name, sorted."""
        return sorted(self._by_name)

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._by_name


event_types = EventTypeRegistry()
"""The process-wide registry every :class:`Event` subclass joins."""


Metadata = dict[str, Any]
"""Event metadata: ``correlation_id``, ``causation_id`` and any JSON-serialisable user keys."""


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as the store recorded it: the decoded event plus where and when it was stored.

    - ``event_id``: unique id given at append.
    - ``stream_id`` and ``version``: the stream and the event's 1-based place in it.
    - ``position``: the event's place in the global log (increasing, unique; may have gaps).
    - ``type``: the stored type name; ``event``: the decoded :class:`Event` instance.
    - ``metadata``: ``correlation_id``, ``causation_id`` and user keys.
    - ``recorded_at``: when the store recorded it (UTC).
    """

    event_id: UUID
    stream_id: str
    version: int
    position: int
    type: str
    event: Event
    metadata: Metadata = field(default_factory=dict)
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def correlation_id(self) -> str | None:
        """The correlation id from the metadata, if any."""
        value = self.metadata.get("correlation_id")
        return None if value is None else str(value)

    @property
    def causation_id(self) -> str | None:
        """The causation id from the metadata, if any."""
        value = self.metadata.get("causation_id")
        return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """An event turned into what a backend stores: type name, schema version and JSON text."""

    type: str
    schema_version: int
    data: str


def encode_event(stream_id: str, event: object) -> EncodedEvent:
    """Encode one event for storage, or raise :class:`SerializationError`.

    The event must be an instance of a registered :class:`Event` subclass, and its stored form
    must read back as an equal event: the JSON is decoded again with the event's class and
    compared, so a float that is NaN or infinite (which JSON turns into ``null``), a tuple in
    an ``Any`` field (which comes back a list), a subclass instance in a field of its base class
    (which loses its own fields) and everything else the encoder would change are refused
    here, before anything is written, instead of failing every later read. Strings may not
    hold the NUL character (PostgreSQL cannot store it), and the JSON may not exceed
    :data:`MAX_EVENT_SIZE` characters.
    """
    if not isinstance(event, Event):
        raise SerializationError(
            stream_id, f"{type(event).__name__} object", "events must be eventledger.Event instances"
        )
    cls = type(event)
    if cls is Event:
        raise SerializationError(stream_id, "Event", "use a subclass of Event, not Event itself")
    what = f"event {cls.__event_type__!r}"
    try:
        data = event.model_dump_json()
    except (pydantic_core.PydanticSerializationError, ValueError, TypeError) as error:
        raise SerializationError(stream_id, what, str(error)) from error
    if "\\u0000" in data:
        # PostgreSQL's text and jsonb cannot hold NUL; refusing it everywhere keeps backends alike.
        path = _path_to_nul(event) or "(the event)"
        raise SerializationError(
            stream_id,
            what,
            f"field {path!r} holds the NUL character (\\x00)",
            event_type=cls.__event_type__,
            field=path,
        )
    _check_json_text(stream_id, what, data)
    try:
        again = cls.model_validate_json(data)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        path = _dotted(first["loc"])
        given = _value_at(event, first["loc"])
        raise SerializationError(
            stream_id,
            what,
            f"field {path!r} holds {type(given).__name__} {given!r}, which would be stored as "
            f"{_stored_form(data, first['loc'])} and could not be read back ({first['msg']})",
            event_type=cls.__event_type__,
            field=path,
        ) from None
    if again != event:
        path, given, stored = first_difference(event, again)
        path = path or "(the event)"
        raise SerializationError(
            stream_id,
            what,
            f"field {path!r} holds {type(given).__name__} {given!r}, which would read back as "
            f"{type(stored).__name__} {stored!r}; use field types whose JSON form reads back equal",
            event_type=cls.__event_type__,
            field=path,
        )
    return EncodedEvent(cls.__event_type__, cls.__schema_version__, data)


MAX_EVENT_SIZE: Final = 16 * 1024 * 1024
"""The longest JSON text of one event's data, or of one append's metadata, in characters."""


def _check_json_text(stream_id: str, what: str, text: str) -> None:
    """Refuse JSON text that some store cannot hold: NUL characters, or too much of it."""
    if "\\u0000" in text:
        # PostgreSQL's text and jsonb cannot hold NUL; refusing it everywhere keeps backends alike.
        raise SerializationError(stream_id, what, "a string holds the NUL character (\\x00)")
    if len(text) > MAX_EVENT_SIZE:
        raise SerializationError(
            stream_id, what, f"its JSON is {len(text)} characters; the limit is {MAX_EVENT_SIZE}"
        )


def _stored_form(data: str, location: tuple[int | str, ...]) -> str:
    value: Any = json.loads(data)
    for part in location:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return "something else"
    return json.dumps(value)


def _path_to_nul(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string holding NUL (in a value, key or nested model)."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items: Iterable[tuple[str, Any]] = ()
    if isinstance(value, pydantic.BaseModel):
        items = (
            (f"{path}.{name}" if path else name, getattr(value, name)) for name in type(value).model_fields
        )
    elif isinstance(value, dict):
        if any(isinstance(key, str) and "\x00" in key for key in value):
            return path
        items = ((f"{path}[{key!r}]", item) for key, item in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    for where, item in items:
        found = _path_to_nul(item, where)
        if found is not None:
            return found
    return None


def _dotted(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "(the event)"


def _value_at(event: Event, location: tuple[int | str, ...]) -> Any:
    value: Any = event
    for part in location:
        try:
            value = value[part] if isinstance(part, int) or isinstance(value, dict) else getattr(value, part)
        except (AttributeError, KeyError, IndexError, TypeError):
            return None
    return value


def first_difference(given: Any, stored: Any, path: str = "") -> tuple[str, Any, Any]:
    """Where ``stored`` first differs from ``given`` (an event or document and its JSON round
    trip): a dotted path ("" for the whole), the given and the stored value."""
    if isinstance(given, pydantic.BaseModel) and type(given) is type(stored):
        for name in type(given).model_fields:
            left, right = getattr(given, name), getattr(stored, name)
            if not _same(left, right):
                return first_difference(left, right, f"{path}.{name}" if path else name)
    elif isinstance(given, list | tuple) and type(given) is type(stored) and len(given) == len(stored):
        for index, (left, right) in enumerate(zip(given, stored, strict=True)):
            if not _same(left, right):
                return first_difference(left, right, f"{path}[{index}]")
    elif isinstance(given, dict) and isinstance(stored, dict) and given.keys() == stored.keys():
        for key in given:
            if not _same(given[key], stored[key]):
                return first_difference(given[key], stored[key], f"{path}[{key!r}]")
    return path, given, stored


def _same(left: object, right: object) -> bool:
    # NaN != NaN, so a NaN the JSON turned into something else shows here as a difference too.
    return type(left) is type(right) and left == right


def encode_events(stream_id: str, events: Iterable[object]) -> list[EncodedEvent]:
    """Encode a batch; the first event that cannot be encoded aborts the whole batch."""
    return [encode_event(stream_id, event) for event in events]


def encode_metadata(stream_id: str, metadata: Mapping[str, Any] | None) -> str | None:
    """Encode metadata as JSON text (None when empty), or raise :class:`SerializationError`.

    Metadata is a JSON object: keys are strings at every level, values are strings, ints,
    finite floats, booleans, None, lists and objects, so it reads back equal. UUIDs and
    datetimes are accepted too, as the usual ids and times, and read back as their text
    (``str(uuid)``, ``datetime.isoformat()``). Anything else (a tuple, a set, NaN) is refused
    rather than read back as something else.
    """
    if not metadata:
        return None
    if not isinstance(metadata, Mapping):
        raise SerializationError(stream_id, "metadata", "metadata must be a mapping of str keys")
    try:
        text = json.dumps(
            _json_checked(dict(metadata)),
            separators=(",", ":"),
            allow_nan=False,
            default=_json_default,
            # Raw UTF-8 rather than \u escapes: shorter, and a lone surrogate then fails the
            # encode below instead of reaching a database that refuses it.
            ensure_ascii=False,
        )
    except (TypeError, ValueError) as error:
        raise SerializationError(stream_id, "metadata", str(error)) from error
    _check_json_text(stream_id, "metadata", text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise SerializationError(
            stream_id, "metadata", f"a string holds a lone surrogate ({error.reason})"
        ) from None
    return text


def _json_checked(value: Any, path: str = "metadata") -> Any:
    """``value`` if JSON gives it back equal (UUIDs and datetimes aside), else TypeError naming where."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path} has the key {key!r}; keys must be strings")
            _json_checked(item, f"{path}[{key!r}]")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _json_checked(item, f"{path}[{index}]")
    elif not isinstance(value, str | int | float | UUID | datetime) and value is not None:
        raise TypeError(
            f"{path} holds {type(value).__name__} {value!r}, which JSON would not give back as it is; "
            "use str, int, float, bool, None, list or dict"
        )
    return value


def _json_default(value: object) -> str:
    # Ids and times are the usual non-JSON values in metadata; _json_checked refused the rest.
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"value {value!r} of type {type(value).__name__} is not JSON serialisable")


def decode_metadata(text: str | bytes | Mapping[str, Any] | None) -> Metadata:
    """Decode stored metadata (JSON text, or a mapping a driver already decoded)."""
    if not text:
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    value = json.loads(text)
    return value if isinstance(value, dict) else {}
