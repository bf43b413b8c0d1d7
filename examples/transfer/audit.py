"""The invariant, checked over the whole log: money is neither made nor lost, at any commit.

The audit folds the global log in order. Money enters only when an account is opened; a
transfer's debit and its ``TransferDebited`` are written in one commit, as are its credit and
``TransferCompleted``, and its refund and ``TransferRefunded``. So after every commit::

    sum of all balances + money in flight (debited, not yet credited or refunded) == money opened with

The audit checks that after every commit of the log, not only at the end (a reaction's events
are adjacent in the log and share a causation id; anything else is a commit of its own), and
that every transfer took each step at most once and ended at most once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import eventledger as el
from examples.transfer.domain import (
    AccountCredited,
    AccountDebited,
    AccountOpened,
    AccountRefunded,
    TransferCompleted,
    TransferDebited,
    TransferRefunded,
    TransferRejected,
    TransferRequested,
)


@dataclass
class Audit:
    """What the log says: balances, money in flight, how transfers ended, and what was wrong."""

    opened: int = 0
    balances: dict[str, int] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    requested: set[str] = field(default_factory=set)
    endings: Counter[str] = field(default_factory=Counter)
    steps: Counter[tuple[str, str]] = field(default_factory=Counter)
    commits: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """The sum of all balances now."""
        return sum(self.balances.values())

    @property
    def pending(self) -> set[str]:
        """Transfers requested and not ended yet."""
        return {transfer for transfer in self.requested if not self.endings[transfer]}

    @property
    def holds(self) -> bool:
        """True when nothing was wrong at any commit."""
        return not self.violations

    def count(self, kind: type[el.Event]) -> int:
        """How many events of ``kind`` the transfers have (the steps they took, how they ended)."""
        return sum(count for (_, name), count in self.steps.items() if name == kind.__event_type__)

    def apply(self, recorded: el.RecordedEvent) -> None:
        """Fold one event in."""
        match recorded.event:
            case AccountOpened(account_id=account, balance=balance):
                self.opened += balance
                self.balances[account] = balance
            case AccountDebited(account_id=account, transfer_id=transfer, amount=amount):
                self.balances[account] -= amount
                self._step(transfer, recorded)
            case (
                AccountCredited(account_id=account, transfer_id=transfer, amount=amount)
                | AccountRefunded(account_id=account, transfer_id=transfer, amount=amount)
            ):
                self.balances[account] += amount
                self._step(transfer, recorded)
            case TransferRequested(transfer_id=transfer):
                self.requested.add(transfer)
                self._step(transfer, recorded)
            case TransferDebited(transfer_id=transfer, amount=amount):
                self.in_flight[transfer] = amount
                self._step(transfer, recorded)
            case TransferCompleted(transfer_id=transfer) | TransferRefunded(transfer_id=transfer):
                self.in_flight.pop(transfer, None)
                self.endings[transfer] += 1
                self._step(transfer, recorded)
            case TransferRejected(transfer_id=transfer):
                self.endings[transfer] += 1
                self._step(transfer, recorded)

    def _step(self, transfer: str, recorded: el.RecordedEvent) -> None:
        self.steps[(transfer, recorded.type)] += 1
        if self.steps[(transfer, recorded.type)] > 1:
            self.violations.append(
                f"transfer {transfer}: {recorded.type} twice (position {recorded.position})"
            )

    def check(self, position: int) -> None:
        """The invariant after the commit that ended at ``position``."""
        self.commits += 1
        counted = self.total + sum(self.in_flight.values())
        if counted != self.opened:
            self.violations.append(
                f"after position {position}: balances {self.total} + in flight "
                f"{sum(self.in_flight.values())} = {counted}, not the {self.opened} opened with"
            )


async def audit(store: el.EventStore) -> Audit:
    """Fold the whole log, checking the invariant after every commit."""
    result = Audit()
    group: str | None = None
    last = 0
    async for recorded in store.read_all():
        cause = recorded.causation_id
        if last and (cause is None or cause != group):
            result.check(last)
        result.apply(recorded)
        group, last = cause, recorded.position
    if last:
        result.check(last)
    return result
