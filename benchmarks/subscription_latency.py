"""Cross-process subscription latency under steady traffic: commit to delivery, p50/p90/p99.

``python -m benchmarks.subscription_latency [--rate 500] [--seconds 10] [--postgres URL]``

One writer process appends single events at a steady rate (one every 1/rate seconds, to streams
of its own) and notes the wall-clock time each append returned, that is, after its commit. A
subscriber in another process follows the global log from the start and notes when each event
reached it. Both run on this machine's clock; the latency of an event is delivery minus commit.
The first second is left out (connections and statements warming up). Prints one JSON object.
The store is a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import time
import uuid
from typing import Any

import psycopg

import eventledger as el
from benchmarks.payload import ItemAdded, fields
from benchmarks.places import DEFAULT_POSTGRES_URL

WARM_UP = 1.0
"""Seconds at the start that are not counted."""


def _writer(url: str, rate: float, seconds: float, start_at: float, out: Any) -> None:
    async def run() -> list[tuple[int, float]]:
        commits = []
        async with el.open_store(url) as store:
            interval = 1.0 / rate
            await asyncio.sleep(max(0.0, start_at - time.time()))
            began = time.perf_counter()
            for number in range(int(rate * seconds)):
                due = began + number * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                result = await store.append(
                    f"latency-{number % 50}", [ItemAdded(**fields(number))], expected_version=el.ANY
                )
                commits.append((result.positions[-1], time.time()))
        return commits

    out.send(asyncio.run(run()))


def _subscriber(url: str, expected: int, out: Any, ready: Any) -> None:
    async def run() -> list[tuple[int, float]]:
        deliveries = []
        async with el.open_store(url) as store:
            subscription = store.subscribe()
            ready.set()
            async for recorded in subscription:
                deliveries.append((recorded.position, time.time()))
                if len(deliveries) >= expected:
                    break
        return deliveries

    out.send(asyncio.run(run()))


def measure(base_url: str, rate: float, seconds: float) -> dict[str, Any]:
    """Run one writer and one subscriber process on a fresh schema; the latency figures."""
    schema = f"bench_latency_{uuid.uuid4().hex[:10]}"
    url = f"{base_url}?schema={schema}"
    context = multiprocessing.get_context("spawn")
    try:
        asyncio.run(_create(url))
        total = int(rate * seconds)
        sub_out, sub_in = context.Pipe(duplex=False)
        write_out, write_in = context.Pipe(duplex=False)
        ready = context.Event()
        subscriber = context.Process(target=_subscriber, args=(url, total, sub_in, ready))
        subscriber.start()
        if not ready.wait(30):
            raise RuntimeError("the subscriber process did not start within 30 s")
        writer = context.Process(target=_writer, args=(url, rate, seconds, time.time() + 0.5, write_in))
        writer.start()
        commits = dict(write_out.recv())
        deliveries = dict(sub_out.recv())
        writer.join(30)
        subscriber.join(30)
    finally:
        with psycopg.connect(base_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())
    first = min(commits.values())
    latencies = sorted(
        (deliveries[position] - committed) * 1000
        for position, committed in commits.items()
        if committed - first >= WARM_UP
    )

    def quantile(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * q))], 2)

    return {
        "workload": "cross-process subscription latency, commit to delivery",
        "rate_events_per_second": rate,
        "seconds": seconds,
        "events_counted": len(latencies),
        "p50_ms": quantile(0.5),
        "p90_ms": quantile(0.9),
        "p99_ms": quantile(0.99),
        "max_ms": round(latencies[-1], 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
        "load_average": os.getloadavg()[0],
    }


async def _create(url: str) -> None:
    async with el.open_store(url):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="appends per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    default_url = os.environ.get("EVENTLEDGER_BENCH_POSTGRES", DEFAULT_POSTGRES_URL)
    parser.add_argument("--postgres", default=default_url, help="PostgreSQL URL (a schema is made in it)")
    arguments = parser.parse_args()
    print(json.dumps(measure(arguments.postgres, arguments.rate, arguments.seconds)))


if __name__ == "__main__":
    main()
