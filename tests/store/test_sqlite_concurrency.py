"""SQLite under real concurrency: many tasks, several OS processes, and a killed writer."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import concurrent_appender
import eventledger as el
from events import noted


async def test_many_tasks_on_one_store_get_one_winner_per_version(tmp_path: Path) -> None:
    async with el.open_store(f"sqlite:///{tmp_path / 'tasks.db'}") as store:
        acknowledged: list[tuple[int, str]] = []

        async def writer(name: str) -> None:
            written = 0
            while written < 15:
                version = await store.stream_version("s")
                await asyncio.sleep(random.random() / 1000)
                try:
                    result = await store.append("s", [noted(f"{name}-{written}")], expected_version=version)
                except el.ConcurrencyError:
                    continue
                acknowledged.append((result.version, f"{name}-{written}"))
                written += 1

        await asyncio.gather(*(writer(f"t{i}") for i in range(10)))
        stored = [(r.version, r.event.note) async for r in store.read_stream("s")]  # type: ignore[attr-defined]
    assert [version for version, _ in stored] == list(range(1, 151))
    assert sorted(acknowledged) == stored


def test_processes_appending_to_one_stream_get_one_winner_per_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'processes.db'}"
    asyncio.run(_create(url))
    with ProcessPoolExecutor(3, mp_context=get_context("spawn")) as pool:
        results = list(
            pool.map(concurrent_appender.contend, [url] * 3, ["s"] * 3, ["p0", "p1", "p2"], [40] * 3)
        )
    acknowledged = sorted(pair for result in results for pair in result)
    stored = asyncio.run(_read(url, "s"))
    assert [version for version, _ in stored] == list(range(1, 121))
    # Every acknowledged append is there, at the version it was acknowledged with; nothing else is.
    assert acknowledged == stored


def test_batches_from_concurrent_processes_are_never_interleaved(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'batches.db'}"
    asyncio.run(_create(url))
    with ProcessPoolExecutor(3, mp_context=get_context("spawn")) as pool:
        results = list(
            pool.map(
                concurrent_appender.append_batches, [url] * 3, ["s"] * 3, ["a", "b", "c"], [20] * 3, [5] * 3
            )
        )
    stored = asyncio.run(_read(url, "s"))
    assert [version for version, _ in stored] == list(range(1, 301))
    for name, firsts in zip(["a", "b", "c"], results, strict=True):
        for batch, first in enumerate(firsts):
            notes = [note for _, note in stored[first - 1 : first + 4]]
            assert notes == [f"{name}-{batch}-{index}" for index in range(5)]


def test_a_writer_killed_mid_append_leaves_only_whole_batches(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    asyncio.run(_create(url))
    size = 50
    acknowledged = 0
    for _ in range(5):
        writer = subprocess.Popen(
            [sys.executable, concurrent_appender.__file__, url, "s", str(size)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), *sys.path])},
        )
        assert writer.stdout is not None
        for _ in range(random.randint(2, 6)):
            writer.stdout.readline()
            acknowledged += 1
        # Kill at a random moment, usually in the middle of the next batch's insert.
        time.sleep(random.random() / 200)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    stored = asyncio.run(_read(url, "s"))
    with sqlite3.connect(tmp_path / "killed.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert len(stored) % size == 0
    assert len(stored) // size >= acknowledged
    versions = [version for version, _ in stored]
    assert versions == list(range(1, len(stored) + 1))
    for start in range(0, len(stored), size):
        batch = {note.rsplit("-", 1)[0] for _, note in stored[start : start + size]}
        assert len(batch) == 1, f"batch at version {start + 1} is mixed or partial: {batch}"


async def _create(url: str) -> None:
    async with el.open_store(url):
        pass


async def _read(url: str, stream_id: str) -> list[tuple[int, str]]:
    async with el.open_store(url) as store:
        return [(r.version, r.event.note) async for r in store.read_stream(stream_id)]  # type: ignore[attr-defined]
