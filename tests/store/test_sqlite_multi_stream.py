"""Multi-stream appends on SQLite from several OS processes, and from a writer killed at random."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import eventledger as el
import multi_stream_appender
from multi_stream_appender import check_log, kill_a_writer


def test_processes_racing_with_multi_stream_appends_lose_nothing_and_never_interleave(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'racing.db'}"
    asyncio.run(_create(url))
    names = ["p0", "p1", "p2"]
    gate = tmp_path / "gate"
    with ProcessPoolExecutor(3, mp_context=get_context("spawn")) as pool:
        outcomes = list(
            pool.map(multi_stream_appender.race, [url] * 3, names, [25] * 3, range(3), [gate] * 3, [3] * 3)
        )
    acknowledged = {batch: placed for placed_by, _ in outcomes for batch, placed in placed_by.items()}
    log = asyncio.run(_log(url))

    # Every acknowledged append is where its results say, and nothing else is stored.
    assert sorted((stream, version, position, batch) for stream, version, position, batch in log) == sorted(
        (stream, version, position, batch)
        for batch, placed in acknowledged.items()
        for stream, version, position in placed
    )
    check_log(
        [(stream, version, batch) for stream, version, _, batch in log],
        set(acknowledged),
        {batch: len(placed) for batch, placed in acknowledged.items()},
    )
    assert sum(conflicts for _, conflicts in outcomes) > 0


def test_a_writer_killed_at_random_during_multi_stream_appends_leaves_only_whole_batches(
    tmp_path: Path,
) -> None:
    path = tmp_path / "killed.db"
    url = f"sqlite:///{path}"
    asyncio.run(_create(url))
    acknowledged: set[str] = set()
    for run in range(12):
        acknowledged |= kill_a_writer(url, f"r{run}", "many")
        # Read in one statement, so in one snapshot, right after each kill.
        with contextlib.closing(sqlite3.connect(path)) as db:
            check_log(
                db.execute(
                    "SELECT stream_id, version, json_extract(data, '$.note') FROM events ORDER BY position"
                ).fetchall(),
                acknowledged,
            )
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    log = asyncio.run(_log(url))
    check_log([(stream, version, batch) for stream, version, _, batch in log], acknowledged)
    assert len(acknowledged) >= 12


async def _create(url: str) -> None:
    async with el.open_store(url):
        pass


async def _log(url: str) -> list[tuple[str, int, int, str]]:
    async with el.open_store(url) as store:
        return [
            (r.stream_id, r.version, r.position, r.event.note)  # type: ignore[attr-defined]
            async for r in store.read_all()
        ]
