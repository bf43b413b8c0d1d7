"""C1: several writer processes, each on its own connection, appending to streams of their own.

Each writer is a separate process (spawned, so it has its own connection and its own interpreter
lock). The processes start once and serve every run: for each run they open the contender on the
run's place, warm up, meet at a barrier, append for the same fixed time, and report how many
events they appended. The suite gives each contender several short runs in turn, on streams of
each run's own, and the figure is the total per second.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from typing import Any

from benchmarks.lineup import open_contender
from benchmarks.places import Place

STREAMS_PER_WRITER = 10
_TIMEOUT = 120.0


def _serve(index: int, tasks: Any, results: Any, barrier: Any) -> None:
    while (task := tasks.get()) is not None:
        name, place, seconds, run = task
        outcome: int | str
        try:
            contender = open_contender(name, Place.from_dict(place), tables_exist=True)
        except BaseException as error:
            barrier.abort()
            results.put(f"writer {index}: {error!r}")
            continue
        try:
            # Connections, prepared statements and first-call costs, outside the measured time.
            contender.append_until(time.time() + 0.2, f"warm{run}w{index}", STREAMS_PER_WRITER)
            barrier.wait(timeout=_TIMEOUT)
            outcome = contender.append_until(time.time() + seconds, f"{run}w{index}", STREAMS_PER_WRITER)
        except BaseException as error:
            barrier.abort()
            outcome = f"writer {index}: {error!r}"
        finally:
            contender.close()
        # Reported only once the connection is closed, so the place can be dropped at once.
        results.put(outcome)


class WriterPool:
    """``writers`` processes that append concurrently, started once for every C1 run."""

    def __init__(self, writers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.writers = writers
        self._barrier = context.Barrier(writers + 1)
        self._results = context.Queue()
        self._tasks = [context.Queue() for _ in range(writers)]
        self._processes = [
            context.Process(
                target=_serve, args=(index, self._tasks[index], self._results, self._barrier), daemon=True
            )
            for index in range(writers)
        ]
        for process in self._processes:
            process.start()

    def appended(self, name: str, place: Place, seconds: float, run: str) -> int:
        """Events that the writers, all running contender ``name``, append together in
        ``seconds`` (to streams named after ``run``, new in each run on the place)."""
        for tasks in self._tasks:
            tasks.put((name, place.to_dict(), seconds, run))
        with contextlib.suppress(threading.BrokenBarrierError):
            self._barrier.wait(timeout=_TIMEOUT)
        outcomes = [self._results.get(timeout=seconds + _TIMEOUT) for _ in range(self.writers)]
        failures = [outcome for outcome in outcomes if isinstance(outcome, str)]
        if failures or self._barrier.broken:
            self._barrier.reset()
            raise RuntimeError(f"C1 {name}: " + ("; ".join(failures) or "a writer did not start"))
        return sum(outcomes)

    def close(self) -> None:
        """Stop the processes."""
        for tasks in self._tasks:
            tasks.put(None)
        for process in self._processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
