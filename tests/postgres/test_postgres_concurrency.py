"""Appenders racing on one stream from separate connections, and connections dying mid-append."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from postgres_server import (
    RawConnection,
    backend_pids,
    connect,
    insert_note,
    open_named,
    terminate,
    wait_for,
    waiting_on_a_lock,
)

import eventledger as el
from backends import PostgresBackend
from events import noted


async def blocked_append(
    backend: PostgresBackend, expected: el.ExpectedVersion
) -> tuple[asyncio.Task[el.AppendResult], RawConnection]:
    """Start an append that finds version 1 and then waits on another transaction's version 2."""
    name = f"blocked-{uuid.uuid4().hex[:8]}"
    store = await open_named(backend, name)
    await store.append("s", [noted("one")], expected_version=el.NO_STREAM)
    rival = await connect()
    await insert_note(rival, backend.schema, "s", 2, "rival")
    append = asyncio.create_task(store.append("s", [noted("mine")], expected_version=expected))
    await wait_for(lambda: waiting_on_a_lock(name))
    return append, rival


async def test_an_exact_append_that_loses_the_race_for_a_version_raises_concurrency_error(
    backend: PostgresBackend,
) -> None:
    append, rival = await blocked_append(backend, 1)
    await rival.commit()
    with pytest.raises(el.ConcurrencyError) as caught:
        await append
    await rival.close()
    assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == ("s", 1, 2)


@pytest.mark.parametrize("expected", [el.ANY, el.STREAM_EXISTS])
async def test_an_unchecked_append_that_loses_the_race_for_a_version_takes_the_next_one(
    backend: PostgresBackend, expected: el.ExpectedVersion
) -> None:
    append, rival = await blocked_append(backend, expected)
    await rival.commit()
    result = await append
    await rival.close()
    assert result.version == 3
    store = await backend.open()
    assert [r.event.note async for r in store.read_stream("s")] == ["one", "rival", "mine"]  # type: ignore[attr-defined]


async def test_appenders_racing_for_the_same_version_on_separate_connections_get_one_winner(
    backend: PostgresBackend,
) -> None:
    stores = [await backend.open() for _ in range(6)]
    for round_number in range(10):
        start = asyncio.Event()

        async def contend(
            store: el.EventStore, name: str, version: int, start: asyncio.Event
        ) -> el.AppendResult | Exception:
            await start.wait()
            try:
                return await store.append("contended", [noted(name)], expected_version=version)
            except el.ConcurrencyError as error:
                return error

        attempts = [
            asyncio.create_task(contend(store, f"r{round_number}-w{index}", round_number, start))
            for index, store in enumerate(stores)
        ]
        await asyncio.sleep(0)
        start.set()
        outcomes = await asyncio.gather(*attempts)
        winners = [outcome for outcome in outcomes if isinstance(outcome, el.AppendResult)]
        losers = [outcome for outcome in outcomes if isinstance(outcome, el.ConcurrencyError)]
        assert len(winners) == 1
        assert winners[0].version == round_number + 1
        assert len(losers) == len(stores) - 1
        assert {(loser.expected, loser.actual) for loser in losers} == {(round_number, round_number + 1)}
    assert [r.version async for r in stores[0].read_stream("contended")] == list(range(1, 11))


async def test_concurrent_any_appends_to_one_stream_from_separate_connections_all_land_densely(
    backend: PostgresBackend,
) -> None:
    stores = [await backend.open() for _ in range(5)]

    async def writer(store: el.EventStore, name: str) -> None:
        for index in range(15):
            batch = [noted(f"{name}-{index}"), noted(f"{name}-{index}b")]
            await store.append("busy", batch, expected_version=el.ANY)

    await asyncio.gather(*(writer(store, f"w{index}") for index, store in enumerate(stores)))
    recorded = [r async for r in stores[0].read_stream("busy")]
    assert [r.version for r in recorded] == list(range(1, 151))
    notes = [r.event.note for r in recorded]  # type: ignore[attr-defined]
    # Each batch stayed together: its two events have neighbouring versions.
    for first, second in zip(notes[::2], notes[1::2], strict=True):
        assert second == f"{first}b"


async def test_a_connection_killed_during_an_append_leaves_nothing_of_the_batch(
    backend: PostgresBackend,
) -> None:
    name = f"killed-{uuid.uuid4().hex[:8]}"
    store = await open_named(backend, name)
    rival = await connect()
    try:
        # The batch inserts versions 1 and 2, then waits for the rival's uncommitted version 3.
        await insert_note(rival, backend.schema, "s", 3, "rival")
        append = asyncio.create_task(
            store.append("s", [noted(str(index)) for index in range(1, 6)], expected_version=el.ANY)
        )
        await terminate(await wait_for(lambda: waiting_on_a_lock(name)))
        with pytest.raises(el.StoreUnavailable) as caught:
            await append
        await rival.rollback()
    finally:
        await rival.close()
    message = str(caught.value)
    assert "'s'" in message
    assert "nothing of the batch" in message
    assert "test" in message and "127.0.0.1" in message
    assert await store.stream_version("s") == 0
    assert [r async for r in store.read_all()] == []
    # The store carries on with a fresh connection.
    result = await store.append("s", [noted("again")], expected_version=el.NO_STREAM)
    assert result.version == 1


async def test_appends_and_reads_succeed_after_every_idle_connection_was_killed(
    backend: PostgresBackend,
) -> None:
    name = f"idle-{uuid.uuid4().hex[:8]}"
    store = await el.open_store(f"{backend.url}&application_name={name}&pool_min_size=3")
    backend.stores.append(store)
    await store.append("s", [noted("before")], expected_version=el.NO_STREAM)
    pids = await backend_pids(name)
    assert len(pids) >= 3
    await terminate(pids)

    async def all_gone() -> bool:
        return not set(pids) & set(await backend_pids(name))

    await wait_for(all_gone)
    result = await store.append("s", [noted("after")], expected_version=1)
    assert result.version == 2
    assert [r.event.note async for r in store.read_stream("s")] == ["before", "after"]  # type: ignore[attr-defined]
