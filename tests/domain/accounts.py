"""A small bank account aggregate whose state has every common field shape (for the write-side tests).

Decimal, datetime, an enum, a list, a dict and an optional value: enough to show that a
snapshot's state round-trips to exactly what replaying the events builds.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Self

import eventledger as el


class AccountOpened(el.Event, type_name="test.account.opened"):
    owner: str
    at: datetime


class Deposited(el.Event, type_name="test.account.deposited"):
    amount: Decimal
    memo: str = ""


class Withdrawn(el.Event, type_name="test.account.withdrawn"):
    amount: Decimal


class Tagged(el.Event, type_name="test.account.tagged"):
    tag: str


class AccountFrozen(el.Event, type_name="test.account.frozen"):
    reason: str


class AccountUnfrozen(el.Event, type_name="test.account.unfrozen"):
    pass


class AccountStatus(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    FROZEN = "frozen"


class Account(el.Aggregate, type_name="test.account"):
    owner: str = ""
    opened_at: datetime | None = None
    status: AccountStatus = AccountStatus.NEW
    balance: Decimal = Decimal(0)
    tags: list[str] = []
    deposits_by_memo: dict[str, Decimal] = {}
    freeze_reason: str | None = None

    @classmethod
    def open(cls, account_id: str, owner: str, at: datetime) -> Self:
        account = cls.new(account_id)
        account.record(AccountOpened(owner=owner, at=at))
        return account

    def deposit(self, amount: Decimal, memo: str = "") -> None:
        if self.status is not AccountStatus.OPEN:
            raise el.DomainError(f"Cannot deposit: account is {self.status}")
        if amount <= 0:
            raise el.DomainError("Cannot deposit: the amount must be positive")
        self.record(Deposited(amount=amount, memo=memo))

    def withdraw(self, amount: Decimal) -> None:
        if amount > self.balance:
            raise el.DomainError("Cannot withdraw: insufficient funds")
        self.record(Withdrawn(amount=amount))

    @el.applies
    def _opened(self, event: AccountOpened) -> None:
        self.owner = event.owner
        self.opened_at = event.at
        self.status = AccountStatus.OPEN

    @el.applies
    def _deposited(self, event: Deposited) -> None:
        self.balance += event.amount
        self.deposits_by_memo[event.memo] = self.deposits_by_memo.get(event.memo, Decimal(0)) + event.amount

    @el.applies
    def _withdrawn(self, event: Withdrawn) -> None:
        self.balance -= event.amount

    @el.applies
    def _tagged(self, event: Tagged) -> None:
        self.tags.append(event.tag)

    @el.applies
    def _frozen_or_unfrozen(self, event: AccountFrozen | AccountUnfrozen) -> None:
        if isinstance(event, AccountFrozen):
            self.status = AccountStatus.FROZEN
            self.freeze_reason = event.reason
        else:
            self.status = AccountStatus.OPEN
            self.freeze_reason = None
