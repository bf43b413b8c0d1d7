"""The functional alternative to aggregates: business rules as two small pure functions.

A :class:`Decider` is ``initial_state``, ``evolve(state, event) -> state`` and
``decide(command, state) -> events``. Nothing in it touches the store: the state of a stream is
its events folded with ``evolve``, and a command's outcome is ``decide`` applied to that state.
:class:`~eventledger.CommandHandler` runs a decider against a stream.

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

from eventledger.events import Event

Command = TypeVar("Command")
State = TypeVar("State")


@dataclass(frozen=True, slots=True)
class Decider(Generic[Command, State]):
    """Business rules as pure functions over an immutable state.

    - ``initial_state``: makes the state of a stream with no events (a class works).
    - ``evolve(state, event)``: the state after one more event; return ``state`` unchanged for
      event types it does not care about.
    - ``decide(command, state)``: the events the command produces, or raise
      :class:`~eventledger.DomainError` when a rule forbids it. An empty list means "nothing to do".
    """

    initial_state: Callable[[], State]
    evolve: Callable[[State, Event], State]
    decide: Callable[[Command, State], Sequence[Event]]

    def fold(self, events: Iterable[Event], state: State | None = None) -> State:
        """The state after ``events``, starting from ``state`` (default: the initial state)."""
        current = self.initial_state() if state is None else state
        for event in events:
            current = self.evolve(current, event)
        return current
