"""What recording metrics costs an append: the same appends with and without instrumentation.

Run: ``.venv/bin/python benchmarks/metrics_overhead.py [--appends 5000] [--rounds 7]``

For each backend (memory, SQLite file) it times single-event appends with an exact expected
version, in interleaved rounds (plain, eventledger metrics, plain prometheus_client objects, ...)
so that drift of the machine affects each variant alike, and prints the median per variant and
the ratio to plain. The third variant shows what the append path would pay if it updated
``prometheus_client`` Counter and Histogram objects directly, which is why ``metrics.py`` counts
in plain integers and builds the Prometheus families only when scraped.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram

import eventledger as el
from eventledger.metrics import APPEND_DURATION_BUCKETS, EventLedgerMetrics


class Ticked(el.Event, type_name="benchmark.Ticked"):
    """The benchmark's event: small, like most domain events."""

    sequence: int
    note: str


def instrument_with_prometheus_client(store: el.EventStore) -> None:
    """The naive alternative: update prometheus_client objects on every append."""
    registry = CollectorRegistry()
    appended = Counter("appended", "events", ["store"], registry=registry).labels(store="x")
    conflicts = Counter("conflicts", "conflicts", ["store"], registry=registry).labels(store="x")
    latency = Histogram(
        "append_seconds", "latency", ["store"], registry=registry, buckets=APPEND_DURATION_BUCKETS
    ).labels(store="x")

    def observe(events: int, seconds: float, conflicted: bool) -> None:
        if conflicted:
            conflicts.inc()
        else:
            appended.inc(events)
        latency.observe(seconds)

    store.append_observer = observe


async def time_appends(url: str, appends: int, instrument: Callable[[el.EventStore], object]) -> float:
    """Seconds per append over ``appends`` single-event appends to 100 streams."""
    async with el.open_store(url) as store:
        instrument(store)
        versions = [0] * 100
        started = time.perf_counter()
        for sequence in range(appends):
            stream = sequence % 100
            result = await store.append(
                f"bench-{stream}",
                [Ticked(sequence=sequence, note="metrics overhead")],
                expected_version=versions[stream],
            )
            versions[stream] = result.version
        return (time.perf_counter() - started) / appends


def sqlite_url(directory: Path, name: str) -> str:
    return f"sqlite:///{directory / name}.db"


async def run(appends: int, rounds: int) -> None:
    variants: dict[str, Callable[[el.EventStore], object]] = {
        "plain": lambda store: None,
        "eventledger metrics": lambda store: EventLedgerMetrics().instrument_store(store),
        "prometheus_client per append": instrument_with_prometheus_client,
    }
    with tempfile.TemporaryDirectory(prefix="eventledger-metrics-bench-") as folder:
        directory = Path(folder)
        async def memory(variant: str, round_number: int) -> str:
            return "memory://"

        async def sqlite(variant: str, round_number: int) -> str:
            # A fresh file per measurement: every variant appends to an equally empty table.
            return sqlite_url(directory, f"{variant.replace(' ', '-')}-{round_number}")

        backends: dict[str, Callable[[str, int], Awaitable[str]]] = {"memory": memory, "sqlite": sqlite}
        print(f"{appends} single-event appends per measurement, median of {rounds} interleaved rounds\n")
        print(f"{'backend':<8} {'variant':<30} {'µs/append':>10} {'vs plain':>9}")
        for backend, make_url in backends.items():
            samples: dict[str, list[float]] = {variant: [] for variant in variants}
            await time_appends(await make_url("warm-up", 0), appends // 5, variants["plain"])
            for round_number in range(rounds):
                for variant, instrument in variants.items():
                    url = await make_url(variant, round_number)
                    samples[variant].append(await time_appends(url, appends, instrument))
            plain = statistics.median(samples["plain"])
            for variant, values in samples.items():
                median = statistics.median(values)
                print(f"{backend:<8} {variant:<30} {median * 1e6:>10.2f} {median / plain:>8.3f}x")
            print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--appends", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    asyncio.run(run(arguments.appends, arguments.rounds))


if __name__ == "__main__":
    main()
