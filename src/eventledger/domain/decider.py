"""The functional alternative to aggregates: business rules as two small pure functions.

A :class:`Decider` is ``initial_state``, ``evolve(state, event) -> state`` and
``decide(command, state) -> events``. Nothing in it touches the store: the state of a stream is
its events folded with ``evolve``, and a command's outcome is ``decide`` applied to that state.
:class:`~eventledger.CommandHandler` runs a decider against a stream.

Its third type parameter is the union of the events it produces and folds
(``Decider[OrderCommand, OrderState, OrderEvent]``), so that ``mypy --strict`` rejects a
``decide`` returning any other event, and an ``evolve`` whose ``match`` ends in
``assert_never(event)`` must handle every event of the union. Left out, it is any
:class:`~eventledger.Event`.

>>> class Added(Event):
...     amount: int
>>> counter = Decider(
...     initial_state=lambda: 0,
...     evolve=lambda total, event: total + event.amount if isinstance(event, Added) else total,
...     decide=lambda amount, total: [Added(amount=amount)] if total + amount <= 10 else [],
... )
>>> counter.fold([Added(amount=3), Added(amount=4)])
7
>>> counter.decide(5, 7)
[]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from typing_extensions import TypeVar as DefaultedTypeVar

from eventledger.events import Event

Command = TypeVar("Command")
State = TypeVar("State")
EventType = DefaultedTypeVar("EventType", bound=Event, default=Event)
"""The decider's events: a union of event classes, or any :class:`~eventledger.Event` when left out."""


@dataclass(frozen=True, slots=True)
class Decider(Generic[Command, State, EventType]):
    """Business rules as pure functions over an immutable state.

    - ``initial_state``: makes the state of a stream with no events (a class works).
    - ``evolve(state, event)``: the state after one more event. Typed with the event union, its
      ``match`` can end in ``assert_never(event)`` so mypy proves every event is handled; typed
      with :class:`~eventledger.Event`, it returns ``state`` unchanged for events it ignores.
    - ``decide(command, state)``: the events the command produces, or raise
      :class:`~eventledger.DomainError` when a rule forbids it. An empty list means "nothing to do".

    A stream run by a decider holds only the decider's events: the handler passes each stored
    event to ``evolve`` as it is (a stream shared with other events needs them in the union).

    When the state is declared frozen (a frozen dataclass or a pydantic model with
    ``frozen=True``), ``evolve`` and ``decide`` must never change the state they are given
    (``evolve`` returns a new one, or the same one when nothing changed): the given/when/then
    scenarios check it on every event (see :mod:`eventledger.testing.scenarios`).
    """

    initial_state: Callable[[], State]
    evolve: Callable[[State, EventType], State]
    decide: Callable[[Command, State], Sequence[EventType]]

    def fold(self, events: Iterable[EventType], state: State | None = None) -> State:
        """The state after ``events``, starting from ``state`` (default: the initial state)."""
        current = self.initial_state() if state is None else state
        for event in events:
            current = self.evolve(current, event)
        return current
