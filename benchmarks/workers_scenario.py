"""Worker processes sharing projections over one PostgreSQL store: catch-up, lag under load, fail-over.

Run: ``.venv/bin/python -m benchmarks.workers_scenario [--workers 3] [--events 3000] [--streams 200]
[--projections 4] [--segments 4] [--handler-ms 1.0] [--load-rate 200] [--load-seconds 5] [--kills 3]
[--postgres postgresql://postgres@127.0.0.1:5432/test]``. It prints one JSON object.

The store (a schema of its own) is seeded with ``--events`` deposits over ``--streams`` streams.
Every read model is a balance per stream whose handler waits ``--handler-ms`` per event (as a
call to another service would) and writes one upsert. Each case starts worker processes
(``eventledger``'s runner with ``share=SharePolicy()``, this module with ``--worker``) into a
read-model schema of its own, and reads the stored checkpoints from this process:

- ``catch_up``: seconds from starting the workers until every projection (or segment) has
  applied the whole log, for: one projection on one worker, one projection of ``--segments``
  segments on one worker, the same on ``--workers`` workers, and ``--projections`` projections
  on ``--workers`` workers.
- ``lag``: with ``--workers`` workers live on the segmented projection, an appender adds
  ``--load-rate`` events per second for ``--load-seconds``; the lag (events, and seconds of the
  oldest unapplied event) of the furthest-behind segment, sampled every 0.25 s.
- ``failover``: ``--kills`` rounds of SIGKILL of a worker applying something; seconds until the
  survivors apply all it applied (from the times the workers print), then a new worker joins.
- ``consistent``: each case's read model equals a replay of the log (balances and counts).

Each schema is dropped afterwards. Nothing is asserted: it measures and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

import eventledger as el
from benchmarks.machine import machine_facts
from eventledger.projections import (
    LeasePolicy,
    Projection,
    ProjectionListener,
    SharePolicy,
    SQLTransaction,
    StateChanged,
    handles,
    stored_status,
)
from eventledger.projections.segments import segments_of
from eventledger.projections.targets.postgres import PostgresTarget

APPLYING = frozenset({"catching_up", "live", "stalled", "rebuilding", "failed"})


class Deposited(el.Event, type_name="benchmarks.workers.deposited"):
    amount: int


class Balances(Projection[SQLTransaction]):
    """A balance and an event count per stream; the handler waits ``delay`` seconds per event first."""

    tables = ("balances",)

    def __init__(self, target: PostgresTarget, delay: float) -> None:
        super().__init__(target)
        self.delay = delay

    async def setup(self, sql: SQLTransaction) -> None:
        await sql.execute(
            f"CREATE TABLE {sql.table(self.tables[0])} "
            "(stream TEXT PRIMARY KEY, balance BIGINT NOT NULL, events INTEGER NOT NULL)"
        )

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        await sql.execute(
            f"INSERT INTO {sql.table(self.tables[0])} AS b (stream, balance, events) VALUES (%s, %s, 1) "
            "ON CONFLICT (stream) DO UPDATE SET balance = b.balance + excluded.balance, "
            "events = b.events + 1",
            (recorded.stream_id, event.amount),
        )


def projection_classes(projections: int, segments: int) -> list[type[Balances]]:
    """``projections`` balance projections (each with tables of its own), or one with ``segments``."""
    if segments:
        return [type("Segmented", (Balances,), {"tables": ("balances",)}, name="balances", segments=segments)]
    return [
        type(f"Balances{n}", (Balances,), {"tables": (f"balances_{n}",)}, name=f"balances-{n}")
        for n in range(projections)
    ]


# --------------------------------------------------------------------------- the worker process


class Announce(ProjectionListener):
    def state_changed(self, change: StateChanged) -> None:
        print(f"state {change.projection} {change.current.value} {time.time():.6f}", flush=True)


async def worker(arguments: argparse.Namespace) -> None:
    """One worker process: the case's projections, shared with the other workers, until killed."""
    store = await el.open_store(arguments.store)
    target = PostgresTarget(arguments.target)
    classes = projection_classes(arguments.projections, arguments.segments)
    chosen = [cls(target, arguments.handler_ms / 1000) for cls in classes]
    runner = el.ProjectionRunner(
        store,
        chosen,
        batch_size=arguments.batch,
        lease=LeasePolicy(ttl=2.0, renew_every=0.5, standby_poll=0.1),
        share=SharePolicy(heartbeat=0.25, member_ttl=1.5, orphan_after=0.2),
        listeners=[Announce()],
    )
    try:
        await runner.run()
    finally:
        await target.close()
        await store.close()


