"""What tracing costs an append: W1 (one event to each new stream) with and without spans.

Run: ``.venv/bin/python benchmarks/tracing_overhead.py [--appends 1000] [--rounds 5]``
(``--backends sqlite,postgres`` by default).

For each backend it times W1 in interleaved rounds, so that drift of the machine affects each
variant alike, and prints the median per append per variant and the ratio to plain:

- ``plain``: no instrumentation;
- ``tracing, API only``: :class:`eventledger.tracing.Tracing` with the API's no-op provider
  (the extra installed, no SDK configured);
- ``tracing, not sampled``: the SDK with the ALWAYS_OFF sampler (spans made, not recorded);
- ``tracing, sampled``: the SDK recording every span, a BatchSpanProcessor exporting to memory.

PostgreSQL: the server on 127.0.0.1:5432 (database ``test``), in a schema made for the run and
dropped after it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NoOpTracerProvider

import eventledger as el
from eventledger.tracing import Tracing

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


class Ticked(el.Event, type_name="benchmark.tracing.Ticked"):
    """The benchmark's event: small, like most domain events."""

    sequence: int
    note: str


def sampled() -> Tracing:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    return Tracing(provider)


VARIANTS: dict[str, Callable[[], Tracing | None]] = {
    "plain": lambda: None,
    "tracing, API only": lambda: Tracing(NoOpTracerProvider()),
    "tracing, not sampled": lambda: Tracing(TracerProvider(sampler=ALWAYS_OFF)),
    "tracing, sampled": sampled,
}


async def time_w1(url: str, appends: int, tracing: Tracing | None) -> float:
    """Seconds per append over ``appends`` appends of one event to a new stream each."""
    async with el.open_store(url) as store:
        if tracing is not None:
            tracing.instrument_store(store)
        prefix = uuid.uuid4().hex[:8]
        started = time.perf_counter()
        for sequence in range(appends):
            await store.append(
                f"w1-{prefix}-{sequence}",
                [Ticked(sequence=sequence, note="tracing overhead")],
                expected_version=el.NO_STREAM,
            )
        return (time.perf_counter() - started) / appends


async def run(backends: list[str], appends: int, rounds: int) -> None:
    for backend in backends:
        with tempfile.TemporaryDirectory() as directory:
            schema = f"bench_tracing_{uuid.uuid4().hex[:8]}"
            if backend == "postgres":
                with psycopg.connect(POSTGRES, autocommit=True) as connection:
                    connection.execute(f"CREATE SCHEMA {schema}")
            try:
                timings: dict[str, list[float]] = {name: [] for name in VARIANTS}
                for round_number in range(rounds + 1):  # round 0 warms up (imports, statements)
                    for name, make in VARIANTS.items():
                        url = (
                            f"sqlite:///{Path(directory) / f'{round_number}-{len(timings[name])}'}.db"
                            if backend == "sqlite"
                            else f"{POSTGRES}?schema={schema}"
                        )
                        seconds = await time_w1(url, appends if round_number else appends // 10, make())
                        if round_number:
                            timings[name].append(seconds)
            finally:
                if backend == "postgres":
                    with psycopg.connect(POSTGRES, autocommit=True) as connection:
                        connection.execute(f"DROP SCHEMA {schema} CASCADE")
        plain = statistics.median(timings["plain"])
        print(f"{backend}: W1, {appends} appends x {rounds} rounds, median per append")
        for name, values in timings.items():
            median = statistics.median(values)
            print(f"  {name:<22} {median * 1e6:8.1f} us   x{median / plain:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgres")
    options = parser.parse_args()
    asyncio.run(run(options.backends.split(","), options.appends, options.rounds))


if __name__ == "__main__":
    main()
