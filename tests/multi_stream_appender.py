"""Multi-stream appends from separate OS processes: racing ones, and a writer to be killed.

Importable when spawned (:func:`race`), and runnable as a script for the crash tests:
``python multi_stream_appender.py URL RUN MODE`` appends multi-stream batches for ever and
prints each acknowledged batch's id. Every event carries its batch id as its note, one event
per stream, so a reader can tell whether a batch is there whole, in part, or not at all.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import eventledger as el
from eventledger.store.appends import encode_requests
from eventledger.store.postgres import PostgresEventStore
from eventledger.store.postgres_many import append_in_transaction
from eventledger.testing.conformance.multi_stream_races import assert_whole_and_together
from events import noted

SHARED = tuple(f"shared-{index}" for index in range(4))
"""The streams every batch of every process overlaps on."""

Placed = tuple[str, int, int]
"""Where an acknowledged append put one event: stream, version, position."""


async def _race(url: str, name: str, count: int, seed: int) -> tuple[dict[str, list[Placed]], int]:
    chance = random.Random(seed)
    acknowledged: dict[str, list[Placed]] = {}
    conflicts = 0
    async with el.open_store(url) as store:
        while len(acknowledged) < count:
            streams = chance.sample(SHARED, chance.randint(2, 3))
            known = [await store.stream_version(stream_id) for stream_id in streams]
            batch = f"{name}-{len(acknowledged)}"
            # The first stream expects its exact version, so batches conflict; the others either.
            forms = [known[0], *(el.ANY if chance.random() < 0.5 else version for version in known[1:])]
            requests = [
                el.AppendRequest(stream_id, [noted(batch)], expected_version=form)
                for stream_id, form in zip(streams, forms, strict=True)
            ]
            try:
                results = await store.append_many(requests)
            except el.ConcurrencyError:
                conflicts += 1
                continue
            acknowledged[batch] = [(r.stream_id, r.version, r.positions[0]) for r in results]
    return acknowledged, conflicts


def _all_ready(gate: Path, name: str, parties: int) -> None:
    # Spawned processes start seconds apart on a loaded machine; without a gate the first could
    # finish its batches before the last one opens its store, and nothing would race at all.
    gate.mkdir(parents=True, exist_ok=True)
    (gate / name).touch()
    deadline = time.monotonic() + 120
    while len(list(gate.iterdir())) < parties:
        if time.monotonic() > deadline:
            seen = sorted(path.name for path in gate.iterdir())
            raise TimeoutError(f"{name} waited 120 s for {parties} racers at {gate}; saw {seen}")
        time.sleep(0.01)


def race(
    url: str, name: str, count: int, seed: int, gate: Path, parties: int
) -> tuple[dict[str, list[Placed]], int]:
    """Make ``count`` multi-stream appends over :data:`SHARED`, retrying conflicts.

    The racers start together: each waits until ``parties`` of them have started (each marks
    itself ready with a file in ``gate``). Returns where each acknowledged batch's
    events went, and how many attempts conflicted.
    """
    _all_ready(gate, name, parties)
    return asyncio.run(_race(url, name, count, seed))


def batch_requests(run: str, number: int) -> list[el.AppendRequest]:
    """Batch ``number`` of a crash-test writer: 3 shared streams (ANY) and a new one of its own."""
    batch = f"{run}-{number}"
    shared = [SHARED[(number + offset) % len(SHARED)] for offset in range(3)]
    return [
        *(el.AppendRequest(stream_id, [noted(batch)], expected_version=el.ANY) for stream_id in shared),
        el.AppendRequest(f"own-{batch}", [noted(batch)], expected_version=el.NO_STREAM),
    ]


BATCH_SIZE = 4
"""Events in each crash-test batch."""


def check_log(
    log: Sequence[tuple[str, int, str]], acknowledged: set[str], sizes: dict[str, int] | None = None
) -> None:
    """What concurrency or a crash may leave, read in one snapshot as (stream, version, batch id)
    in log order: every stream's versions dense, every batch whole (``sizes`` events each, by
    default :data:`BATCH_SIZE`) and together, every acknowledged one there."""
    versions: dict[str, list[int]] = {}
    for stream_id, version, _ in log:
        versions.setdefault(stream_id, []).append(version)
    for stream_id, found in versions.items():
        assert sorted(found) == list(range(1, len(found) + 1)), f"versions of {stream_id} are not dense"
    batches = [batch for *_, batch in log]
    assert_whole_and_together(batches, sizes if sizes is not None else dict.fromkeys(batches, BATCH_SIZE))
    missing = acknowledged - set(batches)
    assert not missing, f"acknowledged batches lost: {sorted(missing)}"


def kill_a_writer(url: str, run: str, mode: str) -> set[str]:
    """Start a writer of multi-stream batches, let it acknowledge a few, SIGKILL it at a random
    moment (usually in the middle of the next batch); the batch ids it acknowledged."""
    writer = subprocess.Popen(
        [sys.executable, __file__, url, run, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])},
    )
    assert writer.stdout is not None and writer.stderr is not None
    acknowledged = set()
    for _ in range(random.randint(1, 5)):
        line = writer.stdout.readline()
        assert line.endswith("\n"), f"the writer stopped: {writer.stderr.read()}"
        acknowledged.add(line.strip())
    time.sleep(random.random() / 100)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    # Lines it printed before it died were acknowledged too; a line cut short was not printed.
    rest = writer.stdout.read().splitlines(keepends=True)
    acknowledged |= {line.strip() for line in rest if line.endswith("\n")}
    writer.stdout.close()
    writer.stderr.close()
    return acknowledged


async def _forever(url: str, run: str, mode: str) -> None:
    async with el.open_store(url) as store:
        number = 0
        while True:
            requests = batch_requests(run, number)
            if mode == "transaction":
                # As a reactor writes: in a writing transaction of its own, several round trips.
                assert isinstance(store, PostgresEventStore)
                async with store.writing_transaction() as connection:
                    await append_in_transaction(connection, store._statements, encode_requests(requests))
            else:
                await store.append_many(requests)
            print(f"{run}-{number}", flush=True)
            number += 1


if __name__ == "__main__":
    asyncio.run(_forever(sys.argv[1], sys.argv[2], sys.argv[3]))
