"""Events held back on PostgreSQL: a raw transaction that inserted an event and stays open.

Readers of the global log cannot pass an open transaction that may still add events before
the later ones, so everything appended after it is committed yet held back until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import psycopg
from projection_rig import POSTGRES_URL, Deposited, Rig

import eventledger as el


@dataclass
class HeldTransaction:
    """The open transaction (its backend pid) and a way to end it early."""

    pid: int
    connection: psycopg.AsyncConnection[tuple[object, ...]]
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def end(self) -> None:
        """Roll it back: the events behind it become visible."""
        if not self.ended.is_set():
            self.ended.set()
            await self.connection.rollback()


@contextlib.asynccontextmanager
async def held_transaction(rig: Rig) -> AsyncIterator[HeldTransaction]:
    """An open transaction that has inserted an event into the rig's store (rolled back at the end)."""
    connection = await psycopg.AsyncConnection.connect(POSTGRES_URL)
    held = HeldTransaction(connection.info.backend_pid, connection)
    try:
        await connection.execute(
            f'INSERT INTO "{rig.schema}".events (stream_id, version, event_id, type, data) '
            "VALUES ('holder', 1, gen_random_uuid(), %s, %s::jsonb)".encode(),
            ("test.projections.remarked", '{"text": "held"}'),
        )
        yield held
    finally:
        await held.end()
        await connection.close()


async def append_deposits(store: el.EventStore, count: int) -> el.AppendResult:
    """``count`` deposits in one append, without waiting for readers to see them."""
    deposits = [Deposited(account="acct-held", amount=amount) for amount in range(1, count + 1)]
    return await store.append("acct-held", list(deposits), expected_version=el.ANY)
