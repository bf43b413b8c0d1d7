"""C1: several writer processes, each on its own connection, appending to streams of their own.

Each writer is a separate process (spawned, so it opens its own connection and has its own
interpreter lock); all of them start appending at the same moment (a barrier) and stop at the
same deadline, and the figure is the total number of events appended per second.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from benchmarks.lineup import open_contender
from benchmarks.places import Place

STREAMS_PER_WRITER = 10


def _writer(
    name: str, place: dict[str, Any], prefix: str, seconds: float, barrier: Any, results: Any
) -> None:
    contender = open_contender(name, Place.from_dict(place))
    try:
        # A short warm-up outside the measured window (connections, prepared statements).
        contender.append_until(time.time() + 0.2, f"{prefix}-warm", STREAMS_PER_WRITER)
        barrier.wait(timeout=120)
        count = contender.append_until(time.time() + seconds, prefix, STREAMS_PER_WRITER)
        results.put(count)
    finally:
        contender.close()


def concurrent_appends(name: str, place: Place, writers: int, seconds: float) -> float:
    """Events per second that ``writers`` processes of contender ``name`` append together."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(writers + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=_writer, args=(name, place.to_dict(), f"writer{index}", seconds, barrier, results)
        )
        for index in range(writers)
    ]
    for process in processes:
        process.start()
    try:
        barrier.wait(timeout=120)
        counts = [results.get(timeout=seconds + 120) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return sum(counts) / seconds
