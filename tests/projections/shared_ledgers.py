"""Several ledger projections, each with tables of its own, for the work-sharing tests.

Each is the ledger of :mod:`projection_rig` (increments and an ``applied`` row per event, so
a lost or doubled event shows) under its own name and table names, so that several of them
live side by side in one read-model schema.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from projection_rig import Deposited, LedgerView, Withdrawn

import eventledger as el
from eventledger.projections import Projection, SQLTransaction, Target, handles


class NumberedLedger(Projection[SQLTransaction]):
    """The ledger into tables ``balances_<n>`` and ``applied_<n>``; subclasses fix ``n``."""

    number = 0

    def __init__(self, target: Target[SQLTransaction], *, runner_id: str = "", delay: float = 0.0) -> None:
        super().__init__(target)
        self.runner_id = runner_id
        self.delay = delay

    async def setup(self, sql: SQLTransaction) -> None:
        await sql.execute(
            f"CREATE TABLE {sql.table(self.tables[0])} "
            "(account TEXT PRIMARY KEY, balance BIGINT NOT NULL, events INTEGER NOT NULL)"
        )
        await sql.execute(
            f"CREATE TABLE {sql.table(self.tables[1])} (position BIGINT NOT NULL, runner TEXT NOT NULL)"
        )

    async def _move(self, account: str, amount: int, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)  # a handler that waits on I/O; widens the kill window
        await sql.execute(
            f"INSERT INTO {sql.table(self.tables[0])} AS b (account, balance, events) VALUES (%s, %s, 1) "
            "ON CONFLICT (account) DO UPDATE SET balance = b.balance + excluded.balance, "
            "events = b.events + 1",
            (account, amount),
        )
        await sql.execute(
            f"INSERT INTO {sql.table(self.tables[1])} (position, runner) VALUES (%s, %s)",
            (recorded.position, self.runner_id),
        )

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        await self._move(event.account, event.amount, recorded, sql)

    @handles
    async def withdrawn(self, event: Withdrawn, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        await self._move(event.account, -event.amount, recorded, sql)


def _numbered(number: int) -> type[NumberedLedger]:
    return type(
        f"Ledger{number}",
        (NumberedLedger,),
        {"tables": (f"balances_{number}", f"applied_{number}"), "number": number},
        name=f"ledger-{number}",
    )


class SegmentedLedger(NumberedLedger, name="ledger-segmented", segments=4):
    """The ledger applied by four segments, into ``balances_9`` and ``applied_9``."""

    tables = ("balances_9", "applied_9")
    number = 9


LEDGERS: tuple[type[NumberedLedger], ...] = tuple(_numbered(number) for number in range(8))
"""``ledger-0`` ... ``ledger-7``."""


def ledgers(count: int, target: Target[SQLTransaction], **options: Any) -> list[NumberedLedger]:
    """The first ``count`` ledgers, all into ``target``."""
    return [ledger(target, **options) for ledger in LEDGERS[:count]]


async def numbered_view(target: Any, number: int) -> LedgerView:
    """What ledger ``number``'s serving build holds."""
    async with target.read() as sql:
        balances = await sql.fetch_all(
            f"SELECT account, balance, events FROM {sql.table(f'balances_{number}')}"
        )
        applied = await sql.fetch_all(f"SELECT position, runner FROM {sql.table(f'applied_{number}')}")
    return LedgerView(
        {row[0]: (int(row[1]), int(row[2])) for row in balances},
        sorted(int(row[0]) for row in applied),
        Counter(str(row[1]) for row in applied),
    )
