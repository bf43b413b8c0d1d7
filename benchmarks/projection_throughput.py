"""Projection speed: catch-up throughput into a SQL read model, and append-to-visible latency.

Run: ``.venv/bin/python -m benchmarks.projection_throughput [--events 20000] [--rounds 3]
[--samples 300] [--postgres postgresql://postgres@127.0.0.1:5432/test] [--json out.json]``
(``--only apply`` for the comparison with the raw driver alone).

**Against the raw driver** (``apply``): the same decoded events applied in batches through the
default target's batch path and through the raw driver running the same statements (see
:mod:`benchmarks.projection_raw`), interleaved, min/median/max over ``--rounds``, the ratio
of the medians and the median of each repeat's ratio, at the largest ``--batch-sizes``. The
machine's load average is printed at the start and end (and written to ``--json``).

**Catch-up**: the log holds ``--events`` deposits over 1,000 accounts (appended beforehand, in
batches). A fresh read model is built from position 0 with ``run_until_caught_up()``: read the
log in batches, decode every event, and per event one ``INSERT ... ON CONFLICT DO UPDATE`` of
the account's balance, all in one transaction per batch with the checkpoint compare-and-set.
The figure is events per second (median of ``--rounds``), for several batch sizes; on
PostgreSQL for the default target (pipelined) and for ``pipeline=False``.

**Append-to-visible**: the runner follows the log live; one event is appended, and the clock
stops when the batch holding it has committed in the read model (a listener hears the commit).
Sequential samples with a short pause between, so each one starts with the runner idle.
"Same store" appends through the store object the runner reads (in-process wake-up);
"other connection" appends through a second store object, as another process would (SQLite:
noticed by polling every ``poll_interval`` = 50 ms; PostgreSQL: LISTEN/NOTIFY).

Each SQLite case uses its own temporary files; each PostgreSQL case its own schema, dropped
afterwards. Nothing here is asserted: it measures and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg

import eventledger as el
from benchmarks.projection_raw import batches, interleaved, postgres_contenders, sqlite_contenders
from eventledger.projections import (
    BatchApplied,
    Projection,
    ProjectionListener,
    SQLiteTarget,
    SQLTransaction,
    Target,
    handles,
)
from eventledger.projections.targets.postgres import PostgresTarget

ACCOUNTS = 1000


class Deposited(el.Event, type_name="benchmark.projection.Deposited"):
    """The benchmark's event."""

    account: str
    amount: int


class Balances(Projection[SQLTransaction], name="benchmark-balances"):
    """One upsert per event: a typical small read model."""

    tables = ("balances",)

    async def setup(self, sql: SQLTransaction) -> None:
        await sql.execute(
            f"CREATE TABLE {sql.table('balances')} "
            "(account TEXT PRIMARY KEY, balance BIGINT NOT NULL, events BIGINT NOT NULL)"
        )

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        await sql.execute(
            f"INSERT INTO {sql.table('balances')} AS b (account, balance, events) VALUES (%s, %s, 1) "
            "ON CONFLICT (account) DO UPDATE SET balance = b.balance + excluded.balance, "
            "events = b.events + 1",
            (event.account, event.amount),
        )


@dataclass
class Result:
    """One measured figure."""

    measure: str
    database: str
    case: str
    value: float
    unit: str
    detail: str = ""


@dataclass
class Place:
    """Where one case runs: the store's URL and how to make (and clean up) read-model targets."""

    database: str
    store_url: str
    new_target: Callable[[], Target[SQLTransaction]]
    cleanup: Callable[[], Any]


@contextlib.asynccontextmanager
async def sqlite_place(directory: Path) -> AsyncIterator[Place]:
    """SQLite files in ``directory`` (a temporary directory, removed by the caller)."""

    def new_target() -> Target[SQLTransaction]:
        # A file of its own per read model, so every round builds from scratch.
        return SQLiteTarget(directory / f"read-{uuid.uuid4().hex[:8]}.db")

    async def nothing() -> None:
        pass

    yield Place("sqlite", f"sqlite:///{directory / 'events.db'}", new_target, nothing)


