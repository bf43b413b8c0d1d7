"""Multi-stream appends on PostgreSQL: one statement, one transaction, races, kills and crashes."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
from postgres_server import (
    connect,
    insert_note,
    open_named,
    settle,
    terminate,
    wait_for,
    waiting_on_a_lock,
)

import eventledger as el
import multi_stream_appender
from backends import PostgresBackend
from eventledger.store.appends import encode_requests
from eventledger.store.postgres import PostgresEventStore
from eventledger.store.postgres_many import Raced, append_in_transaction
from events import noted
from multi_stream_appender import check_log, kill_a_writer


def one(stream_id: str, expected: el.ExpectedVersion, note: str) -> el.AppendRequest:
    return el.AppendRequest(stream_id, [noted(note)], expected_version=expected)


async def snapshot(backend: PostgresBackend) -> list[tuple[str, int, str]]:
    """Every committed event in the global order, read in ONE statement, so in one snapshot."""
    async with await connect(autocommit=True) as connection:
        cursor = await connection.execute(
            f'SELECT stream_id, version, data->>\'note\' FROM "{backend.schema}".events '
            "ORDER BY transaction_id, position".encode()
        )
        rows = await cursor.fetchall()
    return [(str(stream), int(str(version)), str(note)) for stream, version, note in rows]


async def test_every_event_of_a_multi_stream_append_is_written_under_one_transaction_id(
    backend: PostgresBackend,
) -> None:
    store = await backend.open()
    await store.append("a", [noted("before")], expected_version=el.NO_STREAM)
    await store.append_many(
        [el.AppendRequest("a", [noted("x"), noted("y")], expected_version=1), one("b", el.NO_STREAM, "z")]
    )
    async with await connect(autocommit=True) as connection:
        cursor = await connection.execute(
            f'SELECT data->>\'note\', transaction_id::text FROM "{backend.schema}".events '
            "ORDER BY position".encode()
        )
        rows = [(str(note), str(transaction)) for note, transaction in await cursor.fetchall()]
    assert [note for note, _ in rows] == ["before", "x", "y", "z"]
    assert len({transaction for note, transaction in rows if note != "before"}) == 1
    assert rows[0][1] != rows[1][1]


async def test_an_any_request_that_loses_the_race_for_a_version_takes_the_next_one_with_the_rest(
    backend: PostgresBackend,
) -> None:
    name = f"many-any-{uuid.uuid4().hex[:8]}"
    store = await open_named(backend, name)
    await store.append("s", [noted("one")], expected_version=el.NO_STREAM)
    rival = await connect()
    try:
        await insert_note(rival, backend.schema, "s", 2, "rival")
        append = asyncio.create_task(
            store.append_many([one("s", el.ANY, "mine"), one("t", el.NO_STREAM, "t")])
        )
        await wait_for(lambda: waiting_on_a_lock(name))
        await rival.commit()
        results = await append
    finally:
        await rival.close()
    assert [(result.stream_id, result.version) for result in results] == [("s", 3), ("t", 1)]
    assert [r.event.note async for r in store.read_stream("s")] == ["one", "rival", "mine"]  # type: ignore[attr-defined]


async def test_exact_requests_that_lose_a_race_are_refused_naming_every_stream_that_moved(
    backend: PostgresBackend,
) -> None:
    name = f"many-exact-{uuid.uuid4().hex[:8]}"
    store = await open_named(backend, name)
    await store.append_many([one("s", el.NO_STREAM, "s1"), one("u", el.NO_STREAM, "u1")])
    rival = await connect()
    try:
        # One rival transaction moves both streams; the append waits on the first and fails.
        await insert_note(rival, backend.schema, "s", 2, "rival")
        await insert_note(rival, backend.schema, "u", 2, "rival")
        append = asyncio.create_task(
            store.append_many([one("s", 1, "mine"), one("u", 1, "mine"), one("v", el.ANY, "v")])
        )
        await wait_for(lambda: waiting_on_a_lock(name))
        await rival.commit()
        with pytest.raises(el.ConcurrencyError) as refused:
            await append
    finally:
        await rival.close()
    assert refused.value.conflicts == (("s", 1, 2), ("u", 1, 2))
    assert await store.stream_version("v") == 0


async def test_a_connection_killed_during_a_multi_stream_append_leaves_nothing_of_it(
    backend: PostgresBackend,
) -> None:
    name = f"many-killed-{uuid.uuid4().hex[:8]}"
    store = await open_named(backend, name)
    rival = await connect()
    try:
        await insert_note(rival, backend.schema, "s", 1, "rival")
        append = asyncio.create_task(store.append_many([one("t", el.NO_STREAM, "t"), one("s", el.ANY, "s")]))
        await terminate(await wait_for(lambda: waiting_on_a_lock(name)))
        with pytest.raises(el.StoreUnavailable) as caught:
            await append
        await rival.rollback()
    finally:
        await rival.close()
    assert "nothing of the append to streams 't', 's'" in str(caught.value)
    assert await snapshot(backend) == []
    results = await store.append_many([one("t", el.NO_STREAM, "t"), one("s", el.NO_STREAM, "s")])
    assert [result.version for result in results] == [1, 1]


async def test_a_race_inside_a_writing_transaction_raises_raced_and_commits_nothing(
    backend: PostgresBackend,
) -> None:
    name = f"many-raced-{uuid.uuid4().hex[:8]}"
    store = await open_named(backend, name)
    assert isinstance(store, PostgresEventStore)
    rival = await connect()
    try:
        await insert_note(rival, backend.schema, "s", 1, "rival")

        async def in_a_transaction() -> None:
            async with store.writing_transaction() as connection:
                await append_in_transaction(
                    connection,
                    store._statements,
                    encode_requests([one("t", el.NO_STREAM, "t"), one("s", el.ANY, "s")]),
                )

        append = asyncio.create_task(in_a_transaction())
        await wait_for(lambda: waiting_on_a_lock(name))
        await rival.commit()
        with pytest.raises(Raced) as raced:
            await append
    finally:
        await rival.close()
    assert raced.value.stream_id == "s"
    assert await snapshot(backend) == [("s", 1, "rival")]


def test_processes_racing_with_multi_stream_appends_lose_nothing_and_never_interleave(
    backend: PostgresBackend, tmp_path: Path
) -> None:
    names = ["p0", "p1", "p2"]
    gate = tmp_path / "gate"
    with ProcessPoolExecutor(3, mp_context=get_context("spawn")) as pool:
        outcomes = list(
            pool.map(
                multi_stream_appender.race, [backend.url] * 3, names, [25] * 3, range(3), [gate] * 3, [3] * 3
            )
        )
    acknowledged = {batch: placed for placed_by, _ in outcomes for batch, placed in placed_by.items()}
    log = asyncio.run(snapshot(backend))
    stored = sorted(log)
    assert stored == sorted(
        (stream, version, batch) for batch, placed in acknowledged.items() for stream, version, _ in placed
    )
    check_log(log, set(acknowledged), {batch: len(placed) for batch, placed in acknowledged.items()})
    assert sum(conflicts for _, conflicts in outcomes) > 0


@pytest.mark.parametrize("mode", ["many", "transaction"], ids=["append_many", "writing transaction"])
def test_a_writer_killed_at_random_during_multi_stream_appends_leaves_only_whole_batches(
    backend: PostgresBackend, mode: str
) -> None:
    asyncio.run(_create(backend.url))
    acknowledged: set[str] = set()
    for run in range(12):
        acknowledged |= kill_a_writer(backend.url, f"r{run}", mode)
        check_log(asyncio.run(snapshot(backend)), acknowledged)
    assert len(acknowledged) >= 12
    # Through the store too, once the killed sessions' transactions have ended.
    asyncio.run(_check_through_the_store(backend, acknowledged))


async def _create(url: str) -> None:
    async with el.open_store(url):
        pass


async def _check_through_the_store(backend: PostgresBackend, acknowledged: set[str]) -> None:
    committed = len(await snapshot(backend))
    async with el.open_store(backend.url) as store:

        async def read() -> list[el.RecordedEvent]:
            return [recorded async for recorded in store.read_all()]

        log = await settle(read, lambda events: len(events) == committed, within=30)
    check_log([(r.stream_id, r.version, r.event.note) for r in log], acknowledged)  # type: ignore[attr-defined]


async def test_multi_stream_appends_naming_the_same_streams_in_opposite_orders_all_land(
    backend: PostgresBackend,
) -> None:
    # Written in the callers' orders, [a, b, c] racing [c, b, a] deadlocked (PostgreSQL then
    # aborts one after deadlock_timeout); written in stream id order, they cannot.
    stores = [await backend.open() for _ in range(4)]
    streams = [f"stream-{index}" for index in range(3)]

    async def writer(store: el.EventStore, number: int) -> None:
        order = streams if number % 2 else streams[::-1]
        for index in range(60):
            await store.append_many([one(stream_id, el.ANY, f"{number}-{index}") for stream_id in order])

    await asyncio.gather(*(writer(store, number) for number, store in enumerate(stores)))
    for stream_id in streams:
        assert await stores[0].stream_version(stream_id) == 240
