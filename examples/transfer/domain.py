"""Accounts and transfers: the events, and the account's rules as an aggregate.

An account is opened with a balance and a limit (the most it may hold). It pays a debit only
while open and only from its balance; it takes a credit only while open and only up to its
limit. A closed account keeps its balance: closing moves no money. A refund (giving back a debit
whose transfer could not be completed) is always taken, even by a closed account or above the
limit, since the money was the account's a moment ago. Amounts are integers (cents).

A transfer is a stream of its own (``transfer-{id}``): requested by a client, then debited
(the money is in flight), then completed, or rejected (nothing moved) or refunded (the money
went back). Its steps are taken by :class:`~examples.transfer.process.TransferProcess`.
"""

from __future__ import annotations

import pydantic

import eventledger as el


def account_stream(account_id: str) -> str:
    """The stream of account ``account_id``."""
    return f"account-{account_id}"


def transfer_stream(transfer_id: str) -> str:
    """The stream of transfer ``transfer_id``."""
    return f"transfer-{transfer_id}"


# --------------------------------------------------------------------- account events


class AccountOpened(el.Event, type_name="transfer.account-opened"):
    """An account was opened holding ``balance``; it may never hold more than ``limit``."""

    account_id: str
    balance: int = pydantic.Field(ge=0)
    limit: int = pydantic.Field(ge=0)


class AccountDebited(el.Event, type_name="transfer.account-debited"):
    """``amount`` left the account for a transfer."""

    account_id: str
    transfer_id: str
    amount: int = pydantic.Field(gt=0)


class AccountCredited(el.Event, type_name="transfer.account-credited"):
    """``amount`` arrived from a transfer."""

    account_id: str
    transfer_id: str
    amount: int = pydantic.Field(gt=0)


class AccountRefunded(el.Event, type_name="transfer.account-refunded"):
    """A debit came back: its transfer could not be completed (the compensation)."""

    account_id: str
    transfer_id: str
    amount: int = pydantic.Field(gt=0)


class AccountClosed(el.Event, type_name="transfer.account-closed"):
    """The account takes no more debits or credits; it keeps its balance."""

    account_id: str


# --------------------------------------------------------------------- transfer events


class TransferRequested(el.Event, type_name="transfer.requested"):
    """A client asked to move ``amount`` from ``source`` to ``target``."""

    transfer_id: str
    source: str
    target: str
    amount: int = pydantic.Field(gt=0)


class TransferDebited(el.Event, type_name="transfer.debited"):
    """The source paid: the money is in flight until the transfer completes or is refunded."""

    transfer_id: str
    source: str
    target: str
    amount: int


class TransferCompleted(el.Event, type_name="transfer.completed"):
    """The target was credited: the transfer is done."""

    transfer_id: str


class TransferRejected(el.Event, type_name="transfer.rejected"):
    """The source could not pay; nothing moved."""

    transfer_id: str
    reason: str


class TransferRefunded(el.Event, type_name="transfer.refunded"):
    """The target could not take the money, so it went back to the source."""

    transfer_id: str
    reason: str


TransferEnded = TransferCompleted | TransferRejected | TransferRefunded
"""The events that end a transfer."""


# --------------------------------------------------------------------- the account


class Account(el.Aggregate):
    """An account's balance, limit and whether it is open, changed only by its events."""

    balance: int = 0
    limit: int = 0
    is_open: bool = False

    @classmethod
    def open(cls, account_id: str, *, balance: int, limit: int) -> Account:
        """A new account holding ``balance`` (at most ``limit``)."""
        if not 0 <= balance <= limit:
            raise el.DomainError(f"account {account_id}: the balance must be between 0 and the limit")
        account = cls.new(account_stream(account_id))
        account.record(AccountOpened(account_id=account_id, balance=balance, limit=limit))
        return account

    @property
    def account_id(self) -> str:
        """The id the account was opened with."""
        return self.id.removeprefix("account-")

    def debit(self, transfer_id: str, amount: int) -> None:
        """Pay ``amount`` for a transfer, or raise DomainError (closed, or not enough money)."""
        if not self.is_open:
            raise el.DomainError(f"account {self.account_id} is closed")
        if amount > self.balance:
            raise el.DomainError(f"account {self.account_id} holds {self.balance}, not {amount}")
        self.record(AccountDebited(account_id=self.account_id, transfer_id=transfer_id, amount=amount))

    def credit(self, transfer_id: str, amount: int) -> None:
        """Take ``amount`` from a transfer, or raise DomainError (closed, or over the limit)."""
        if not self.is_open:
            raise el.DomainError(f"account {self.account_id} is closed")
        if self.balance + amount > self.limit:
            raise el.DomainError(f"account {self.account_id} would hold more than its limit {self.limit}")
        self.record(AccountCredited(account_id=self.account_id, transfer_id=transfer_id, amount=amount))

    def close(self) -> None:
        """Close the account (closing twice changes nothing)."""
        if self.is_open:
            self.record(AccountClosed(account_id=self.account_id))

    @el.applies
    def _opened(self, event: AccountOpened) -> None:
        self.balance, self.limit, self.is_open = event.balance, event.limit, True

    @el.applies
    def _debited(self, event: AccountDebited) -> None:
        self.balance -= event.amount

    @el.applies
    def _credited(self, event: AccountCredited | AccountRefunded) -> None:
        self.balance += event.amount

    @el.applies
    def _closed(self, event: AccountClosed) -> None:
        self.is_open = False
