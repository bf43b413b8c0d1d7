"""The ledger as a document read model: one ``Account`` document per account, for crash and rebuild tests.

Like the SQL ledger of :mod:`projection_rig`, it is built to reveal a lost or doubled event:
the balance and the event count are increments, and each document lists the positions it
has applied, so a duplicate shows as a repeated position.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pydantic
from projection_rig import Deposited, Withdrawn

import eventledger as el
from eventledger.projections import SQLTransaction, Target, handles
from eventledger.projections.documents import DocumentProjection, DocumentSession


class Account(pydantic.BaseModel):
    """One account of the document ledger."""

    id: str
    balance: int = 0
    events: int = 0
    positions: list[int] = []
    runners: dict[str, int] = {}


class DocumentLedger(DocumentProjection, name="document-ledger", documents={"accounts": Account}):
    """Deposits and withdrawals into one Account document per account."""

    def __init__(self, target: Target[SQLTransaction], *, runner_id: str = "", delay: float = 0.0) -> None:
        super().__init__(target)
        self.runner_id = runner_id
        self.delay = delay

    async def _move(
        self, account_id: str, amount: int, recorded: el.RecordedEvent, docs: DocumentSession
    ) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)  # widens the window a kill can land in
        accounts = docs[Account]
        account = await accounts.get(account_id) or Account(id=account_id)
        runners = dict(account.runners)
        runners[self.runner_id] = runners.get(self.runner_id, 0) + 1
        await accounts.put(
            account_id,
            account.model_copy(
                update={
                    "balance": account.balance + amount,
                    "events": account.events + 1,
                    "positions": [*account.positions, recorded.position],
                    "runners": runners,
                }
            ),
        )

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        await self._move(event.account, event.amount, recorded, docs)

    @handles
    async def withdrawn(self, event: Withdrawn, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        await self._move(event.account, -event.amount, recorded, docs)


AccountFacts = dict[str, tuple[int, int, list[int]]]
"""Balance, event count and applied positions by account id."""


def replayed_accounts(log: list[el.RecordedEvent]) -> AccountFacts:
    """Balance, event count and positions per account that applying ``log`` in order produces."""
    accounts: AccountFacts = {}
    for recorded in log:
        event = recorded.event
        if isinstance(event, Deposited | Withdrawn):
            amount = event.amount if isinstance(event, Deposited) else -event.amount
            balance, count, positions = accounts.get(event.account, (0, 0, []))
            accounts[event.account] = (balance + amount, count + 1, [*positions, recorded.position])
    return accounts


async def stored_accounts(ledger: DocumentLedger) -> tuple[AccountFacts, Counter[str]]:
    """What the serving build holds, read as an application reads it; and events applied per runner."""
    runners: Counter[str] = Counter()
    accounts = {}
    for account in await ledger.reader()[Account].find():
        accounts[account.id] = (account.balance, account.events, account.positions)
        runners.update(account.runners)
    return accounts, runners
