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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, overload

from eventledger.domain.aggregate import Aggregate
from eventledger.domain.decider import Decider
from eventledger.errors import InvalidArgument
from eventledger.events import Event

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
def given(subject: Decider[CommandType, State], /, *events: Event) -> DeciderScenario[CommandType, State]: ...


def given(
    subject: type[Aggregate] | Decider[Any, Any], /, *events: Event, aggregate_id: str = DEFAULT_AGGREGATE_ID
) -> AggregateScenario[Any] | DeciderScenario[Any, Any]:
    """Start a scenario: an Aggregate class or a Decider, with the events already in its stream.

    The past events are applied at once, so a history the aggregate or decider cannot apply
    fails here rather than looking like the command's outcome.
    """
    if isinstance(subject, Decider):
        return DeciderScenario(subject, events)
    if isinstance(subject, type) and issubclass(subject, Aggregate):
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


class DeciderScenario(Generic[CommandType, State]):
    """A decider and its past events, waiting for a command (see :func:`given`)."""

    def __init__(self, decider: Decider[CommandType, State], events: Sequence[Event]) -> None:
        self.decider = decider
        self.events = tuple(events)
        self.state = decider.fold(self.events)

    def when(self, command: CommandType) -> ScenarioOutcome[State]:
        """Decide ``command`` on the state the past events fold into."""
        try:
            events = tuple(self.decider.decide(command, self.state))
        except Exception as error:
            return ScenarioOutcome(self.state, (), error)
        return ScenarioOutcome(self.decider.fold(events, self.state), events, None)


# --------------------------------------------------------------------- write side: then


class ScenarioOutcome(Generic[Result]):
    """What a command did in a scenario: the new events, or the error it raised.

    ``result`` is the aggregate after the command, or the decider's state after the new events.
    """

    def __init__(self, result: Result, events: tuple[Event, ...], error: Exception | None) -> None:
        self.result = result
        self.events = events
        self.error = error

    def then(self, *expected: Event) -> Result:
        """Assert the command produced exactly ``expected``, in order; return the result."""
        self._fail_if_raised(f"expected {_count(expected)}")
        if list(self.events) != list(expected):
            raise AssertionError(side_by_side(expected, self.events))
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
