"""The workloads, run for every contender interleaved, each figure the median of several repeats.

Every workload has the contenders take turns in short chunks, the order rotating from chunk to
chunk and repeat to repeat, so drift in the machine (a checkpoint, another process) spreads over
all of them instead of landing on one. Write workloads (W1-W4, W2c) give every repeat of every
contender a fresh place. Read workloads (R1, R2) bulk-load one place per contender, every event
with a time of its own, and read it in turns: R1 loads whole streams, R2 reads the global log a
tenth at a time. C1 runs writer processes, each contender for a slice of the time in turn. M1
reads in a subprocess of its own so its peak memory is the reader's alone.

Nothing is done for one contender that is not done for all, and nothing that helps one more than
another: no ``gc.freeze()`` (it hid a collector cost eventledger's reads pay more than the
others), only a ``gc.collect()`` before each workload so that one workload's garbage is not
billed to the next.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.concurrency import WriterPool
from benchmarks.contender import Contender
from benchmarks.lineup import CONTENDERS, FASTEST_RAW, SAME_SQL, open_contender
from benchmarks.places import Backend, Place
from benchmarks.results import Result, Target

_REPOSITORY = Path(__file__).resolve().parent.parent
CHUNKS = 10
"""Write workloads run in this many turns per contender and repeat."""
C1_SLICES = 5
"""C1 runs each contender this many times per repeat, for a fifth of the time each."""
WORKLOADS = ("W1", "W2", "W2c", "W3", "W4", "R1", "R2", "C1", "M1")


@dataclass(frozen=True)
class Sizes:
    """How big each workload is and how often it is repeated."""

    repeats: int = 5
    new_streams: int = 5000
    exact_appends: int = 5000
    exact_streams: int = 100
    batches: int = 100
    batch_size: int = 100
    multi_appends: int = 3000
    multi_accounts: int = 100
    stream_lengths: tuple[int, ...] = (1000, 10_000, 100_000)
    aggregate_updates: int = 2000
    aggregate_streams: int = 100
    aggregate_length: int = 20
    log_streams: int = 500
    log_stream_length: int = 100
    memory_events: int = 1_000_000
    writers: int = 4
    concurrent_seconds: float = 5.0
    concurrent_repeats: int = 3


FULL = Sizes()
QUICK = Sizes(
    repeats=3,
    new_streams=600,
    exact_appends=1000,
    batches=30,
    multi_appends=600,
    stream_lengths=(1000, 10_000),
    aggregate_updates=500,
    log_streams=100,
    memory_events=50_000,
    concurrent_seconds=1.0,
    concurrent_repeats=3,
)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Suite:
    """Runs the selected workloads on one backend and collects their results."""

    def __init__(self, backend: Backend, sizes: Sizes, workloads: tuple[str, ...]) -> None:
        self.backend = backend
        self.sizes = sizes
        self.workloads = workloads

    def run(self) -> list[Result]:
        """Every selected workload that applies to this backend."""
        results: list[Result] = []
        self._warm_up()
        steps: dict[str, Callable[[], list[Result]]] = {
            "W1": self.new_streams,
            "W2": self.exact_appends,
            "W2c": self.aggregate_updates,
            "W3": self.batch_appends,
            "W4": self.multi_stream_appends,
            "R1": self.stream_loads,
            "R2": self.log_read,
            "C1": self.concurrent_writers,
            "M1": self.memory,
        }
        for workload in self.workloads:
            if workload == "C1" and self.backend.name != "postgres":
                continue
            gc.collect()
            started, load_before = time.perf_counter(), os.getloadavg()[0]
            produced = steps[workload]()
            load_after = os.getloadavg()[0]
            for result in produced:
                result.load = (load_before, load_after)
            results.extend(produced)
            _log(
                f"  {self.backend.name} {workload} done in {time.perf_counter() - started:.1f}s "
                f"(load average {load_before:.2f} -> {load_after:.2f})"
            )
        return results

    # ----------------------------------------------------------------- helpers

    @property
    def _contenders(self) -> tuple[str, ...]:
        # On PostgreSQL the fastest raw driver, asyncpg, runs every workload beside psycopg.
        return (*CONTENDERS, FASTEST_RAW) if self.backend.name == "postgres" else CONTENDERS

    @property
    def _single_writers(self) -> tuple[str, ...]:
        # On PostgreSQL the single-event write workloads also run the store's own SQL by hand.
        return (*self._contenders, SAME_SQL) if self.backend.name == "postgres" else CONTENDERS

    @property
    def _single_write_limit(self) -> str:
        # What single-event write targets are judged against: the store's own SQL by hand on
        # PostgreSQL ("the fastest raw driver doing the same SQL"), the raw driver on SQLite.
        return SAME_SQL if self.backend.name == "postgres" else "raw"

    def _order(self, repeat: int, names: tuple[str, ...] | None = None) -> list[str]:
        names = self._contenders if names is None else names
        shift = repeat % len(names)
        return list(names[shift:] + names[:shift])

    @contextmanager
    def _opened(self, name: str, label: str) -> Iterator[tuple[Contender, Place]]:
        place = self.backend.fresh(f"{label}_{name}")
        contender = open_contender(name, place)
        try:
            yield contender, place
        finally:
            contender.close()
            self.backend.discard(place)

    def _warm_up(self) -> None:
        # First calls pay for imports, schema compilation and statement preparation.
        for name in self._single_writers:
            with self._opened(name, "warm") as (contender, _place):
                contender.new_streams(200)
                contender.seed("s", 10, 1)
                contender.append_exact("s", 10, 200, 1)
                if name == SAME_SQL:
                    continue
                contender.append_batches(5, 100)
                contender.seed("acct", 10, 1)
                contender.append_multi("acct", 10, 20)
                contender.load_stream("s-0")
                contender.read_log()
                contender.read_log_part(0, 10)
                contender.seed_aggregates("agg", 2, 3)
                contender.update_aggregates("agg", 2, 4)

    def _writes(
        self,
        result: Result,
        events: int,
        measure: Callable[[Contender, int], float],
        seed: Callable[[Contender], object] | None = None,
        names: tuple[str, ...] | None = None,
    ) -> list[Result]:
        # Each repeat opens all contenders on fresh places and has them take turns chunk by
        # chunk, so a disturbance on this shared machine lands on all of them alike.
        names = self._contenders if names is None else names
        for repeat in range(self.sizes.repeats):
            totals = dict.fromkeys(names, 0.0)
            with self._seeded_places(result.workload.lower(), seed, names) as opened:
                for chunk in range(CHUNKS):
                    for name in self._order(repeat + chunk, names):
                        totals[name] += measure(opened[name], chunk)
            for name in names:
                result.add(name, events / totals[name])
        return [result]

    # ----------------------------------------------------------------- workloads

    def new_streams(self) -> list[Result]:
        """W1."""
        count = self.sizes.new_streams
        per_chunk = count // CHUNKS
        result = Result(
            self.backend.name, "W1", f"{count:,} new streams of 1 event, 1 transaction each",
            "events/s", True, (Target(self._single_write_limit, at_least=0.8),),
        )
        return self._writes(
            result, per_chunk * CHUNKS,
            lambda contender, chunk: contender.new_streams(per_chunk, chunk * per_chunk),
            names=self._single_writers,
        )

    def exact_appends(self) -> list[Result]:
        """W2."""
        count, streams = self.sizes.exact_appends, self.sizes.exact_streams
        result = Result(
            self.backend.name, "W2", f"{count:,} single-event appends, exact expected version, "
            f"{streams} streams", "events/s", True, (Target(self._single_write_limit, at_least=0.8),),
        )
        per_chunk = count // CHUNKS
        if per_chunk % streams:
            raise ValueError(f"W2: {count} appends do not spread evenly over {streams} streams")
        return self._writes(
            result,
            per_chunk * CHUNKS,
            lambda contender, chunk: contender.append_exact(
                "w2", streams, per_chunk, 1 + chunk * per_chunk // streams
            ),
            lambda contender: contender.seed("w2", streams, 1),
            self._single_writers,
        )

    def aggregate_updates(self) -> list[Result]:
        """W2c: load an aggregate, change it, save it: what a command handler does."""
        count, streams = self.sizes.aggregate_updates, self.sizes.aggregate_streams
        length = self.sizes.aggregate_length
        result = Result(
            self.backend.name, "W2c", f"{count:,} aggregate updates (load a stream of {length}+ events, "
            f"append 1 at the loaded version), {streams} streams", "events/s", True,
        )
        per_chunk = count // CHUNKS
        return self._writes(
            result,
            per_chunk * CHUNKS,
            lambda contender, chunk: contender.update_aggregates(
                "w2c", streams, per_chunk, chunk * per_chunk
            ),
            lambda contender: contender.seed_aggregates("w2c", streams, length),
        )

    def batch_appends(self) -> list[Result]:
        """W3."""
        count, size = self.sizes.batches, self.sizes.batch_size
        result = Result(
            self.backend.name, "W3", f"{count} appends of {size} events", "events/s", True,
            (Target("raw", at_least=0.6),),
        )
        per_chunk = count // CHUNKS
        return self._writes(
            result, per_chunk * CHUNKS * size,
            lambda contender, chunk: contender.append_batches(per_chunk, size, chunk * per_chunk),
        )

    def multi_stream_appends(self) -> list[Result]:
        """W4: 3 streams per append, one event each, in one transaction (2 existing, 1 new)."""
        count, accounts = self.sizes.multi_appends, self.sizes.multi_accounts
        result = Result(
            self.backend.name, "W4", f"{count:,} appends to 3 streams of 1 event each, 1 transaction "
            f"each (2 of {accounts} existing streams at exact versions, 1 new)", "events/s", True,
            (Target("raw", at_least=0.8),),
        )
        per_chunk = count // CHUNKS
        return self._writes(
            result,
            per_chunk * CHUNKS * 3,
            lambda contender, chunk: contender.append_multi("w4", accounts, per_chunk, chunk * per_chunk),
            lambda contender: contender.seed("w4", accounts, 1),
        )

    def stream_loads(self) -> list[Result]:
        """R1: one bulk-loaded place per contender; each stream loaded in turns, several turns a
        repeat (fewer for the longest streams), the figure the mean load of a repeat."""
        lengths = self.sizes.stream_lengths
        results = [
            Result(
                self.backend.name, "R1", f"load 1 stream of {length:,} events", "ms", False,
                (Target("raw", at_most=2.0 if length >= 100_000 else 3.0),),
            )
            for length in lengths
        ]
        def seed(contender: Contender) -> None:
            for length in lengths:
                contender.bulk_load(length, length, f"r1x{length}")

        with self._seeded_places("r1", seed) as opened:
            for length, result in zip(lengths, results, strict=True):
                turns = CHUNKS if length < 100_000 else 3
                for repeat in range(self.sizes.repeats):
                    totals = dict.fromkeys(opened, 0.0)
                    for turn in range(turns):
                        for name in self._order(repeat + turn):
                            seconds, loaded = opened[name].load_stream(f"r1x{length}-0")
                            _check_count(name, "R1", loaded, length)
                            totals[name] += seconds
                    for name, seconds in totals.items():
                        result.add(name, seconds / turns * 1000)
        return results

    def log_read(self) -> list[Result]:
        """R2: the whole log once per repeat, a tenth at a time, the contenders taking turns."""
        streams, length = self.sizes.log_streams, self.sizes.log_stream_length
        total = streams * length
        part = -(-total // CHUNKS)
        result = Result(
            self.backend.name, "R2", f"read the global log of {total:,} events, decoded", "events/s",
            True, (Target("raw", at_least=0.5),),
        )
        with self._seeded_places("r2", lambda contender: contender.bulk_load(total, length, "r2")) as opened:
            for repeat in range(self.sizes.repeats):
                seconds, read = dict.fromkeys(opened, 0.0), dict.fromkeys(opened, 0)
                after = dict.fromkeys(opened, 0)
                for chunk in range(CHUNKS):
                    for name in self._order(repeat + chunk):
                        took, count, after[name] = opened[name].read_log_part(after[name], part)
                        seconds[name] += took
                        read[name] += count
                for name in opened:
                    _check_count(name, "R2", read[name], total)
                    result.add(name, total / seconds[name])
        return [result]

    @contextmanager
    def _seeded_places(
        self, label: str, seed: Callable[[Contender], object] | None, names: tuple[str, ...] | None = None
    ) -> Iterator[dict[str, Contender]]:
        names = self._contenders if names is None else names
        opened: dict[str, Contender] = {}
        places: list[Place] = []
        try:
            for name in names:
                place = self.backend.fresh(f"{label}_{name}")
                places.append(place)
                opened[name] = open_contender(name, place)
                if seed is not None:
                    seed(opened[name])
            yield opened
        finally:
            for contender in opened.values():
                contender.close()
            for place in places:
                self.backend.discard(place)

    def concurrent_writers(self) -> list[Result]:
        """C1: the writers of each contender share one fresh place per repeat."""
        writers, seconds = self.sizes.writers, self.sizes.concurrent_seconds
        result = Result(
            self.backend.name, "C1", f"{writers} concurrent writers for {seconds:g}s, single-event "
            "appends to own streams", "events/s", True,
            (Target("eventsourcing", at_least=3.0), Target("raw-same-sql", at_least=0.8)),
        )
        pool = WriterPool(writers)
        try:
            for repeat in range(self.sizes.concurrent_repeats):
                places = {name: self.backend.fresh(f"c1_{name}") for name in self._single_writers}
                try:
                    for name, place in places.items():
                        # Create the schema once, before the writers race to.
                        open_contender(name, place).close()
                    appended = dict.fromkeys(places, 0.0)
                    for turn in range(C1_SLICES):
                        for name in self._order(repeat + turn, self._single_writers):
                            appended[name] += pool.appended(
                                name, places[name], seconds / C1_SLICES, f"t{turn}"
                            )
                    for name, count in appended.items():
                        result.add(name, count / seconds)
                finally:
                    for place in places.values():
                        self.backend.discard(place)
        finally:
            pool.close()
        return [result]

    def memory(self) -> list[Result]:
        """M1: seed a log, then read it end to end in a fresh process; its peak RSS in MB."""
        total = self.sizes.memory_events
        stream_length = 1000
        result = Result(
            self.backend.name, "M1", f"peak memory reading a global log of {total:,} events", "MB",
            False, (Target("absolute", at_most=150.0),),
        )
        for name in self._contenders:
            with self._opened(name, "m1") as (contender, place):
                started = time.perf_counter()
                contender.bulk_load(total, stream_length)
                seeded = time.perf_counter()
                figures = _probe(name, place)
                _log(
                    f"    M1 {name}: seeded in {seeded - started:.0f}s, read {figures['events']:,} in "
                    f"{figures['seconds']:.0f}s, {figures['before_mb']:.0f} MB before, "
                    f"peak {figures['peak_mb']:.0f} MB"
                )
                _check_count(name, "M1", figures["events"], total)
                result.add(name, figures["peak_mb"])
        return [result]


def _probe(name: str, place: Place) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory_probe", name, json.dumps(place.to_dict())],
        capture_output=True, text=True, check=True, timeout=1800, cwd=_REPOSITORY,
    )
    figures: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return figures


def _check_count(contender: str, workload: str, actual: int | float, expected: int) -> None:
    # A contender that read the wrong number of events would make its figure meaningless.
    if actual != expected:
        raise RuntimeError(f"{contender} {workload}: read {actual} events, expected {expected}")


def sizes_dict(sizes: Sizes) -> dict[str, object]:
    """The sizes, for the JSON file."""
    return asdict(sizes)
