"""The Aggregate base class: a consistency boundary whose state changes only by applying events.

Command methods check the business rules and :meth:`Aggregate.record` events; methods decorated
with :func:`applies` evolve the state, one per event class, chosen by the annotation of their
event parameter. An aggregate's state is its pydantic fields, so it type-checks like any model
and serialises to a snapshot without extra code.

>>> class Counted(Event):
...     amount: int
>>> class Counter(Aggregate):
...     total: int = 0
...
...     def add(self, amount: int) -> None:
...         if amount <= 0:
...             raise ValueError("add a positive amount")
...         self.record(Counted(amount=amount))
...
...     @applies
...     def _counted(self, event: Counted) -> None:
...         self.total += event.amount
>>> counter = Counter.new("counter-1")
>>> counter.add(2)
>>> (counter.total, counter.version, counter.committed_version, len(counter.uncommitted_events))
(2, 1, 0, 1)
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Generic, NewType, Self

import pydantic
from typing_extensions import TypeVar

from eventledger.errors import DefinitionError, InvalidArgument, UnhandledEvent
from eventledger.events import Event, RecordedEvent
from eventledger.versioning import RetiredEvent

ApplyHandler = TypeVar("ApplyHandler", bound=Callable[..., None])
IdType = TypeVar("IdType", default=str)
"""The type of an aggregate's id: ``str`` unless the class says ``Aggregate[UUID]`` (or another)."""

_APPLIES = "__eventledger_applies__"


def applies(handler: ApplyHandler) -> ApplyHandler:
    """Mark an aggregate method as the handler that applies one event class to the state.

    The event class is read from the annotation of the method's event parameter (a union such
    as ``OrderConfirmed | OrderCancelled`` registers the method for each member). A handler for
    a base event class also applies its subclasses, unless a closer handler exists. Several
    handlers may apply one event class (an update every event makes, such as ``modified_by``,
    in one handler annotated with their union, beside each event's own handler): they all run,
    those of base aggregate classes first, then each class's in the order it declares them. The
    method is returned unchanged, so type checkers see its real signature.
    """
    if not inspect.isfunction(handler):
        raise DefinitionError(f"@applies decorates plain methods (self, event), not {handler!r}")
    parameters = list(inspect.signature(handler).parameters.values())
    if len(parameters) != 2 or any(
        parameter.kind not in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
        for parameter in parameters
    ):
        raise DefinitionError(
            f"@applies handler {handler.__qualname__} must take exactly (self, event), "
            f"not ({', '.join(parameter.name for parameter in parameters)})"
        )
    if parameters[1].annotation is inspect.Parameter.empty:
        raise DefinitionError(
            f"@applies handler {handler.__qualname__}: annotate the {parameters[1].name!r} parameter "
            "with the event class it applies"
        )
    setattr(handler, _APPLIES, True)
    return handler


def _event_classes(owner: type, name: str, function: Callable[..., object]) -> tuple[type[Event], ...]:
    """The event classes a handler's annotation names (raises NameError while still unresolvable)."""
    parameter = list(inspect.signature(function).parameters)[1]
    annotation = typing.get_type_hints(function)[parameter]
    members = (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType)
        else (annotation,)
    )
    for member in members:
        if not (isinstance(member, type) and issubclass(member, Event) and member is not Event):
            raise DefinitionError(
                f"@applies handler {owner.__qualname__}.{name} is annotated with {member!r}; "
                "annotate its event parameter with an Event subclass (or a union of them)"
            )
    return tuple(members)


def _handler_table(cls: type[Aggregate[Any]]) -> dict[type[Event], tuple[str, ...]]:
    """Event class -> names of the methods that apply it, in the order they run.

    Handlers of base aggregate classes come first, then each class's in declaration order. A
    handler a subclass redefines keeps its place and runs once, as the subclass defines it.
    """
    table: dict[type[Event], list[str]] = {}
    seen: set[str] = set()
    for klass in reversed(cls.__mro__):
        for name, attribute in vars(klass).items():
            if name in seen or not getattr(attribute, _APPLIES, False):
                continue
            seen.add(name)
            # The event classes are those of the most derived @applies definition of the name.
            owner = next(each for each in cls.__mro__ if getattr(vars(each).get(name), _APPLIES, False))
            for event_class in _event_classes(owner, name, vars(owner)[name]):
                table.setdefault(event_class, []).append(name)
    return {event_class: tuple(names) for event_class, names in table.items()}


