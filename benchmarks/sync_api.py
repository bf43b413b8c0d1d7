"""What the synchronous API costs beside the async one: W1, W2 and R1 through both, side by side.

Run: ``.venv/bin/python -m benchmarks.sync_api [--appends 500] [--reads 20] [--rounds 5]
[--postgres postgresql://postgres@127.0.0.1:5432/test] [--backends sqlite,postgres]``

Workloads, as in the suite (:mod:`benchmarks.contender`): **W1** appends one event to each of
``--appends`` new streams (expected version ``NO_STREAM``); **W2** appends ``--appends`` single
events with an exact expected version, round robin over 100 streams seeded beforehand with one
event each (untimed); **R1** reads one stream of 1,000 events into decoded events, ``--reads``
times. Variants:

- ``async``: ``await store.append(...)`` / ``async for ... in store.read_stream(...)`` in
  ``asyncio.run``;
- ``sync``: the same calls on :func:`eventledger.sync.open_store`'s store from a plain thread
  (each call hands over to the store's loop thread and waits for it);
- ``sync driver`` (PostgreSQL W1 and W2 only): psycopg's synchronous connection running the
  store's own append statement on the store's own table, no library: the floor a store built on
  the synchronous driver could reach, to tell whether one would measure better than the loop
  thread (SQLite's store already calls the synchronous sqlite3 driver).

Every measurement gets a fresh SQLite file or PostgreSQL schema (dropped afterwards); the two
variants alternate within each round, so drift of the machine affects both alike. Printed: the
load average before and after, the median time per operation of each variant, and the ratio
sync / async as min / median / max over the rounds (each round's ratio is that round's sync time
over its async time). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

import eventledger as el
from eventledger import sync
from eventledger.store.base import EventStore
from eventledger.store.postgres_appends import APPEND_ONE_EXACT

STREAMS = 100
"""W2's seeded streams."""
R1_LENGTH = 1000
"""Events in R1's stream."""
WORKLOADS = ("W1", "W2", "R1")


class Deposited(el.Event, type_name="bench.sync.deposited"):
    """The event every workload writes."""

    account: str
    amount: int


def _event(number: int) -> list[el.Event]:
    return [Deposited(account=f"a-{number}", amount=number)]


async def _seed(store: EventStore, workload: str) -> None:
    if workload == "W2":
        for stream in range(STREAMS):
            await store.append(f"seeded-{stream}", _event(stream), expected_version=el.NO_STREAM)
    elif workload == "R1":
        events = [Deposited(account="r1", amount=n) for n in range(R1_LENGTH)]
        for start in range(0, R1_LENGTH, 100):
            await store.append("r1", events[start : start + 100], expected_version=start)


async def _async_run(url: str, workload: str, count: int) -> float:
    async with await el.open_store(url) as store:
        await _seed(store, workload)
        started = time.perf_counter()
        if workload == "W1":
            for number in range(count):
                await store.append(f"new-{number}", _event(number), expected_version=el.NO_STREAM)
        elif workload == "W2":
            versions = [1] * STREAMS
            for number in range(count):
                slot = number % STREAMS
                result = await store.append(f"seeded-{slot}", _event(number), expected_version=versions[slot])
                versions[slot] = result.version
        else:
            for _ in range(count):
                read = [recorded async for recorded in store.read_stream("r1")]
                assert len(read) == R1_LENGTH
        return (time.perf_counter() - started) / count


def _sync_run(url: str, workload: str, count: int) -> float:
    with sync.open_store(url) as store:
        store.portal.call(_seed(store.async_store, workload))
        started = time.perf_counter()
        if workload == "W1":
            for number in range(count):
                store.append(f"new-{number}", _event(number), expected_version=el.NO_STREAM)
        elif workload == "W2":
            versions = [1] * STREAMS
            for number in range(count):
                slot = number % STREAMS
                result = store.append(f"seeded-{slot}", _event(number), expected_version=versions[slot])
                versions[slot] = result.version
        else:
            for _ in range(count):
                read = list(store.read_stream("r1"))
                assert len(read) == R1_LENGTH
        return (time.perf_counter() - started) / count


