"""Reactors: handlers that append events, each source event's reaction exactly once, on every store.

The checkpoint commits in the same transaction as the reactions, in the store's own database;
a refused expected version or a failing handler fails the batch whole, through the runner's
error policy; a reactor is never replayed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from reactor_rig import Echo, Echoed, Ping, Pong, log_of, ping_ids, ping_many, reactions_by_cause
from waits import bounded, caught_up, eventually

import eventledger as el
from backends import Backend
from eventledger.errors import (
    InvalidArgument,
    ProjectionDefinitionError,
    ProjectionFailed,
    ProjectionStateError,
)
from eventledger.projections import Emit, ProjectionRetryPolicy, Reactor, handles

FAST = ProjectionRetryPolicy(attempts=3, first_delay=0.001, max_delay=0.005)


async def run_once(store: el.EventStore, reactor: Reactor, *, batch_size: int = 7) -> None:
    runner = el.ProjectionRunner(store, [reactor], batch_size=batch_size, retry=FAST)
    try:
        await runner.run_until_caught_up()
    finally:
        await reactor.target.close()


async def wait_for_state(runner: el.ProjectionRunner, name: str, state: el.ProjectionState) -> None:
    async def reached() -> bool:
        return (await runner.status_of(name)).state is state

    await eventually(reached, what=f"{name} {state.value}", store=runner.store)


async def test_each_source_event_gets_one_reaction_carrying_its_causation_and_correlation_ids(
    store: el.EventStore,
) -> None:
    await ping_many(store, 30)
    await run_once(store, Echo(store))
    ids = await ping_ids(store)
    for stream in ["pong-log", *(f"pong-{n}" for n in range(30))]:
        assert await reactions_by_cause(store, stream) == Counter(
            {ids[n]: 1 for n in range(30) if stream in ("pong-log", f"pong-{n}")}
        ), stream
    for recorded in await log_of(store):
        if isinstance(recorded.event, Pong):
            source = ids[recorded.event.n]
            assert (recorded.causation_id, recorded.correlation_id) == (source, source)


async def test_a_restarted_reactor_continues_from_the_checkpoint_in_the_store_and_repeats_nothing(
    backend: Backend, store: el.EventStore
) -> None:
    await ping_many(store, 20)
    await run_once(store, Echo(store))
    await ping_many(store, 5, start=20)
    later = await backend.open()  # another store object: another connection, another process alike
    again = Echo(later)
    await run_once(later, again)
    assert sorted(again.calls) == list(range(20, 25))
    ids = await ping_ids(store)
    assert await reactions_by_cause(store) == Counter({ids[n]: 1 for n in range(25)})


class Chain(Reactor, name="chain"):
    """Answers pings with pongs, and pongs with echoes: a chain of two reactions."""

    @handles
    async def ping(self, event: Ping, recorded: el.RecordedEvent, emit: Emit) -> None:
        emit("pongs", [Pong(n=event.n)], expected_version=el.ANY)

    @handles
    async def pong(self, event: Pong, recorded: el.RecordedEvent, emit: Emit) -> None:
        emit("echoes", [Echoed(n=event.n)], expected_version=el.ANY, metadata={"hop": 2})


async def test_a_reaction_to_a_reaction_keeps_the_correlation_id_of_the_event_that_began_the_chain(
    store: el.EventStore,
) -> None:
    started = {"correlation_id": "c-1"}
    await store.append("ping-1", [Ping(n=1)], expected_version=el.NO_STREAM, metadata=started)
    await store.append("ping-2", [Ping(n=2)], expected_version=el.NO_STREAM)
    await run_once(store, Chain(store))
    log = await log_of(store)
    pings = {r.event.n: r for r in log if isinstance(r.event, Ping)}
    pongs = {r.event.n: r for r in log if isinstance(r.event, Pong)}
    echoes = {r.event.n: r for r in log if isinstance(r.event, Echoed)}
    assert (pongs[1].correlation_id, pongs[1].causation_id) == ("c-1", str(pings[1].event_id))
    assert (echoes[1].correlation_id, echoes[1].causation_id) == ("c-1", str(pongs[1].event_id))
    assert echoes[1].metadata["hop"] == 2
    started_by_2 = str(pings[2].event_id)
    assert (echoes[2].correlation_id, echoes[2].causation_id) == (started_by_2, str(pongs[2].event_id))


class Tally(Reactor, name="tally"):
    """Counts pings in one stream, deciding each time on the version it read (as a process
    manager deciding on an aggregate it loaded does); ``taken`` pings aim at a version that
    will never hold."""

    def __init__(self, store: el.EventStore, *, taken: set[int] | None = None) -> None:
        super().__init__(store)
        self.taken = taken or set()

    @handles
    async def ping(self, event: Ping, recorded: el.RecordedEvent, emit: Emit) -> None:
        version = await self.store.stream_version("tally")
        expected = version + 1000 if event.n in self.taken else version
        emit("tally", [Pong(n=event.n)], expected_version=expected)


async def test_a_reaction_decided_on_a_version_another_reaction_of_its_batch_moved_is_decided_again(
    store: el.EventStore,
) -> None:
    await ping_many(store, 20)
    await run_once(store, Tally(store), batch_size=10)  # each handler reads the version before its batch
    ids = await ping_ids(store)
    tally = [recorded async for recorded in store.read_stream("tally")]
    assert Counter(str(r.causation_id) for r in tally) == Counter(ids.values())
    assert [r.event.n for r in tally] == list(range(20))  # in the order of the log


async def test_a_refused_expected_version_writes_nothing_of_its_batch_and_fails_the_reactor_at_that_event(
    store: el.EventStore,
) -> None:
    await ping_many(store, 20)
    runner = el.ProjectionRunner(store, [Tally(store, taken={12})], batch_size=10, retry=FAST)
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        await wait_for_state(runner, "tally", el.ProjectionState.FAILED)
        status = await runner.status_of("tally")
        ids = await ping_ids(store)
        assert status.failure is not None
        assert status.failure.event_id is not None and str(status.failure.event_id) == ids[12]
        assert "ConcurrencyError" in status.failure.error and "'tally'" in status.failure.error
        assert [r.event.n async for r in store.read_stream("tally")] == list(range(12))

        skipped = await runner.skip_failed_event("tally")
        await caught_up(runner)
        assert str(skipped.event_id) == ids[12]
        assert [r.event.n async for r in store.read_stream("tally")] == [n for n in range(20) if n != 12]
        [letter] = await runner.dead_letters("tally")
        assert str(letter.event_id) == ids[12]
    finally:
        runner.stop()
        await running
        await runner.projections[0].target.close()


async def test_a_failing_handler_leaves_nothing_of_its_batch_and_an_operator_retry_reacts_once(
    store: el.EventStore,
) -> None:
    await ping_many(store, 20)
    echo = Echo(store, failing={13})
    runner = el.ProjectionRunner(store, [echo], batch_size=10, retry=FAST)
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        await wait_for_state(runner, "echo", el.ProjectionState.FAILED)
        ids = await ping_ids(store)
        assert await reactions_by_cause(store) == Counter({ids[n]: 1 for n in range(13)})
        echo.failing.clear()
        await runner.retry("echo")
        await caught_up(runner)
        assert await reactions_by_cause(store) == Counter({ids[n]: 1 for n in range(20)})
    finally:
        runner.stop()
        await running
        await echo.target.close()


class Guarded(Reactor, name="guarded"):
    """Answers pings with a pong only while stream ``watched`` is at ``version`` (a check alone)."""

    def __init__(self, store: el.EventStore, version: int) -> None:
        super().__init__(store)
        self.version = version

    @handles
    async def ping(self, event: Ping, recorded: el.RecordedEvent, emit: Emit) -> None:
        emit("watched", [], expected_version=self.version)
        emit("pong-log", [Pong(n=event.n)], expected_version=el.ANY)


async def test_a_reaction_resting_on_a_version_check_alone_fails_once_that_stream_moved(
    store: el.EventStore,
) -> None:
    await store.append("watched", [Echoed(n=0)], expected_version=el.NO_STREAM)
    await ping_many(store, 2)
    await run_once(store, Guarded(store, version=1))
    await store.append("watched", [Echoed(n=1)], expected_version=1)
    [late] = await ping_many(store, 1, start=2)
    with pytest.raises(ProjectionFailed, match="'watched': expected version 1, actual version 2") as raised:
        await run_once(store, Guarded(store, version=1))
    assert raised.value.position == late
    assert sorted([pong.event.n async for pong in store.read_stream("pong-log")]) == [0, 1]
    assert await store.stream_version("watched") == 2


async def test_a_reactor_is_never_rebuilt(store: el.EventStore) -> None:
    await ping_many(store, 3)
    echo = Echo(store)
    runner = el.ProjectionRunner(store, [echo])
    await runner.run_until_caught_up()
    try:
        with pytest.raises(ProjectionStateError, match=r"'echo'.*must not repeat.*cannot be rebuilt"):
            await runner.rebuild("echo")
        await runner.run_until_caught_up()
        assert len(await reactions_by_cause(store)) == 3
    finally:
        await echo.target.close()


class EchoV2(Echo, name="echo", version=2):
    """The next version of the same reactor."""


async def test_a_new_version_of_a_reactor_continues_where_the_old_version_stopped(
    store: el.EventStore,
) -> None:
    await ping_many(store, 10)
    await run_once(store, Echo(store))
    await ping_many(store, 3, start=10)
    newer = EchoV2(store)
    await run_once(store, newer)
    assert sorted(newer.calls) == [10, 11, 12]
    ids = await ping_ids(store)
    assert await reactions_by_cause(store) == Counter({ids[n]: 1 for n in range(13)})


async def test_a_reactor_that_starts_at_the_end_leaves_the_history_alone(store: el.EventStore) -> None:
    await ping_many(store, 10)
    late = Echo(store, start="end")
    runner = el.ProjectionRunner(store, [late], retry=FAST)
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        await caught_up(runner)
        await ping_many(store, 2, start=10)
        await caught_up(runner)
    finally:
        runner.stop()
        await running
        await late.target.close()
    assert sorted(late.calls) == [10, 11]


async def test_reactions_into_another_store_happen_once_with_the_checkpoint_kept_in_that_store(
    store: el.EventStore, tmp_path: Path
) -> None:
    await ping_many(store, 15)
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    async with await el.open_store(url) as elsewhere:
        await run_once(store, Echo(elsewhere))
    await ping_many(store, 5, start=15)
    async with await el.open_store(url) as elsewhere:
        again = Echo(elsewhere)
        await run_once(store, again)
        assert sorted(again.calls) == list(range(15, 20))
        ids = await ping_ids(store)
        assert await reactions_by_cause(elsewhere) == Counter({ids[n]: 1 for n in range(20)})
    assert await reactions_by_cause(store) == Counter()


async def test_subscribers_of_the_store_are_woken_by_the_reactions(store: el.EventStore) -> None:
    store.poll_interval = 3600.0  # only a wake-up can deliver within the bound
    await ping_many(store, 5)

    async def pongs_delivered() -> int:
        seen = 0
        async for recorded in store.subscribe(types=[Pong]):
            seen += recorded.stream_id == "pong-log"
            if seen == 5:
                return seen
        return seen

    listening = asyncio.create_task(pongs_delivered())
    await asyncio.sleep(0.1)  # the subscriber has read the log and sleeps
    await run_once(store, Echo(store))
    assert await bounded(listening, "the subscriber to see five pongs", store=store) == 5


async def test_the_stores_append_observers_are_told_of_the_reactions(store: el.EventStore) -> None:
    told: list[tuple[int, bool]] = []
    await ping_many(store, 6)
    store.add_append_observer(lambda events, seconds, conflicted: told.append((events, conflicted)))
    await run_once(store, Echo(store), batch_size=3)
    assert sum(events for events, _ in told) == 12
    assert not any(conflicted for _, conflicted in told)


async def test_reactions_with_any_land_once_while_other_connections_append_to_the_same_stream(
    backend: Backend, store: el.EventStore
) -> None:
    await ping_many(store, 40)
    others = [await backend.open() for _ in range(3)]
    watcher = await backend.open()
    stop = asyncio.Event()
    seen: list[int] = []

    async def crowd(other: el.EventStore, who: int) -> int:
        # Bounded: run_until_caught_up ends only when a read finds the end of the log, which
        # writers that never stop would keep moving for ever.
        written = 0
        while not stop.is_set() and written < 150:
            await other.append("pong-log", [Echoed(n=who)], expected_version=el.ANY)
            written += 1
            await asyncio.sleep(0)
        return written

    async def watch() -> None:  # a live reader of the log while reactions and appends commit
        async for recorded in watcher.subscribe():
            seen.append(recorded.position)

    crowding = [asyncio.create_task(crowd(other, who)) for who, other in enumerate(others)]
    watching = asyncio.create_task(watch())
    try:
        await run_once(store, Echo(store), batch_size=4)
    finally:
        stop.set()
        written = sum(await asyncio.gather(*crowding))
    ids = await ping_ids(store)
    assert await reactions_by_cause(store) == Counter({ids[n]: 1 for n in range(40)})
    versions = [recorded.version async for recorded in store.read_stream("pong-log")]
    assert versions == list(range(1, 40 + written + 1))
    log = [recorded.position for recorded in await log_of(store)]
    await eventually(lambda: len(seen) >= len(log), what="the subscriber to reach the end of the log")
    watching.cancel()
    assert seen == log  # nothing skipped, nothing twice, in the log's order


async def test_a_reactor_declaring_tables_is_refused() -> None:
    with pytest.raises(ProjectionDefinitionError, match="a reactor has no tables"):

        class Tabled(Reactor, name="tabled"):
            tables = ("things",)


async def test_run_until_caught_up_names_the_event_whose_reaction_was_refused(store: el.EventStore) -> None:
    positions = await ping_many(store, 4)
    with pytest.raises(ProjectionFailed, match="ConcurrencyError") as raised:
        await run_once(store, Tally(store, taken={2}))
    assert raised.value.position == positions[2]


def test_a_store_whose_backend_cannot_commit_the_checkpoint_with_the_events_is_refused() -> None:
    stub = dict.fromkeys(el.EventStore.__abstractmethods__, lambda *arguments, **options: None)
    foreign = type("ForeignStore", (el.EventStore,), stub)()
    with pytest.raises(InvalidArgument, match=r"memory, SQLite or PostgreSQL store.*not ForeignStore"):
        Echo(foreign)
