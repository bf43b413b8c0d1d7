"""The store's own asyncpg connections: never more than the pool allows, nothing left dirty.

The store borrows a connection for each statement. These run real concurrent appends and reads
against the test server and look at the server's own view of the connections
(``pg_stat_activity``), so a leak or a connection handed out twice shows up there.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from postgres_server import backend_pids, open_named, settle, terminate

import eventledger as el
from backends import PostgresBackend
from eventledger.errors import StoreClosed
from eventledger.store.drivers.asyncpg_pool import connect_arguments
from eventledger.store.drivers.postgres import parse_postgres_url
from eventledger.store.postgres import PostgresEventStore
from events import noted


def application_name() -> str:
    return f"pool-{uuid.uuid4().hex[:12]}"


async def test_concurrent_appends_never_open_more_connections_than_the_pool_allows(
    backend: PostgresBackend,
) -> None:
    name = application_name()
    store = await el.open_store(f"{backend.url}&application_name={name}&pool_max_size=3")
    backend.stores.append(store)
    seen: set[int] = set()

    async def writer(number: int) -> None:
        for version in range(20):
            await store.append(f"s-{number}", [noted(f"{version}")], expected_version=version)

    async def watch() -> None:
        while True:
            seen.add(len(await backend_pids(name)))
            await asyncio.sleep(0.005)

    watching = asyncio.create_task(watch())
    await asyncio.gather(*(writer(number) for number in range(12)))
    watching.cancel()

    assert max(seen) <= 3
    assert [await store.stream_version(f"s-{number}") for number in range(12)] == [20] * 12


async def test_an_append_cancelled_mid_statement_leaves_the_pool_working(backend: PostgresBackend) -> None:
    name = application_name()
    store = await el.open_store(f"{backend.url}&application_name={name}&pool_max_size=1")
    backend.stores.append(store)
    assert isinstance(store, PostgresEventStore)
    sleeping = asyncio.create_task(
        store._connections.run(b"SELECT pg_sleep(30)", (), "sleep on the only connection")
    )
    await settle(lambda: backend_pids(name), lambda pids: len(pids) == 1)
    await asyncio.sleep(0.05)
    sleeping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeping

    result = await store.append("after", [noted("after")], expected_version=el.NO_STREAM)

    assert result.version == 1
    # The connection cut off mid-statement was closed, not lent again with a query running.
    await settle(lambda: backend_pids(name), lambda pids: len(pids) == 1)


async def test_a_waiting_borrower_gets_the_connection_when_it_comes_back(backend: PostgresBackend) -> None:
    store = await el.open_store(f"{backend.url}&pool_max_size=1")
    backend.stores.append(store)
    assert isinstance(store, PostgresEventStore)

    sleeping = asyncio.create_task(store._connections.run(b"SELECT pg_sleep(0.2)", (), "hold the connection"))
    await asyncio.sleep(0.05)
    appended = await store.append("waited", [noted("w")], expected_version=el.NO_STREAM)
    await sleeping

    assert appended.version == 1


async def test_connections_killed_while_idle_are_replaced_on_the_next_loan(backend: PostgresBackend) -> None:
    name = application_name()
    store = await open_named(backend, name)
    await store.append("before", [noted("before")], expected_version=el.NO_STREAM)
    killed = await backend_pids(name)
    await terminate(killed)
    await settle(lambda: backend_pids(name), lambda pids: not set(pids) & set(killed))
    # No pause for this loop to take in the server's goodbye: the loan must cope either way.

    result = await store.append("after", [noted("after")], expected_version=el.NO_STREAM)

    assert result.version == 1
    assert [event.stream_id async for event in store.read_all()] == ["before", "after"]


async def test_a_closed_store_refuses_to_lend_connections(backend: PostgresBackend) -> None:
    store = await backend.open()
    await store.close()

    with pytest.raises(StoreClosed):
        await store.append("s", [noted("a")], expected_version=el.NO_STREAM)


def test_libpq_options_reach_asyncpg_as_server_settings_and_timeout() -> None:
    settings = parse_postgres_url(
        "postgresql://someone:secret@db.example:6543/app?connect_timeout=3&application_name=shop"
        "&options=-c%20default_transaction_read_only%3Don%20-c%20statement_timeout%3D5s&sslmode=disable",
        {},
    )

    arguments = connect_arguments(settings)

    assert (arguments["host"], arguments["port"], arguments["user"]) == ("db.example", "6543", "someone")
    assert (arguments["password"], arguments["database"], arguments["timeout"]) == ("secret", "app", 3.0)
    assert arguments["server_settings"] == {
        "application_name": "shop",
        "default_transaction_read_only": "on",
        "statement_timeout": "5s",
    }
    assert arguments["dsn"] == "postgresql://?sslmode=disable"