# --------------------------------------------------------------------------- the scenario


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    states: dict[str, tuple[str, float]] = field(default_factory=dict)
    taken: list[tuple[str, float]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    @property
    def applying(self) -> set[str]:
        return {name for name, (state, _) in self.states.items() if state in APPLYING}

    async def read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            parts = line.decode().split()
            if len(parts) == 4 and parts[0] == "state":
                previous = self.states.get(parts[1], ("", 0.0))[0]
                self.states[parts[1]] = (parts[2], float(parts[3]))
                if parts[2] in APPLYING and previous not in APPLYING:
                    self.taken.append((parts[1], float(parts[3])))


class Case:
    """Worker processes over one store, into a read-model schema of their own."""

    def __init__(
        self, arguments: argparse.Namespace, store_url: str, projections: int, segments: int
    ) -> None:
        self.arguments = arguments
        self.store_url = store_url
        self.projections = projections
        self.segments = segments
        self.schema = f"bench_workers_rm_{uuid.uuid4().hex[:10]}"
        self.target_url = f"{arguments.postgres}?schema={self.schema}"
        self.workers: list[Worker] = []
        self.classes = projection_classes(projections, segments)
        self.units = [
            cls.name if segment is None else segment.unit(cls.name)
            for cls in self.classes
            for segment in segments_of(cls.segments)
        ]

    async def start(self, count: int) -> None:
        for _ in range(count):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "benchmarks.workers_scenario", "--worker",
                "--store", self.store_url, "--target", self.target_url,
                "--projections", str(self.projections), "--segments", str(self.segments),
                "--handler-ms", str(self.arguments.handler_ms), "--batch", str(self.arguments.batch),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            started = Worker(process)
            started.reader = asyncio.create_task(started.read())
            self.workers.append(started)

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.process.returncode is None]

    async def lags(self, store: el.EventStore) -> list[tuple[int | None, float | None]]:
        target = PostgresTarget(self.target_url)
        try:
            return [
                (status.lag_events if status.checkpoint is not None else None, status.lag_seconds)
                for cls in self.classes
                for segment in segments_of(cls.segments)
                for status in [await stored_status(store, cls(target, 0.0), segment=segment)]
            ]
        finally:
            await target.close()

    async def wait_caught_up(self, store: el.EventStore, bound: float) -> None:
        deadline = time.monotonic() + bound
        while True:
            with contextlib.suppress(psycopg.Error, el.EventLedgerError):
                if all(events == 0 for events, _ in await self.lags(store)):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"not caught up within {bound} s")
            await asyncio.sleep(0.1)

    async def wait_fair(self, bound: float) -> None:
        deadline = time.monotonic() + bound
        while True:
            live = self.live()
            held = [name for w in live for name in w.applying]
            base = len(self.units) // max(len(live), 1)
            if sorted(held) == sorted(self.units) and all(base <= len(w.applying) <= base + 1 for w in live):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"no fair shares within {bound} s: {[sorted(w.applying) for w in live]}")
            await asyncio.sleep(0.05)

    async def consistent(self, store: el.EventStore) -> bool:
        expected: dict[str, tuple[int, int]] = {}
        async for recorded in store.read_all():
            if isinstance(recorded.event, Deposited):
                balance, count = expected.get(recorded.stream_id, (0, 0))
                expected[recorded.stream_id] = (balance + recorded.event.amount, count + 1)
        target = PostgresTarget(self.target_url)
        try:
            for cls in self.classes:
                async with target.read() as sql:
                    table = sql.table(cls.tables[0])
                    rows = await sql.fetch_all(f"SELECT stream, balance, events FROM {table}")
                if {row[0]: (int(row[1]), int(row[2])) for row in rows} != expected:
                    return False
            return True
        finally:
            await target.close()

    async def end(self) -> None:
        for w in self.workers:
            if w.process.returncode is None:
                w.process.send_signal(signal.SIGKILL)
                await w.process.wait()
            if w.reader is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(w.reader, 5)
        await drop_schema(self.arguments.postgres, self.schema)


