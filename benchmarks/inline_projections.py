"""What an inline projection costs an append: W1 and W2 with and without one, side by side.

Run: ``.venv/bin/python -m benchmarks.inline_projections [--appends 2000] [--rounds 5]
[--postgres postgresql://postgres@127.0.0.1:5432/test] [--backends sqlite,postgres]``

Workloads, as in the suite (:mod:`benchmarks.contender`): **W1** appends one event to each of
``--appends`` new streams (expected version ``NO_STREAM``); **W2** appends ``--appends`` single
events with an exact expected version, round robin over 100 streams seeded beforehand with one
event each (untimed). Variants:

- ``plain``: the store's own append path (one autocommitted statement);
- ``inline``: the same appends with one inline projection (``run_inline``): per append, one
  transaction holding the events, the projection's read of the log after its checkpoint, one
  upsert per event into a balances table, and the checkpoint's compare-and-set (on PostgreSQL
  also the events table's SHARE ROW EXCLUSIVE lock, see ``eventledger.store.postgres_inline``).

Every measurement gets a fresh SQLite file or PostgreSQL schema (dropped afterwards); the variants
alternate within each round, so drift of the machine affects both alike. Printed: the median time
per append of each variant, and the ratio inline / plain as min / median / max over the rounds
(each round's ratio is that round's inline time over its plain time). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import psycopg

import eventledger as el
from benchmarks.projection_throughput import Balances, Deposited
from eventledger.projections import SQLiteTarget, SQLTransaction, Target
from eventledger.projections.inline import run_inline
from eventledger.projections.targets.postgres import PostgresTarget

STREAMS = 100
"""W2's seeded streams."""


PlaceMaker = Callable[[], AbstractAsyncContextManager[tuple[str, Target[SQLTransaction]]]]
"""Makes a fresh place: the store's URL and a target on the store's own database."""


@asynccontextmanager
async def sqlite_place(directory: Path) -> AsyncIterator[tuple[str, Target[SQLTransaction]]]:
    """A fresh SQLite file: the store's URL and a target on the same file."""
    path = directory / f"{uuid.uuid4().hex}.db"
    yield f"sqlite:///{path}", SQLiteTarget(path)


def postgres_place(url: str) -> PlaceMaker:
    """Fresh PostgreSQL schemas on the server ``url`` names."""

    @asynccontextmanager
    async def place() -> AsyncIterator[tuple[str, Target[SQLTransaction]]]:
        schema = f"bench_inline_{uuid.uuid4().hex[:12]}"
        store_url = f"{url}?schema={schema}"
        target = PostgresTarget(store_url)
        try:
            yield store_url, target
        finally:
            await target.close()
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
                await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())

    return place


async def measure(place: PlaceMaker, workload: str, inline: bool, appends: int) -> float:
    """Seconds per append of ``workload`` in a fresh place, with or without the inline projection."""
    async with place() as (url, target):
        async with await el.open_store(url) as store:
            if workload == "W2":  # seeded before the projection exists, so its build applies them
                for stream in range(STREAMS):
                    seed = [Deposited(account="seed", amount=1)]
                    await store.append(f"seeded-{stream}", seed, expected_version=0)
            handle = await run_inline(store, Balances(target)) if inline else None
            started = time.perf_counter()
            if workload == "W1":
                for number in range(appends):
                    event = Deposited(account=f"a-{number}", amount=1)
                    await store.append(f"new-{number}", [event], expected_version=el.NO_STREAM)
            else:
                versions = [1] * STREAMS
                for number in range(appends):
                    slot = number % STREAMS
                    event = Deposited(account=f"a-{slot}", amount=1)
                    result = await store.append(f"seeded-{slot}", [event], expected_version=versions[slot])
                    versions[slot] = result.version
            elapsed = time.perf_counter() - started
            if handle is not None:
                await handle.remove()
        return elapsed / appends


async def run(appends: int, rounds: int, backends: list[str], postgres: str) -> None:
    with tempfile.TemporaryDirectory(prefix="eventledger-inline-bench-") as folder:
        places: dict[str, PlaceMaker] = {
            "sqlite": lambda: sqlite_place(Path(folder)),
            "postgres": postgres_place(postgres),
        }
        print(f"{appends} single-event appends per measurement, {rounds} interleaved rounds\n")
        print(f"{'backend':<9}{'load':<5}{'plain µs':>10}{'inline µs':>11}   inline/plain min / median / max")
        for backend in backends:
            place = places[backend]
            await measure(place, "W1", True, appends // 10)  # warm-up: imports, prepared statements
            for workload in ("W1", "W2"):
                plain: list[float] = []
                inline: list[float] = []
                for _ in range(rounds):
                    plain.append(await measure(place, workload, False, appends))
                    inline.append(await measure(place, workload, True, appends))
                ratios = sorted(with_it / without for with_it, without in zip(inline, plain, strict=True))
                print(
                    f"{backend:<9}{workload:<5}{statistics.median(plain) * 1e6:>10.1f}"
                    f"{statistics.median(inline) * 1e6:>11.1f}   "
                    f"{ratios[0]:.2f}x / {statistics.median(ratios):.2f}x / {ratios[-1]:.2f}x"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    arguments = parser.parse_args()
    asyncio.run(run(arguments.appends, arguments.rounds, arguments.backends.split(","), arguments.postgres))


if __name__ == "__main__":
    main()
