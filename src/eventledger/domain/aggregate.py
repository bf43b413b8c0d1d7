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
from typing import Any, ClassVar, Self, TypeVar

import pydantic

from eventledger.errors import DefinitionError, InvalidArgument, UnhandledEvent
from eventledger.events import Event, RecordedEvent
from eventledger.versioning import RetiredEvent

ApplyHandler = TypeVar("ApplyHandler", bound=Callable[..., None])

_APPLIES = "__eventledger_applies__"


def applies(handler: ApplyHandler) -> ApplyHandler:
    """Mark an aggregate method as the handler that applies one event class to the state.

    The event class is read from the annotation of the method's event parameter (a union such
    as ``OrderConfirmed | OrderCancelled`` registers the method for each member). A handler for
    a base event class also applies its subclasses, unless a closer handler exists. The method
    is returned unchanged, so type checkers see its real signature.
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


def _handler_table(cls: type[Aggregate]) -> dict[type[Event], str]:
    """Event class -> name of the method that applies it, with subclasses overriding bases."""
    table: dict[type[Event], str] = {}
    for klass in reversed(cls.__mro__):
        own: dict[type[Event], str] = {}
        for name, attribute in vars(klass).items():
            if not getattr(attribute, _APPLIES, False):
                continue
            for event_class in _event_classes(klass, name, attribute):
                if event_class in own:
                    raise DefinitionError(
                        f"{klass.__qualname__} has two handlers for {event_class.__qualname__}: "
                        f"{own[event_class]} and {name}"
                    )
                own[event_class] = name
        table.update(own)
    return table


class Aggregate(pydantic.BaseModel):
    """Base class of event-sourced aggregates.

    Declare the state as annotated fields, each with a default (an aggregate starts blank and
    gains state only by applying events). Command methods check rules and call
    :meth:`record`; ``@applies`` methods change the fields.

    Class keywords:

    - ``type_name``: the name stored in snapshots (default: the class name).
    - ``schema_version``: the version of the state's shape (default 1). Raise it when the
      fields change: snapshots of another version are then ignored and the aggregate is
      rebuilt from its events.
    - ``ignore_unhandled_events``: when True, events with no handler are skipped instead of
      raising :class:`~eventledger.UnhandledEvent`.

    ``id`` (the stream id), ``version``, ``committed_version`` and ``uncommitted_events`` are
    properties, not fields; a subclass must not declare fields with those names.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    __aggregate_type__: ClassVar[str] = "Aggregate"
    __schema_version__: ClassVar[int] = 1
    __ignores_unhandled_events__: ClassVar[bool] = False
    __apply_handlers__: ClassVar[dict[type[Event], str] | None] = None

    _id: str = pydantic.PrivateAttr(default="")
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
        for name in ("id", "version", "committed_version", "uncommitted_events"):
            if name in cls.model_fields:
                raise DefinitionError(
                    f"{cls.__qualname__}: {name!r} is provided by Aggregate; rename the field"
                )
        for name, field in cls.model_fields.items():
            if field.is_required():
                raise DefinitionError(
                    f"{cls.__qualname__}.{name} needs a default: an aggregate starts blank and "
                    "gains state only by applying events"
                )
        try:
            cls.__apply_handlers__ = _handler_table(cls)
        except NameError:
            # An annotation names a class defined later in its module; resolved on first use.
            cls.__apply_handlers__ = None

    # ----------------------------------------------------------------- creating and rebuilding

    @classmethod
    def new(cls, aggregate_id: str) -> Self:
        """A blank aggregate with no history (version 0); creation commands start here."""
        if not isinstance(aggregate_id, str) or not aggregate_id:
            raise InvalidArgument(
                f"{cls.__qualname__}: aggregate id must be a non-empty string, not {aggregate_id!r}"
            )
        aggregate = cls()
        aggregate._id = aggregate_id
        return aggregate

    @classmethod
    def from_history(cls, aggregate_id: str, events: Iterable[Event | RecordedEvent]) -> Self:
        """Rebuild an aggregate by applying its past events in order (nothing is uncommitted)."""
        aggregate = cls.new(aggregate_id)
        for event in events:
            aggregate._replay(event)
        return aggregate

    @classmethod
    def from_snapshot(cls, aggregate_id: str, version: int, state: Mapping[str, Any]) -> Self:
        """Restore an aggregate from :meth:`snapshot_state` output taken at ``version``.

        Override together with :meth:`snapshot_state` when the state is not plain fields.
        Raises ``pydantic.ValidationError`` when ``state`` does not fit the fields.
        """
        aggregate = cls.model_validate(dict(state))
        aggregate._id = aggregate_id
        aggregate._version = version
        return aggregate

    def snapshot_state(self) -> dict[str, Any]:
        """The state as JSON-compatible data, for a snapshot (default: the fields, JSON mode)."""
        return self.model_dump(mode="json")

    # ----------------------------------------------------------------- identity and version

    @property
    def id(self) -> str:
        """The aggregate's id, which is also its stream id."""
        return self._id

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
        name = self._handler_name(type(event))
        if name is not None:
            getattr(self, name)(event)
        elif not self.__ignores_unhandled_events__:
            if isinstance(event, RetiredEvent):
                raise UnhandledEvent(type(self).__name__, self._id, event.type_name, version, event.reason)
            raise UnhandledEvent(type(self).__name__, self._id, type(event).__event_type__, version)
        self._version = version

    @classmethod
    def _handler_name(cls, event_class: type[Event]) -> str | None:
        table = cls.__dict__.get("__apply_handlers__")
        if table is None:
            table = _handler_table(cls)
            cls.__apply_handlers__ = table
        for klass in event_class.__mro__:
            name = table.get(klass)
            if name is not None:
                return name
            if klass is Event:
                break
        return None

    def _mark_committed(self) -> None:
        """Forget the uncommitted events: the repository has stored them."""
        self._uncommitted.clear()

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        yield "id", self._id
        yield "version", self._version
        yield from super().__repr_args__()