@contextlib.asynccontextmanager
async def postgres_place(url: str, *, pipeline: bool = True) -> AsyncIterator[Place]:
    """A schema for the store and one per read model, all dropped afterwards."""
    schema = f"bench_proj_{uuid.uuid4().hex[:10]}"
    created: list[PostgresTarget] = []

    def new_target() -> Target[SQLTransaction]:
        # A schema of its own per read model, so every round builds from scratch.
        target = PostgresTarget(url, schema=f"{schema}_r{len(created)}", pipeline=pipeline)
        created.append(target)
        return target

    async def cleanup() -> None:
        for target in created:
            await target.close()

    name = "postgresql" if pipeline else "postgresql pipeline=False"
    try:
        yield Place(name, f"{url}?schema={schema}", new_target, cleanup)
    finally:
        await cleanup()
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
            for target in created:
                await connection.execute(f'DROP SCHEMA IF EXISTS "{target.schema}" CASCADE'.encode())
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


async def preload(store: el.EventStore, count: int) -> None:
    """``count`` deposits, appended 100 at a time over many streams."""
    for start in range(0, count, 100):
        events = [
            Deposited(account=f"account-{(start + index) % ACCOUNTS}", amount=start + index)
            for index in range(min(100, count - start))
        ]
        await store.append(f"stream-{start // 100 % 50}", events, expected_version=el.ANY)


async def catch_up(place: Place, events: int, batch_sizes: list[int], rounds: int) -> list[Result]:
    results = []
    async with el.open_store(place.store_url) as store:
        await preload(store, events)
        for batch_size in batch_sizes:
            rates = []
            for _ in range(rounds):
                runner = el.ProjectionRunner(store, [Balances(place.new_target())], batch_size=batch_size)
                started = time.perf_counter()
                [status] = await runner.run_until_caught_up()
                elapsed = time.perf_counter() - started
                assert status.lag_events == 0, status
                rates.append(events / elapsed)
            results.append(
                Result(
                    "catch-up",
                    place.database,
                    f"batch {batch_size}",
                    statistics.median(rates),
                    "events/s",
                    f"{events} events, median of {rounds}: " + ", ".join(f"{rate:,.0f}" for rate in rates),
                )
            )
            rate = statistics.median(rates)
            print(f"  catch-up {place.database:<20} batch {batch_size:>5}: {rate:>10,.0f} events/s")
    return results


class Commits(ProjectionListener):
    """Sets ``reached`` when a committed batch's checkpoint reaches ``waiting_for``."""

    def __init__(self) -> None:
        self.waiting_for = 0
        self.reached = asyncio.Event()

    def batch_applied(self, batch: BatchApplied) -> None:
        if batch.checkpoint >= self.waiting_for:
            self.reached.set()


async def latency(place: Place, samples: int, other_connection: bool) -> Result:
    async with el.open_store(place.store_url) as store:
        writer = await el.open_store(place.store_url) if other_connection else store
        commits = Commits()
        runner = el.ProjectionRunner(store, [Balances(place.new_target())], listeners=[commits])
        running = asyncio.create_task(runner.run(handle_signals=False))
        try:
            await preload(writer, 10)
            await runner.wait_until_caught_up()
            timings = []
            for sample in range(samples + 10):
                commits.reached.clear()
                commits.waiting_for = 2**62
                started = time.perf_counter()
                result = await writer.append(
                    f"latency-{sample % 10}",
                    [Deposited(account=f"account-{sample % ACCOUNTS}", amount=sample)],
                    expected_version=el.ANY,
                )
                commits.waiting_for = result.positions[-1]
                if (await runner.status_of("benchmark-balances")).checkpoint < commits.waiting_for:
                    await asyncio.wait_for(commits.reached.wait(), 10)
                if sample >= 10:  # the first few warm connections and statements up
                    timings.append(time.perf_counter() - started)
                await asyncio.sleep(0.005)
        finally:
            runner.stop()
            await running
            if writer is not store:
                await writer.close()
    timings.sort()
    case = "other connection" if other_connection else "same store"
    p50, p90, p99 = (timings[int(len(timings) * q)] * 1000 for q in (0.5, 0.9, 0.99))
    print(
        f"  latency  {place.database:<20} {case:<17}: p50 {p50:6.2f} ms  p90 {p90:6.2f} ms  p99 {p99:6.2f} ms"
    )
    return Result(
        "append-to-visible",
        place.database,
        case,
        p50,
        "ms (p50)",
        f"{samples} samples; p90 {p90:.2f} ms, p99 {p99:.2f} ms, max {timings[-1] * 1000:.2f} ms",
    )