class Aggregate(pydantic.BaseModel, Generic[IdType]):
    """Base class of event-sourced aggregates.

    Declare the state as annotated fields. An aggregate starts blank and gains state only by
    applying events, so a field either has a default or is set by the handler of the event that
    creates the aggregate (its first event): a field without a default still unset after that
    event raises :class:`~eventledger.errors.DefinitionError` naming it. Command methods check
    rules and call :meth:`record`; ``@applies`` methods change the fields.

    Ids are strings unless the class names another type, ``class Cargo(Aggregate[UUID])``: any
    type whose ``str()`` is its canonical text (UUID, int, a ``NewType`` of them). The stream
    is ``str(id)``; :meth:`new` and the repository take the typed id (or that text).

    Class keywords:

    - ``type_name``: the name stored in snapshots (default: the class name).
    - ``schema_version``: the version of the state's shape (default 1). Raise it when the
      fields change: snapshots of another version are then ignored and the aggregate is
      rebuilt from its events.
    - ``ignore_unhandled_events``: when True, events with no handler are skipped instead of
      raising :class:`~eventledger.UnhandledEvent`.

    ``id``, ``stream_id``, ``version``, ``committed_version`` and ``uncommitted_events`` are
    properties, not fields; a subclass must not declare fields with those names.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    __aggregate_type__: ClassVar[str] = "Aggregate"
    __schema_version__: ClassVar[int] = 1
    __ignores_unhandled_events__: ClassVar[bool] = False
    __apply_handlers__: ClassVar[dict[type[Event], tuple[str, ...]] | None] = None
    __id_type__: ClassVar[Any] = str
    __required_fields__: ClassVar[tuple[str, ...]] = ()

    _id: Any = pydantic.PrivateAttr(default="")
    _stream_id: str = pydantic.PrivateAttr(default="")
    _version: int = pydantic.PrivateAttr(default=0)
    _uncommitted: list[Event] = pydantic.PrivateAttr(default_factory=list)

    def __init_subclass__(
        cls,
        *,
        type_name: str | None = None,
        schema_version: int = 1,
        ignore_unhandled_events: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        name = type_name if type_name is not None else cls.__name__
        if not isinstance(name, str) or not name:
            raise DefinitionError(f"{cls.__qualname__}: type_name must be a non-empty string")
        if isinstance(schema_version, bool) or not isinstance(schema_version, int) or schema_version < 1:
            raise DefinitionError(f"{cls.__qualname__}: schema_version must be an int >= 1")
        cls.__aggregate_type__ = name
        cls.__schema_version__ = schema_version
        cls.__ignores_unhandled_events__ = bool(ignore_unhandled_events)
        cls.__apply_handlers__ = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name in ("id", "stream_id", "version", "committed_version", "uncommitted_events"):
            if name in cls.model_fields:
                raise DefinitionError(
                    f"{cls.__qualname__}: {name!r} is provided by Aggregate; rename the field"
                )
        fields = cls.model_fields
        cls.__required_fields__ = tuple(name for name, field in fields.items() if field.is_required())
        cls.__id_type__ = _declared_id_type(cls)
        try:
            cls.__apply_handlers__ = _handler_table(cls)
        except NameError:
            # An annotation names a class defined later in its module; resolved on first use.
            cls.__apply_handlers__ = None

    # ----------------------------------------------------------------- creating and rebuilding

    @classmethod
    def new(cls, aggregate_id: IdType) -> Self:
        """A blank aggregate with no history (version 0); creation commands start here.

        Fields without a default are unset until the first event's handler sets them.
        """
        typed_id = cls._typed_id(aggregate_id)
        # Without required fields, the model's own constructor (which also runs validators);
        # with them, a model whose required fields wait for the creating event.
        aggregate = cls() if not cls.__required_fields__ else cls._blank()
        aggregate._id = typed_id
        aggregate._stream_id = str(typed_id)
        return aggregate

    @classmethod
    def _blank(cls) -> Self:
        """An instance whose fields without a default are unset (pydantic's unvalidated constructor)."""
        blank = cls.model_construct()
        if not isinstance(blank, cls):  # pragma: no cover - model_construct builds cls
            raise AssertionError(f"model_construct built {type(blank)!r}, not {cls!r}")
        return blank

    @classmethod
    def stream_id_for(cls, aggregate_id: IdType) -> str:
        """The stream of the aggregate ``aggregate_id``: the id's canonical text, ``str(id)``."""
        return str(cls._typed_id(aggregate_id))

    @classmethod
    def _typed_id(cls, aggregate_id: object) -> Any:
        """``aggregate_id`` as the class's id type (its canonical text is parsed), or InvalidArgument."""
        # A generic base of the user's, used unparametrised, takes string ids.
        id_type = cls.__id_type__ if isinstance(cls.__id_type__, type) else str
        typed: object = aggregate_id
        if not isinstance(aggregate_id, id_type) and isinstance(aggregate_id, str):
            try:
                typed = id_type(aggregate_id)
            except (TypeError, ValueError):
                typed = None
        if not isinstance(typed, id_type) or isinstance(typed, bool) or not str(typed):
            wanted = "string" if id_type is str else f"{id_type.__name__} (or its canonical text)"
            raise InvalidArgument(
                f"{cls.__qualname__}: aggregate id must be a non-empty {wanted}, not {aggregate_id!r}"
            )
        return typed

    @classmethod
    def from_history(cls, aggregate_id: IdType, events: Iterable[Event | RecordedEvent]) -> Self:
        """Rebuild an aggregate by applying its past events in order (nothing is uncommitted)."""
        aggregate = cls.new(aggregate_id)
        for event in events:
            aggregate._replay(event)
        return aggregate

    @classmethod
    def from_snapshot(cls, aggregate_id: IdType, version: int, state: Mapping[str, Any]) -> Self:
        """Restore an aggregate from :meth:`snapshot_state` output taken at ``version``.

        Override together with :meth:`snapshot_state` when the state is not plain fields.
        Raises ``pydantic.ValidationError`` when ``state`` does not fit the fields.
        """
        typed_id = cls._typed_id(aggregate_id)
        aggregate = cls.model_validate(dict(state))
        aggregate._id = typed_id
        aggregate._stream_id = str(typed_id)
        aggregate._version = version
        return aggregate

    def snapshot_state(self) -> dict[str, Any]:
        """The state as JSON-compatible data, for a snapshot (default: the fields, JSON mode)."""
        return self.model_dump(mode="json")

    # ----------------------------------------------------------------- identity and version

    @property
    def id(self) -> IdType:
        """The aggregate's id, of the class's id type."""
        return self._id  # type: ignore[no-any-return]

    @property
    def stream_id(self) -> str:
        """The id of the aggregate's stream: its id's canonical text, ``str(id)``."""
        return self._stream_id

    @property
    def version(self) -> int:
        """How many events the state reflects, including recorded but unsaved ones."""
        return self._version

    @property
    def committed_version(self) -> int:
        """The stream version the aggregate was loaded or last saved at: a save's expected version."""
        return self._version - len(self._uncommitted)

    @property
    def uncommitted_events(self) -> tuple[Event, ...]:
        """Events recorded since the aggregate was loaded or last saved, oldest first."""
        return tuple(self._uncommitted)

    # ----------------------------------------------------------------- events

    def record(self, event: Event) -> None:
        """Apply a new event to the state and keep it for the next save.

        If the apply handler raises, nothing is recorded.
        """
        if not isinstance(event, Event):
            raise InvalidArgument(f"{type(self).__name__}.record takes an Event, not {type(event).__name__}")
        self._apply(event, self._version + 1)
        self._uncommitted.append(event)

    def _replay(self, event: Event | RecordedEvent) -> None:
        if isinstance(event, RecordedEvent):
            self._apply(event.event, event.version)
        else:
            self._apply(event, self._version + 1)

    def _apply(self, event: Event, version: int) -> None:
        names = self._handler_names(type(event))
        if names:
            for name in names:
                getattr(self, name)(event)
        elif not self.__ignores_unhandled_events__:
            stream_id = self._stream_id
            if isinstance(event, RetiredEvent):
                raise UnhandledEvent(type(self).__name__, stream_id, event.type_name, version, event.reason)
            raise UnhandledEvent(type(self).__name__, stream_id, type(event).__event_type__, version)
        if self._version == 0 and self.__required_fields__:
            self._check_created(event)
        self._version = version

    def _check_created(self, event: Event) -> None:
        """Raise unless the creating event set every field that has no default."""
        unset = [name for name in self.__required_fields__ if name not in self.__dict__]
        if unset:
            fields = ", ".join(f"{type(self).__qualname__}.{name}" for name in unset)
            raise DefinitionError(
                f"{fields} is still unset after {type(self).__qualname__} {self._stream_id!r} applied its "
                f"first event, {type(event).__qualname__} ({type(event).__event_type__!r}): the handler "
                "of the event that creates the aggregate must set every field without a default"
            )

    @classmethod
    def _handler_names(cls, event_class: type[Event]) -> tuple[str, ...]:
        table = cls.__dict__.get("__apply_handlers__")
        if table is None:
            table = _handler_table(cls)
            cls.__apply_handlers__ = table
        for klass in event_class.__mro__:
            names = table.get(klass)
            if names is not None:
                return names
            if klass is Event:
                break
        return ()

    def _mark_committed(self) -> None:
        """Forget the uncommitted events: the repository has stored them."""
        self._uncommitted.clear()

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        yield "id", self._id
        yield "version", self._version
        yield from super().__repr_args__()


def _declared_id_type(cls: type[Aggregate[Any]]) -> Any:
    """The id type ``cls`` declares (``Aggregate[UUID]``, or ``Base[UUID]`` for a generic base of
    the user's) or inherits; ``str`` by default. A generic base keeps its type variable."""
    metadata = cls.__pydantic_generic_metadata__
    origin = metadata["origin"]
    if origin is not None and metadata["args"]:
        parameters = origin.__pydantic_generic_metadata__["parameters"]
        inherited = getattr(origin, "__id_type__", str)
        placeholder = inherited if isinstance(inherited, typing.TypeVar) else IdType
        if placeholder in parameters:
            declared = metadata["args"][parameters.index(placeholder)]
            while isinstance(declared, NewType):
                declared = declared.__supertype__
            if isinstance(declared, typing.TypeVar):
                return declared
            if not isinstance(declared, type) or declared is bool:
                raise DefinitionError(
                    f"{cls.__qualname__}: an aggregate id type must be a class whose str() is its "
                    f"canonical text (str, UUID, int), not {declared!r}"
                )
            return declared
    for base in cls.__mro__[1:]:
        if isinstance(base, type) and issubclass(base, Aggregate):
            return base.__id_type__
    return str
