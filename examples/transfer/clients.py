"""What clients of the bank do: open accounts, request transfers, close an account now and then.

Clients only request transfers (a new ``transfer-{id}`` stream each, ``NO_STREAM``); the
accounts are changed by the transfer process, and by a client closing one. Many clients may
run at once, in one process or in several.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import eventledger as el
from examples.transfer.domain import Account, TransferRequested, account_stream, transfer_stream


async def open_accounts(
    store: el.EventStore, count: int, *, balance: int = 1_000, limit: int = 2_000
) -> list[str]:
    """Open ``count`` accounts ``a000``, ``a001``, ... in one atomic append; their ids."""
    ids = [f"a{number:03}" for number in range(count)]
    opened = [Account.open(account_id, balance=balance, limit=limit) for account_id in ids]
    await store.append_many(
        [el.AppendRequest(account.id, account.uncommitted_events, el.NO_STREAM) for account in opened]
    )
    return ids


async def close_account(store: el.EventStore, account_id: str) -> None:
    """Close an account (reloading and deciding again if the transfer process changed it meanwhile)."""
    await el.Repository(store, Account).update(account_stream(account_id), Account.close)


async def request_transfers(
    store: el.EventStore,
    accounts: Sequence[str],
    count: int,
    *,
    client: str,
    seed: int,
    concurrency: int = 4,
    max_amount: int = 100,
    pace: float = 0.0,
) -> list[str]:
    """Request ``count`` transfers between random accounts from ``concurrency`` tasks; their ids.

    Transfer ids are ``{client}-{n}``, so clients with different names never collide. Each task
    waits ``pace`` seconds between its requests (a client that is not in a hurry).
    """
    chance = random.Random(seed)
    plans = []
    for number in range(count):
        source, target = chance.sample(list(accounts), 2)
        plans.append(
            TransferRequested(
                transfer_id=f"{client}-{number}",
                source=source,
                target=target,
                amount=chance.randint(1, max_amount),
            )
        )
    queue: asyncio.Queue[TransferRequested] = asyncio.Queue()
    for plan in plans:
        queue.put_nowait(plan)

    async def send() -> None:
        while not queue.empty():
            request = queue.get_nowait()
            await store.append(transfer_stream(request.transfer_id), [request], expected_version=el.NO_STREAM)
            if pace:
                await asyncio.sleep(pace)

    await asyncio.gather(*(send() for _ in range(concurrency)))
    return [plan.transfer_id for plan in plans]
