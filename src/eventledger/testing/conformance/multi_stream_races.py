"""Multi-stream appends under real concurrency: several connections, readers and subscribers.

Every event a specification here writes carries its append's id (the note), one event per
stream, so the global log can be checked for whole appends: each append's events appear all
together, next to each other, or not at all.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from collections.abc import Sequence

import eventledger as el
from eventledger.testing.conformance.events import noted
from eventledger.testing.conformance.fixtures import StoreFixtures
from eventledger.testing.conformance.subjects import OpenedStores
from eventledger.testing.conformance.subscribing import take

STREAMS = tuple(f"shared-{index}" for index in range(4))
"""The streams the racing appends overlap on."""


def append_ids(events: Sequence[el.RecordedEvent]) -> list[str]:
    """The append id (the note) of each event."""
    return [str(getattr(recorded.event, "note", "")) for recorded in events]


def assert_whole_and_together(ids: Sequence[str], sizes: dict[str, int]) -> None:
    """Each append (by its id, one per event in log order) appears whole, its events next to each
    other, or not at all; ``sizes`` says how many events each append wrote."""
    runs = [ids[0]] if ids else []
    runs += [current for previous, current in itertools.pairwise(ids) if current != previous]
    split = [append for append, count in Counter(runs).items() if count > 1]
    assert not split, f"appends interleaved with others in the global log: {split}"
    partial = {append: count for append, count in Counter(ids).items() if count != sizes.get(append)}
    assert not partial, f"appends seen in part (events seen, of {sizes}): {partial}"


class MultiStreamRaceSpecification(StoreFixtures):
    """Concurrent multi-stream appends never lose an acknowledged append or show part of one."""

    async def test_racing_multi_stream_appends_on_separate_connections_lose_nothing_and_never_interleave(
        self, stores: OpenedStores
    ) -> None:
        connections = [await stores.open() for _ in range(4)]
        acknowledged: dict[str, list[el.AppendResult]] = {}
        sizes: dict[str, int] = {}
        snapshots: list[list[el.RecordedEvent]] = []
        conflicts = 0
        writing = True

        async def writer(store: el.EventStore, name: str, chance: random.Random) -> None:
            nonlocal conflicts
            written = 0
            while written < 8:
                streams = chance.sample(STREAMS, chance.randint(2, 3))
                known = [await store.stream_version(stream_id) for stream_id in streams]
                await asyncio.sleep(0)
                append = f"{name}-{written}"
                forms: list[el.ExpectedVersion] = [
                    el.ANY if chance.random() < 0.5 else version for version in known
                ]
                forms[0] = known[0]  # at least one exact version, so that appends can conflict
                requests = [
                    el.AppendRequest(stream_id, [noted(append)], expected_version=form)
                    for stream_id, form in zip(streams, forms, strict=True)
                ]
                try:
                    acknowledged[append] = await store.append_many(requests)
                except el.ConcurrencyError:
                    conflicts += 1
                    continue
                sizes[append] = len(streams)
                written += 1

        async def single_appender(store: el.EventStore) -> None:
            for index in range(10):
                await store.append(STREAMS[0], [noted(f"single-{index}")], expected_version=el.ANY)
                sizes[f"single-{index}"] = 1
                await asyncio.sleep(0.001)

        async def reader(store: el.EventStore) -> None:
            while writing:
                snapshots.append([recorded async for recorded in store.read_all()])
                await asyncio.sleep(0.001)

        reading = asyncio.create_task(reader(connections[3]))
        try:
            await asyncio.wait_for(
                asyncio.gather(
                    *(writer(store, f"w{index}", random.Random(index)) for index, store in
                      enumerate(connections[:3])),
                    single_appender(connections[3]),
                ),
                120,
            )
        finally:
            writing = False
            await reading
        log = [recorded async for recorded in connections[0].read_all()]

        for stream_id in STREAMS:
            versions = [r.version async for r in connections[1].read_stream(stream_id)]
            assert versions == list(range(1, len(versions) + 1)), f"versions of {stream_id} are not dense"
        stored = {(r.stream_id, r.version): (r.position, append_ids([r])[0]) for r in log}
        for append, results in acknowledged.items():
            for result in results:
                (position,) = result.positions
                assert stored[(result.stream_id, result.version)] == (position, append), (
                    f"acknowledged append {append} is not where its result says"
                )
        assert set(append_ids(log)) == set(sizes), "the log holds events of unacknowledged appends"
        assert_whole_and_together(append_ids(log), sizes)
        for snapshot in snapshots:
            assert_whole_and_together(append_ids(snapshot), sizes)
        assert conflicts > 0

    async def test_subscribers_see_each_multi_stream_append_once_and_whole(
        self, stores: OpenedStores
    ) -> None:
        writers = [await stores.open(), await stores.open()]
        elsewhere = await stores.open()
        sizes = {f"w{writer}-{number}": 2 + number % 2 for writer in range(2) for number in range(6)}
        total = sum(sizes.values())
        seen_here = asyncio.create_task(asyncio.wait_for(take(writers[0].subscribe(), total), 60))
        seen_elsewhere = asyncio.create_task(asyncio.wait_for(take(elsewhere.subscribe(), total), 60))
        await asyncio.sleep(0.05)

        async def write(store: el.EventStore, writer: int) -> None:
            for number in range(6):
                append = f"w{writer}-{number}"
                await store.append_many(
                    [
                        el.AppendRequest(stream_id, [noted(append)], expected_version=el.ANY)
                        for stream_id in STREAMS[: sizes[append]]
                    ]
                )
                await asyncio.sleep(0.002)

        await asyncio.gather(*(write(store, index) for index, store in enumerate(writers)))
        log = [recorded async for recorded in elsewhere.read_all()]
        for subscriber in (seen_here, seen_elsewhere):
            delivered = await subscriber
            assert [r.position for r in delivered] == [r.position for r in log]
            assert_whole_and_together(append_ids(delivered), sizes)
