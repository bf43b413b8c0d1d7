"""A decider whose decide returns an event outside its event union: mypy --strict rejects it."""

from __future__ import annotations

import eventledger as el
from eventledger.testing import given


class Deposited(el.Event, type_name="typing.deciders.outside.deposited"):
    amount: int


class Withdrawn(el.Event, type_name="typing.deciders.outside.withdrawn"):
    amount: int


class AccountClosed(el.Event, type_name="typing.deciders.outside.closed"):
    pass


AccountEvent = Deposited | Withdrawn


def evolve(balance: int, event: AccountEvent) -> int:
    return balance + event.amount if isinstance(event, Deposited) else balance - event.amount


def decide(amount: int, balance: int) -> list[AccountEvent]:
    if amount == 0:
        return [AccountClosed()]  # expect: list-item
    return [Deposited(amount=amount)] if amount > 0 else [Withdrawn(amount=-amount)]


def decide_anything(amount: int, balance: int) -> list[el.Event]:
    return [Deposited(amount=amount)]


account: el.Decider[int, int, AccountEvent] = el.Decider(int, evolve, decide)
loose: el.Decider[int, int, AccountEvent] = el.Decider(int, evolve, decide_anything)  # expect: arg-type
given(account, AccountClosed())  # expect: misc