async def drop_schema(url: str, schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


async def seed(store: el.EventStore, events: int, streams: int) -> None:
    amount = 0
    per_append = 10
    for start in range(0, events, per_append):
        size = min(per_append, events - start)
        batch = []
        for _ in range(size):
            amount += 1
            batch.append(Deposited(amount=amount))
        await store.append(f"account-{(start // per_append) % streams}", batch, expected_version=el.ANY)


async def catch_up(
    arguments: argparse.Namespace,
    store: el.EventStore,
    url: str,
    workers: int,
    projections: int,
    segments: int,
) -> dict[str, Any]:
    case = Case(arguments, url, projections, segments)
    try:
        started = time.perf_counter()
        await case.start(workers)
        await case.wait_caught_up(store, arguments.bound)
        seconds = time.perf_counter() - started
        return {
            "workers": workers,
            "projections": len(case.classes),
            "segments": segments or 1,
            "seconds": round(seconds, 3),
            "consistent": await case.consistent(store),
        }
    finally:
        await case.end()


async def load_and_kills(arguments: argparse.Namespace, store: el.EventStore, url: str) -> dict[str, Any]:
    case = Case(arguments, url, 0, arguments.segments)
    try:
        await case.start(arguments.workers)
        await case.wait_caught_up(store, arguments.bound)
        await case.wait_fair(arguments.bound)
        samples: list[tuple[int, float]] = []
        appender = asyncio.create_task(append_at_rate(store, arguments.load_rate, arguments.load_seconds))
        while not appender.done():
            await asyncio.sleep(0.25)
            with contextlib.suppress(psycopg.Error, el.EventLedgerError):
                lags = await case.lags(store)
                samples.append((max(e or 0 for e, _ in lags), max(s or 0.0 for _, s in lags)))
        appended = await appender
        failovers = []
        for _ in range(arguments.kills):
            await case.wait_fair(arguments.bound)
            victim = next(w for w in case.live() if w.applying)
            orphans = set(victim.applying)
            killed_at = time.time()
            victim.process.send_signal(signal.SIGKILL)
            await victim.process.wait()
            survivors = case.live()
            deadline = time.monotonic() + arguments.bound
            while not orphans <= {name for w in survivors for name in w.applying}:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{sorted(orphans)} not taken over within {arguments.bound} s")
                await asyncio.sleep(0.01)
            taken = [t for w in survivors for name, t in w.taken if name in orphans and t >= killed_at]
            failovers.append(round(max(taken) - killed_at, 3))
            await case.start(1)
        await case.wait_caught_up(store, arguments.bound)
        events = [e for e, _ in samples]
        seconds = [s for _, s in samples]
        lag = {
            "appended": appended,
            "rate": arguments.load_rate,
            "samples": len(samples),
            "events_median": statistics.median(events) if events else None,
            "events_max": max(events, default=None),
            "seconds_median": round(statistics.median(seconds), 3) if seconds else None,
            "seconds_max": round(max(seconds), 3) if seconds else None,
        }
        return {
            "lag": lag,
            "failover_seconds": failovers,
            "consistent_after_kills": await case.consistent(store),
        }
    finally:
        await case.end()


async def append_at_rate(store: el.EventStore, rate: float, seconds: float) -> int:
    """Append single events at ``rate`` per second for ``seconds``; how many were appended."""
    started = time.monotonic()
    count = 0
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate) + 1
        while count < due:
            count += 1
            event = Deposited(amount=count)
            await store.append(f"account-live-{count % 50}", [event], expected_version=el.ANY)
        await asyncio.sleep(0.005)
    return count


async def scenario(arguments: argparse.Namespace) -> dict[str, Any]:
    store_schema = f"bench_workers_{uuid.uuid4().hex[:10]}"
    url = f"{arguments.postgres}?schema={store_schema}"
    load_before = os.getloadavg()
    store = await el.open_store(url)
    try:
        await seed(store, arguments.events, arguments.streams)
        cases = [
            await catch_up(arguments, store, url, 1, 1, 0),
            await catch_up(arguments, store, url, 1, 0, arguments.segments),
            await catch_up(arguments, store, url, arguments.workers, 0, arguments.segments),
            await catch_up(arguments, store, url, arguments.workers, arguments.projections, 0),
        ]
        live = await load_and_kills(arguments, store, url)
        async with await psycopg.AsyncConnection.connect(arguments.postgres) as connection:
            row = await (await connection.execute(b"SHOW server_version")).fetchone()
        version = None if row is None else str(row[0])
    finally:
        await store.close()
        await drop_schema(arguments.postgres, store_schema)
    single, segmented_one, segmented_many = cases[0]["seconds"], cases[1]["seconds"], cases[2]["seconds"]
    return {
        "scenario": "workers",
        "settings": {k: v for k, v in vars(arguments).items() if k not in ("worker", "store", "target")},
        "catch_up": cases,
        "speedup_segmented_workers_vs_one_projection_one_worker": round(single / segmented_many, 2),
        "speedup_segmented_workers_vs_segmented_one_worker": round(segmented_one / segmented_many, 2),
        **live,
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        "machine": machine_facts(version),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--projections", type=int, default=4)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--handler-ms", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--load-rate", type=float, default=200.0)
    parser.add_argument("--load-seconds", type=float, default=5.0)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--bound", type=float, default=300.0, help="seconds any one wait may take")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        asyncio.run(worker(arguments))
        return
    print(json.dumps(asyncio.run(scenario(arguments)), indent=2))


if __name__ == "__main__":
    main()
