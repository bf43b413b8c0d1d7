"""A projection: a stable name, a schema version and one handler per event class.

>>> class OrderSummaries(Projection[SQLTransaction], name="order-summaries", version=1):
...     tables = ("order_summaries",)
...
...     async def setup(self, sql: SQLTransaction) -> None:
...         await sql.execute(f"CREATE TABLE {sql.table('order_summaries')} (order_id TEXT PRIMARY KEY)")
...
...     @handles
...     async def created(self, event: OrderCreated, recorded: RecordedEvent, sql: SQLTransaction) -> None:
...         await sql.execute(f"INSERT INTO {sql.table('order_summaries')} VALUES (%s)", (event.order_id,))

A handler is an ``async`` method taking the event (typed as its class, so the type checker sees
its fields), the :class:`RecordedEvent` envelope (position, event id, recorded_at, metadata) and
the session the read-model target opened for the batch. ``@handles`` reads the event class from
the annotation; ``@handles(OrderConfirmed, OrderCancelled)`` names classes explicitly. A handler
for a base class also receives its subclasses. Events without a handler are passed over, and
still advance the checkpoint.

The schema version names the shape of the read model. Raising it makes the runner build the
new version into new tables beside the old ones, which keep serving until the new build has
caught up (a blue/green rebuild).

A target asks of a projection only its name, version, tables, ``setup`` and ``teardown``
(:class:`~eventledger.projections.builds.ReadModelSchema`), so this module imports the targets
and they never import it.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final, Generic, overload

from typing_extensions import TypeVar

from eventledger.errors import ProjectionDefinitionError
from eventledger.events import Event, RecordedEvent
from eventledger.projections.targets.base import Target

S = TypeVar("S")
"""The session a target hands to handlers (a SQL transaction, an in-memory read model, a client)."""

BoundTarget = TypeVar("BoundTarget", bound=Target[Any], default=Target[S], covariant=True)
"""The type of :attr:`Projection.target`: ``Target[S]`` unless the class names a concrete one,
as in ``Projection[SQLTransaction, SQLiteTarget]`` (then ``projection.target.read()`` type-checks)."""

HandlerFunction = TypeVar("HandlerFunction", bound=Callable[..., Awaitable[None]])

BoundHandler = Callable[[Event, RecordedEvent, Any], Awaitable[None]]
"""A handler bound to its projection instance: ``(event, recorded, session)``."""

NAME_PATTERN: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$")
TABLE_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_HANDLES: Final = "__eventledger_handles__"
_INFER: Final = "infer"


@overload
def handles(function: HandlerFunction, /) -> HandlerFunction: ...


@overload
def handles(*event_types: type[Event]) -> Callable[[HandlerFunction], HandlerFunction]: ...


def handles(*arguments: Any) -> Any:
    """Mark an ``async`` method of a :class:`Projection` as the handler of one or more event classes.

    Bare (``@handles``) it handles the class its event parameter is annotated with (a union
    annotation handles each member); with arguments (``@handles(OrderConfirmed)``) it handles
    exactly those classes.
    """
    if len(arguments) == 1 and not isinstance(arguments[0], type) and callable(arguments[0]):
        setattr(arguments[0], _HANDLES, _INFER)
        return arguments[0]
    for item in arguments:
        if not (isinstance(item, type) and issubclass(item, Event)):
            raise ProjectionDefinitionError(f"@handles takes Event subclasses, not {item!r}")
    if not arguments:
        raise ProjectionDefinitionError("@handles() needs at least one Event subclass, or no parentheses")

    def mark(function: HandlerFunction) -> HandlerFunction:
        setattr(function, _HANDLES, tuple(arguments))
        return function

    return mark


class Projection(Generic[S, BoundTarget]):
    """Base class of projections: subclass it, declare ``tables`` and write ``@handles`` methods.

    Class keywords: ``name`` (stable; it keys the checkpoint, so never rename a running
    projection; default the class name), ``version`` (the read model's schema version,
    default 1) and ``segments`` (workers applying it in parallel, split by stream; default 1).

    ``tables`` lists the read model's table names. Inside handlers and ``setup``,
    ``session.table(name)`` gives the name of that table in the build being written (such as
    ``order_summaries_v2_b3``); readers query the plain name, which always points at the build
    that is serving.

    The instance is bound to the :class:`~eventledger.projections.targets.base.Target` its read
    model lives in: ``OrderSummaries(SQLiteTarget("read.db"))``. ``Projection[SQLTransaction]``
    accepts any target of that session; ``Projection[SQLTransaction, SQLiteTarget]`` accepts only
    that target class and keeps it as the type of ``self.target``, for readers that use it.
    """

    name: ClassVar[str] = "Projection"
    version: ClassVar[int] = 1
    segments: ClassVar[int] = 1
    """How many workers apply this projection in parallel, each the streams of its segment
    (class keyword ``segments=N``, see :mod:`eventledger.projections.segments`); changing it is a
    new schema ``version`` (a blue/green rebuild)."""
    tables: ClassVar[tuple[str, ...]] = ()
    __handler_specs__: ClassVar[dict[str, tuple[type[Event], ...] | str]] = {}

    def __init_subclass__(
        cls,
        *,
        name: str | None = None,
        version: int | None = None,
        segments: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        chosen = name if name is not None else cls.__dict__.get("name", cls.__name__)
        if not isinstance(chosen, str) or not NAME_PATTERN.match(chosen):
            raise ProjectionDefinitionError(
                f"{cls.__qualname__}: projection name {chosen!r} must match {NAME_PATTERN.pattern}"
            )
        cls.name = chosen
        if version is not None:
            cls.version = version
        if isinstance(cls.version, bool) or not isinstance(cls.version, int) or cls.version < 1:
            raise ProjectionDefinitionError(f"{cls.__qualname__}: version must be an int >= 1")
        if segments is not None:
            cls.segments = segments
        count = cls.segments
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1024:
            raise ProjectionDefinitionError(
                f"{cls.__qualname__}: segments must be an int from 1 to 1024, not {cls.segments!r}"
            )
        tables = tuple(cls.tables)
        for table in tables:
            if not isinstance(table, str) or not TABLE_PATTERN.match(table):
                raise ProjectionDefinitionError(
                    f"{cls.__qualname__}: table name {table!r} must match {TABLE_PATTERN.pattern}"
                )
        if len(set(tables)) != len(tables):
            raise ProjectionDefinitionError(f"{cls.__qualname__}: tables {tables!r} repeat a name")
        cls.tables = tables
        specs: dict[str, tuple[type[Event], ...] | str] = {}
        for klass in reversed(cls.__mro__):
            for attribute, value in vars(klass).items():
                spec = getattr(value, _HANDLES, None)
                if spec is not None:
                    if not inspect.iscoroutinefunction(value):
                        raise ProjectionDefinitionError(
                            f"{cls.__qualname__}.{attribute}: handlers must be 'async def' methods"
                        )
                    specs[attribute] = spec
                elif attribute in specs:
                    del specs[attribute]  # overridden without @handles: no longer a handler
        cls.__handler_specs__ = specs

    def __init__(self, target: BoundTarget) -> None:
        self.target: BoundTarget = target
        self._handlers: dict[type[Event], BoundHandler] = {}
        for attribute, spec in type(self).__handler_specs__.items():
            event_classes = _infer_event_classes(type(self), attribute) if isinstance(spec, str) else spec
            for event_class in event_classes:
                if event_class in self._handlers:
                    raise ProjectionDefinitionError(
                        f"{type(self).__qualname__}: two handlers for {event_class.__name__}"
                    )
                self._handlers[event_class] = getattr(self, attribute)
        self._dispatch: dict[type[Event], BoundHandler | None] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version}, target={self.target!r})"

    @property
    def handled_event_types(self) -> tuple[type[Event], ...]:
        """The event classes this projection has handlers for."""
        return tuple(self._handlers)

    def handler_for(self, event_type: type[Event]) -> BoundHandler | None:
        """The handler for ``event_type`` (or its nearest base class with one), or None."""
        try:
            return self._dispatch[event_type]
        except KeyError:
            pass
        found = next(
            (self._handlers[klass] for klass in event_type.__mro__ if klass in self._handlers),
            None,
        )
        self._dispatch[event_type] = found
        return found

    async def setup(self, session: S) -> None:
        """Create the read model's tables for a new build (runs in the build's first transaction)."""

    async def teardown(self, session: S) -> None:
        """Drop anything :meth:`setup` made beyond the declared ``tables`` (the target drops those)."""


def _infer_event_classes(cls: type, attribute: str) -> tuple[type[Event], ...]:
    function = getattr(cls, attribute)
    where = f"{cls.__qualname__}.{attribute}"
    parameters = list(inspect.signature(function).parameters.values())
    if len(parameters) != 4:
        raise ProjectionDefinitionError(
            f"{where}: a handler takes (self, event, recorded, session); it has {len(parameters)} parameters"
        )
    event_parameter = parameters[1].name
    try:
        annotation = typing.get_type_hints(function).get(event_parameter)
    except NameError as error:
        raise ProjectionDefinitionError(
            f"{where}: cannot resolve the annotation of {event_parameter!r} ({error}); "
            "name the classes instead: @handles(SomeEvent)"
        ) from error
    members = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    classes = tuple(member for member in members if isinstance(member, type) and issubclass(member, Event))
    if not classes or len(classes) != len(members):
        raise ProjectionDefinitionError(
            f"{where}: annotate {event_parameter!r} with the Event subclass it handles "
            f"(found {annotation!r}), or write @handles(SomeEvent)"
        )
    return classes


def _is_union(annotation: object) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)
