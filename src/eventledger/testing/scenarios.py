"""Given / when / then for the write side: aggregates and deciders in users' own tests.

Write-side scenarios (aggregates and deciders) read as the rule they check::

    from eventledger.testing import given

    def test_a_pending_order_can_be_confirmed() -> None:
        given(Order, OrderCreated(order_id="o1", items=items)).when(Order.confirm).then(
            OrderConfirmed(order_id="o1")
        )

    def test_a_cancelled_order_cannot_be_confirmed() -> None:
        given(order_decider, created, cancelled).when(ConfirmOrder(order_id="o1")).then_raises(
            DomainError, match="Cannot confirm"
        )

A failing ``then`` raises ``AssertionError`` with the expected and actual events side by side.

A decider scenario decides its command at the time of its clock (``given(decider, *events,
clock=FixedClock(...))``, default the system clock), as a ``CommandHandler`` would: the command
gets its ``now`` and the events the metadata a handler would store, which ``then_metadata`` (or
``then(..., metadata=...)``) checks::

    outcome = given(cart_decider, opened, clock=FixedClock(noon)).when(
        AddItem(cart_id="c1", sku="tea", metadata={"client_id": "web-7"})
    )
    outcome.then(ItemAdded(sku="tea"), metadata={"client_id": "web-7", "now": noon})

When the decider's state is declared frozen (a frozen dataclass, a pydantic model with
``frozen=True``), the scenario checks on every event that ``evolve`` did not change the state it
was given, and that ``decide`` did not either: an in-place change (``object.__setattr__``, an
``append`` to a list inside) fails the scenario, naming the event. Only scenarios check this, not
the ``CommandHandler``: it would cost a copy of the state for each event of every load, on every
command, to find a mistake the rules' own tests find once.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

import pydantic

from eventledger.domain.aggregate import Aggregate
from eventledger.domain.clock import Clock, system_clock, timestamp
from eventledger.domain.commands import merge_metadata, timed
from eventledger.domain.decider import Decider, EventType
from eventledger.errors import InvalidArgument
from eventledger.events import Event, Metadata

AggregateType = TypeVar("AggregateType", bound=Aggregate[Any])
CommandType = TypeVar("CommandType")
State = TypeVar("State")
Result = TypeVar("Result")
ErrorType = TypeVar("ErrorType", bound=BaseException)

DEFAULT_AGGREGATE_ID = "aggregate-1"
"""The id a scenario's aggregate gets unless ``given(..., aggregate_id=...)`` says otherwise."""


# --------------------------------------------------------------------- write side: given


@overload
def given(
    subject: type[AggregateType], /, *events: Event, aggregate_id: str = DEFAULT_AGGREGATE_ID
) -> AggregateScenario[AggregateType]: ...


@overload
def given(
    subject: Decider[CommandType, State, EventType], /, *events: EventType, clock: Clock = system_clock
) -> DeciderScenario[CommandType, State, EventType]: ...


def given(
    subject: type[Aggregate] | Decider[Any, Any, Any],
    /,
    *events: Event,
    aggregate_id: str = DEFAULT_AGGREGATE_ID,
    clock: Clock | None = None,
) -> AggregateScenario[Any] | DeciderScenario[Any, Any, Any]:
    """Start a scenario: an Aggregate class or a Decider, with the events already in its stream.

    The past events are applied at once, so a history the aggregate or decider cannot apply
    fails here rather than looking like the command's outcome. ``clock`` (deciders only) gives
    the command its ``now``.
    """
    if isinstance(subject, Decider):
        return DeciderScenario(subject, events, clock=system_clock if clock is None else clock)
    if isinstance(subject, type) and issubclass(subject, Aggregate):
        if clock is not None:
            raise InvalidArgument(
                "given(..., clock=) is for deciders: an aggregate's command method is called as it is"
            )
        return AggregateScenario(subject, events, aggregate_id)
    raise InvalidArgument(f"given() takes an Aggregate subclass or a Decider, not {subject!r}")