def _sync_driver_run(url: str, postgres: str, workload: str, count: int) -> float:
    """W1/W2 as psycopg's synchronous connection sends the store's append statement."""
    schema = url.rsplit("schema=", 1)[1]
    asyncio.run(_create_and_seed(url, workload))
    statement = APPEND_ONE_EXACT.format(events=f'"{schema}".events').encode()
    with psycopg.connect(postgres, autocommit=True) as connection:
        cursor = connection.cursor()

        def append(stream: str, expected: int, number: int) -> None:
            cursor.execute(statement, {
                "stream": stream, "expected": expected, "event_id": uuid.uuid4(),
                "type": "bench.sync.deposited", "schema_version": 1, "metadata": None,
                "data": json.dumps({"account": f"a-{number}", "amount": number}, separators=(",", ":")),
            }, prepare=True)
            if not cursor.fetchall():
                raise RuntimeError(f"{stream} is not at version {expected}")

        started = time.perf_counter()
        if workload == "W1":
            for number in range(count):
                append(f"new-{number}", 0, number)
        else:
            versions = [1] * STREAMS
            for number in range(count):
                slot = number % STREAMS
                append(f"seeded-{slot}", versions[slot], number)
                versions[slot] += 1
        return (time.perf_counter() - started) / count


async def _create_and_seed(url: str, workload: str) -> None:
    async with await el.open_store(url) as store:
        await _seed(store, workload)


Place = Callable[[], tuple[str, Callable[[], None]]]
"""Makes a fresh place: a store URL and how to remove it afterwards."""


def _places(folder: Path, postgres: str) -> dict[str, Place]:
    def sqlite_place() -> tuple[str, Callable[[], None]]:
        return f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}", lambda: None

    def postgres_place() -> tuple[str, Callable[[], None]]:
        schema = f"bench_sync_{uuid.uuid4().hex[:12]}"

        def drop() -> None:
            with psycopg.connect(postgres, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())

        return f"{postgres}?schema={schema}", drop

    return {"sqlite": sqlite_place, "postgres": postgres_place}


def measure(place: Place, workload: str, variant: str, count: int, postgres: str = "") -> float:
    """Seconds per operation of ``workload`` through ``variant`` in a fresh place."""
    url, drop = place()
    try:
        if variant == "async":
            return asyncio.run(_async_run(url, workload, count))
        if variant == "sync driver":
            return _sync_driver_run(url, postgres, workload, count)
        return _sync_run(url, workload, count)
    finally:
        drop()


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run(appends: int, reads: int, rounds: int, backends: list[str], postgres: str) -> None:
    """Measure and print (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="eventledger-sync-bench-") as folder:
        places = _places(Path(folder), postgres)
        print(f"W1/W2: {appends} single-event appends; R1: {reads} reads of a {R1_LENGTH}-event stream")
        print(f"{rounds} interleaved rounds; load average (1/5/15 min) before: {_load()}\n")
        print(f"{'backend':<9}{'load':<5}{'async µs':>10}{'sync µs':>10}   sync/async min / median / max")
        for backend in backends:
            place = places[backend]
            measure(place, "W1", "sync", appends // 10)  # warm-up: imports, prepared statements
            measure(place, "W1", "async", appends // 10)
            for workload in WORKLOADS:
                count = reads if workload == "R1" else appends
                variants = ["async", "sync"]
                if backend == "postgres" and workload != "R1":
                    variants.append("sync driver")
                timings: dict[str, list[float]] = {variant: [] for variant in variants}
                for _ in range(rounds):
                    for variant in variants:
                        timings[variant].append(measure(place, workload, variant, count, postgres))
                ratios = sorted(s / a for s, a in zip(timings["sync"], timings["async"], strict=True))
                floor = ""
                if "sync driver" in timings:
                    over = sorted(s / d for s, d in zip(timings["sync"], timings["sync driver"], strict=True))
                    floor = (
                        f"   sync driver {statistics.median(timings['sync driver']) * 1e6:.1f} µs, sync/it "
                        f"{over[0]:.2f}x / {statistics.median(over):.2f}x / {over[-1]:.2f}x"
                    )
                print(
                    f"{backend:<9}{workload:<5}{statistics.median(timings['async']) * 1e6:>10.1f}"
                    f"{statistics.median(timings['sync']) * 1e6:>10.1f}   "
                    f"{ratios[0]:.2f}x / {statistics.median(ratios):.2f}x / {ratios[-1]:.2f}x{floor}"
                )
        print(f"\nload average after: {_load()}")


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--appends", type=int, default=500)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    arguments = parser.parse_args()
    backends = arguments.backends.split(",")
    run(arguments.appends, arguments.reads, arguments.rounds, backends, arguments.postgres)


if __name__ == "__main__":
    main()
