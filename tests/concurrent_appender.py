"""Work done in separate OS processes by the SQLite concurrency tests (importable when spawned)."""

from __future__ import annotations

import asyncio
import sys

import eventledger as el
from events import noted


async def _contend(url: str, stream_id: str, name: str, count: int) -> list[tuple[int, str]]:
    acknowledged: list[tuple[int, str]] = []
    async with el.open_store(url) as store:
        while len(acknowledged) < count:
            version = await store.stream_version(stream_id)
            note = f"{name}-{len(acknowledged)}"
            try:
                result = await store.append(stream_id, [noted(note)], expected_version=version)
            except el.ConcurrencyError:
                continue
            acknowledged.append((result.version, note))
    return acknowledged


def contend(url: str, stream_id: str, name: str, count: int) -> list[tuple[int, str]]:
    """Append ``count`` events one by one with exact expected versions, retrying conflicts."""
    return asyncio.run(_contend(url, stream_id, name, count))


async def _append_batches(url: str, stream_id: str, name: str, batches: int, size: int) -> list[int]:
    firsts: list[int] = []
    async with el.open_store(url) as store:
        for batch in range(batches):
            events = [noted(f"{name}-{batch}-{index}") for index in range(size)]
            result = await store.append(stream_id, events, expected_version=el.ANY)
            firsts.append(result.version - size + 1)
    return firsts


def append_batches(url: str, stream_id: str, name: str, batches: int, size: int) -> list[int]:
    """Append ``batches`` batches of ``size`` events with ANY; returns each batch's first version."""
    return asyncio.run(_append_batches(url, stream_id, name, batches, size))


if __name__ == "__main__":
    # Used by the crash test: append batches forever, printing each acknowledged batch.
    url, stream_id, size = sys.argv[1], sys.argv[2], int(sys.argv[3])

    async def forever() -> None:
        async with el.open_store(url) as store:
            batch = 0
            while True:
                events = [noted(f"batch-{batch}-{index}") for index in range(size)]
                await store.append(stream_id, events, expected_version=el.ANY)
                print(batch, flush=True)
                batch += 1

    asyncio.run(forever())