class AggregateScenario(Generic[AggregateType]):
    """An aggregate class and its past events, waiting for a command (see :func:`given`)."""

    def __init__(
        self, aggregate_class: type[AggregateType], events: Sequence[Event], aggregate_id: str
    ) -> None:
        self.aggregate_class = aggregate_class
        self.events = tuple(events)
        self.aggregate_id = aggregate_id
        self._rebuild()

    def _rebuild(self) -> AggregateType:
        return self.aggregate_class.from_history(self.aggregate_id, self.events)

    def when(self, command: Callable[[AggregateType], object]) -> ScenarioOutcome[AggregateType]:
        """Run ``command`` on the aggregate rebuilt from the past events.

        ``command`` is usually a command method (``Order.confirm``) or a lambda calling one. A
        command that creates the aggregate may return the new aggregate instead
        (``lambda _: Order.create("o1", items)``); its events are then the outcome.
        """
        aggregate = self._rebuild()
        try:
            returned = command(aggregate)
        except Exception as error:
            return ScenarioOutcome(aggregate, (), error)
        if isinstance(returned, self.aggregate_class):
            aggregate = returned
        return ScenarioOutcome(aggregate, aggregate.uncommitted_events, None)


class DeciderScenario(Generic[CommandType, State, EventType]):
    """A decider and its past events, waiting for a command (see :func:`given`)."""

    def __init__(
        self,
        decider: Decider[CommandType, State, EventType],
        events: Sequence[EventType],
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.decider = decider
        self.events = tuple(events)
        self.clock = clock
        self.state = self._fold(self.events, decider.initial_state())

    def when(self, command: CommandType) -> ScenarioOutcome[State]:
        """Decide ``command`` on the state the past events fold into, at the clock's time.

        The command gets its ``now`` from the scenario's clock (unless it has one), as a
        :class:`~eventledger.CommandHandler` would give it, and the outcome's ``metadata`` is
        what the handler would store with the events.
        """
        command, now = timed(command, self.clock)
        metadata = merge_metadata(command, None, now=now)
        before = frozen_contents(self.state)
        try:
            events = tuple(self.decider.decide(command, self.state))
        except Exception as error:
            return ScenarioOutcome(self.state, (), error, metadata=metadata)
        finally:
            if before is not None and frozen_contents(self.state) != before:
                raise AssertionError(changed_in_place(self.state, f"decide changed it, deciding {command!r}"))
        return ScenarioOutcome(self._fold(events, self.state), events, None, metadata=metadata)

    def _fold(self, events: Sequence[EventType], state: State) -> State:
        for event in events:
            before = frozen_contents(state)
            evolved = self.decider.evolve(state, event)
            if before is not None and frozen_contents(state) != before:
                raise AssertionError(changed_in_place(state, f"evolve changed it, applying {event!r}"))
            state = evolved
        return state


def frozen_contents(state: object) -> object | None:
    """A deep copy of what a state declared frozen holds, to compare after a call; else ``None``.

    Frozen means a dataclass with ``frozen=True`` or a pydantic model with ``frozen=True``; any
    other state may be changed in place by its own rules, and is not checked.
    """
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        parameters = getattr(type(state), "__dataclass_params__", None)
        return dataclasses.astuple(state) if getattr(parameters, "frozen", False) else None
    if isinstance(state, pydantic.BaseModel) and state.model_config.get("frozen"):
        return state.model_dump()
    return None


def changed_in_place(state: object, how: str) -> str:
    """The failure of a scenario whose rules changed a frozen state instead of replacing it."""
    return (
        f"the state is declared frozen ({type(state).__name__}) but {how}; return a new state "
        "(dataclasses.replace, model_copy(update=...)) instead of changing the one given"
    )


# --------------------------------------------------------------------- write side: then


class ScenarioOutcome(Generic[Result]):
    """What a command did in a scenario: the new events, or the error it raised.

    ``result`` is the aggregate after the command, or the decider's state after the new events;
    ``metadata`` (deciders only, else ``None``) is what a handler would store with the events.
    """

    def __init__(
        self,
        result: Result,
        events: tuple[Event, ...],
        error: Exception | None,
        *,
        metadata: Metadata | None = None,
    ) -> None:
        self.result = result
        self.events = events
        self.error = error
        self.metadata = metadata

    def then(self, *expected: Event, metadata: Mapping[str, Any] | None = None) -> Result:
        """Assert the command produced exactly ``expected``, in order; return the result.

        With ``metadata``, also assert the events' metadata (see :meth:`then_metadata`).
        """
        self._fail_if_raised(f"expected {_count(expected)}")
        if list(self.events) != list(expected):
            raise AssertionError(side_by_side(expected, self.events))
        if metadata is not None:
            self.then_metadata(metadata)
        return self.result

    def then_metadata(self, expected: Mapping[str, Any] | None = None, /, **keys: Any) -> Result:
        """Assert the produced events' metadata holds ``expected`` (and ``keys``); return the result.

        Only the keys named are compared (the generated ``command_id`` need not be); a datetime
        stands for its ISO-8601 UTC text, so ``now=clock.now()`` works.
        """
        wanted = {**(expected or {}), **keys}
        if self.metadata is None:
            raise InvalidArgument(
                "then_metadata() checks decider scenarios: an aggregate's events get no metadata"
            )
        expectation = f"expected events with metadata {wanted!r}"
        self._fail_if_raised(expectation)
        if not self.events:
            raise AssertionError(f"{expectation}, but the command produced no events")
        differences = [
            metadata_difference(key, value, self.metadata)
            for key, value in wanted.items()
            if key not in self.metadata or self.metadata[key] != stored_form(value)
        ]
        if differences:
            raise AssertionError("the events' metadata differs:\n" + "\n".join(differences))
        return self.result

    def then_nothing_happened(self) -> Result:
        """Assert the command produced no events and raised nothing; return the result."""
        self._fail_if_raised("expected nothing to happen")
        if self.events:
            raise AssertionError(side_by_side((), self.events, title="expected nothing to happen"))
        return self.result

    def then_raises(self, error_type: type[ErrorType], *, match: str | None = None) -> ErrorType:
        """Assert the command raised ``error_type`` (its message searched for ``match``); return it."""
        error = self.error
        if error is None:
            expectation = f"expected {error_type.__name__} to be raised, but the command"
            if not self.events:
                raise AssertionError(f"{expectation} raised nothing and recorded no events")
            raise AssertionError(side_by_side((), self.events, title=f"{expectation} recorded events"))
        if not isinstance(error, error_type):
            raise AssertionError(
                f"expected {error_type.__name__} to be raised, but it raised {type(error).__name__}: {error}"
            ) from error
        if match is not None and re.search(match, str(error)) is None:
            raise AssertionError(
                f"{type(error).__name__} was raised, but its message {str(error)!r} does not match {match!r}"
            ) from error
        return error

    def _fail_if_raised(self, expectation: str) -> None:
        if self.error is not None:
            raise AssertionError(
                f"{expectation}, but the command raised {type(self.error).__name__}: {self.error}"
            ) from self.error


def stored_form(value: object) -> object:
    """``value`` as metadata stores it: a datetime as its ISO-8601 UTC text, anything else as it is."""
    return timestamp(value) if isinstance(value, datetime) else value


def metadata_difference(key: str, value: object, metadata: Metadata) -> str:
    """One line of a failed metadata check: the key, what was expected and what was stored."""
    actual = repr(metadata[key]) if key in metadata else "nothing (the key is missing)"
    return f"  {key!r}: expected {stored_form(value)!r}, got {actual}"


def _count(events: Sequence[Event]) -> str:
    return f"{len(events)} event{'' if len(events) == 1 else 's'}"


def side_by_side(
    expected: Sequence[Event], actual: Sequence[Event], *, title: str = "the events differ"
) -> str:
    """A table of expected and actual events, one pair per line, marking the lines that differ.

    >>> class Noted(Event):
    ...     note: str
    >>> print(side_by_side([Noted(note="a")], [Noted(note="b"), Noted(note="c")]))
    the events differ (expected 1 event, got 2 events):
      # | expected        | actual
      1 | Noted(note='a') | Noted(note='b') <- differs
      2 | -               | Noted(note='c') <- unexpected
    """
    left = [repr(event) for event in expected]
    right = [repr(event) for event in actual]
    rows = max(len(left), len(right))
    width = max([len("expected"), len("-"), *(len(text) for text in left)])
    right_width = max([len("actual"), len("-"), *(len(text) for text in right)])
    lines = [
        f"{title} (expected {_count(expected)}, got {_count(actual)}):",
        f"  {'#':>{len(str(rows))}} | {'expected':<{width}} | actual",
    ]
    for index in range(rows):
        mine = left[index] if index < len(left) else "-"
        theirs = right[index] if index < len(right) else "-"
        if index >= len(left):
            mark = "<- unexpected"
        elif index >= len(right):
            mark = "<- missing"
        elif expected[index] != actual[index]:
            mark = "<- differs"
        else:
            mark = ""
        line = f"  {index + 1:>{len(str(rows))}} | {mine:<{width}} | {theirs:<{right_width}} {mark}"
        lines.append(line.rstrip())
    return "\n".join(lines)