async def against_raw(place: Place, events: int, batch_size: int, rounds: int, raw_dir: Path) -> list[Result]:
    """The default target's batch path against the raw driver, same statements, interleaved."""
    async with el.open_store(place.store_url) as store:
        await preload(store, events)
        log = [recorded async for recorded in store.read_all()]
    work = batches(log, batch_size)
    schemas: list[str] = []
    try:
        if place.database == "sqlite":
            contenders = sqlite_contenders(raw_dir, Balances)
        else:
            contenders = postgres_contenders(place.store_url.split("?")[0], schemas, Balances)
        rates = await interleaved(contenders, work, rounds)
    finally:
        if schemas:
            server = place.store_url.split("?")[0]
            async with await psycopg.AsyncConnection.connect(server, autocommit=True) as db:
                for schema in schemas:
                    await db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())
    raw = statistics.median(rates["raw"])
    results = []
    for name, measured in rates.items():
        median = statistics.median(measured)
        # The same repeat's raw run as the reference: background bursts move both.
        paired = statistics.median(
            rate / reference for rate, reference in zip(measured, rates["raw"], strict=True)
        )
        detail = (f"{events} events, batch {batch_size}, {rounds} interleaved repeats: "
                  f"min {min(measured):,.0f}, median {median:,.0f}, max {max(measured):,.0f}; "
                  f"{median / raw:.2f}x raw (medians), {paired:.2f}x raw (median of per-repeat ratios)")
        results.append(Result("apply", place.database.split()[0], name, median, "events/s", detail))
        print(f"  apply    {place.database.split()[0]:<10} {name:<27}: min {min(measured):>8,.0f}  "
              f"median {median:>8,.0f}  max {max(measured):>8,.0f} events/s  {median / raw:.2f}x raw, "
              f"per-repeat {paired:.2f}x")
    return results


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


async def run(arguments: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    batch_sizes = [int(size) for size in arguments.batch_sizes.split(",")]
    only = arguments.only
    with tempfile.TemporaryDirectory(prefix="eventledger-projection-bench-") as directory:
        if only in ("all", "apply"):
            async with sqlite_place(Path(directory)) as place:
                results += await against_raw(place, arguments.events, batch_sizes[-1], arguments.rounds,
                                             Path(directory))
    if arguments.postgres and only in ("all", "apply"):
        with tempfile.TemporaryDirectory(prefix="eventledger-projection-bench-") as directory:
            async with postgres_place(arguments.postgres) as place:
                results += await against_raw(place, arguments.events, batch_sizes[-1], arguments.rounds,
                                             Path(directory))
    if only in ("all", "catch-up"):
        with tempfile.TemporaryDirectory(prefix="eventledger-projection-bench-") as directory:
            async with sqlite_place(Path(directory)) as place:
                results += await catch_up(place, arguments.events, batch_sizes, arguments.rounds)
        if arguments.postgres:
            for pipeline in (True, False):
                async with postgres_place(arguments.postgres, pipeline=pipeline) as place:
                    results += await catch_up(place, arguments.events, batch_sizes, arguments.rounds)
    if only in ("all", "latency"):
        for other in (False, True):
            with tempfile.TemporaryDirectory(prefix="eventledger-projection-bench-") as latency_directory:
                async with sqlite_place(Path(latency_directory)) as place:
                    results.append(await latency(place, arguments.samples, other))
        if arguments.postgres:
            for other in (False, True):
                async with postgres_place(arguments.postgres) as place:
                    results.append(await latency(place, arguments.samples, other))
    return results


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000, help="events in the log for catch-up")
    parser.add_argument("--rounds", type=int, default=3, help="catch-up runs per case (median reported)")
    parser.add_argument("--batch-sizes", default="100,500,1000", help="comma-separated batch sizes")
    parser.add_argument("--samples", type=int, default=300, help="latency samples per case")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test", help="'' to skip")
    parser.add_argument("--only", choices=("all", "apply", "catch-up", "latency"), default="all",
                        help="one part (apply: the target against the raw driver, at the largest batch size)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    arguments = parser.parse_args()
    print(f"machine: {machine()}")
    started_load = load_average()
    print(f"load average at start: {started_load}")
    results = asyncio.run(run(arguments))
    ended_load = load_average()
    print(f"load average at end: {ended_load}")
    print()
    print(f"{'measure':<18} {'database':<20} {'case':<17} {'value':>10}  unit")
    for result in results:
        line = f"{result.measure:<18} {result.database:<20} {result.case:<17} {result.value:>10,.2f}"
        print(f"{line}  {result.unit}")
        print(f"{'':<18} {result.detail}")
    if arguments.json:
        arguments.json.write_text(
            json.dumps({"machine": machine(), "load_average": {"start": started_load, "end": ended_load},
                        "results": [asdict(r) for r in results]}, indent=2)
        )


if __name__ == "__main__":
    main()
