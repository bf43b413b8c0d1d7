"""Opening a PostgreSQL store that cannot work gives an error naming the server, never the password."""

from __future__ import annotations

import uuid

import pytest
from postgres_server import connect

import eventledger as el
from backends import PostgresBackend
from eventledger.errors import InvalidStoreURL, StoreSchemaError
from eventledger.store.postgres import PostgresEventStore
from events import noted

PASSWORD = "s3cret-Passw0rd"


async def open_failing(url: str) -> str:
    with pytest.raises(el.StoreUnavailable) as caught:
        await el.open_store(url)
    message = str(caught.value)
    assert PASSWORD not in message
    assert PASSWORD not in repr(caught.value)
    return message


async def test_a_port_nobody_listens_on_raises_store_unavailable_naming_host_port_and_database() -> None:
    message = await open_failing(f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test")
    assert "'test'" in message
    assert "127.0.0.1:1" in message
    assert "cannot connect" in message


async def test_a_host_that_does_not_answer_raises_store_unavailable_after_the_connect_timeout() -> None:
    # 192.0.2.0/24 is reserved for documentation: nothing there ever answers.
    message = await open_failing(f"postgresql://postgres:{PASSWORD}@192.0.2.1:5432/test?connect_timeout=1")
    assert "192.0.2.1:5432" in message
    assert "'test'" in message


async def test_a_missing_database_raises_store_unavailable_naming_it() -> None:
    database = f"missing_{uuid.uuid4().hex[:8]}"
    message = await open_failing(f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/{database}")
    assert repr(database) in message
    assert "does not exist" in message


async def test_an_unknown_user_raises_store_unavailable_naming_the_user() -> None:
    user = f"nobody_{uuid.uuid4().hex[:8]}"
    message = await open_failing(f"postgresql://{user}:{PASSWORD}@127.0.0.1:5432/test")
    assert repr(user) in message
    assert "'test'" in message


async def test_an_unknown_option_is_refused_by_name_without_showing_the_password() -> None:
    with pytest.raises(InvalidStoreURL) as caught:
        await el.open_store(f"postgresql://postgres:{PASSWORD}@127.0.0.1/test?shema=x")
    assert "shema" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    with pytest.raises(InvalidStoreURL, match="pool_size"):
        await el.open_store("postgresql://postgres@127.0.0.1/test", pool_size=3)


@pytest.mark.parametrize(
    "query", ["schema=Robert%27%3B%20DROP", "schema=", "pool_max_size=0", "poll_interval=-1", "notify=maybe"]
)
async def test_a_bad_option_value_is_refused_naming_the_option(query: str) -> None:
    with pytest.raises(InvalidStoreURL) as caught:
        await el.open_store(f"postgresql://postgres@127.0.0.1/test?{query}")
    assert query.split("=")[0] in str(caught.value)


async def test_a_store_schema_newer_than_this_release_is_refused(backend: PostgresBackend) -> None:
    store = await backend.open()
    await store.close()
    async with await connect(autocommit=True) as connection:
        await connection.execute(
            f'UPDATE "{backend.schema}".eventledger_schema SET version = 99 '
            "WHERE component = 'store'".encode()
        )
    with pytest.raises(StoreSchemaError) as caught:
        await backend.open()
    assert "99" in str(caught.value)
    assert "upgrade eventledger" in str(caught.value)


async def test_an_open_store_whose_schema_was_dropped_raises_store_unavailable(
    backend: PostgresBackend,
) -> None:
    store = await backend.open()
    async with await connect(autocommit=True) as connection:
        await connection.execute(f'DROP SCHEMA "{backend.schema}" CASCADE'.encode())
    with pytest.raises(el.StoreUnavailable) as caught:
        await store.stream_version("s")
    assert "'test'" in str(caught.value)
    assert "does not exist" in str(caught.value)


async def test_a_value_the_server_refuses_is_the_callers_mistake_never_an_outage(
    backend: PostgresBackend,
) -> None:
    store = await backend.open()
    # A lone surrogate in metadata passes Python's checks but not PostgreSQL's JSON parser.
    with pytest.raises(el.InvalidArgument) as caught:
        await store.append("s", [noted("a")], expected_version=el.NO_STREAM, metadata={"note": "\udfff"})
    assert not isinstance(caught.value, el.StoreUnavailable)
    assert await store.stream_version("s") == 0


async def test_a_program_limit_the_server_reports_is_the_callers_mistake_not_a_lost_connection(
    backend: PostgresBackend,
) -> None:
    store = await backend.open()
    assert isinstance(store, PostgresEventStore)
    # A value the server refuses (class 54, program_limit_exceeded) comes back on a connection
    # that is still fine; the store must not take it for a dropped one.
    with pytest.raises(el.InvalidArgument, match="array size exceeds the maximum") as caught:
        await store._connections.run(b"SELECT array_fill(0, ARRAY[200000000])", (), "build a huge array")
    assert not isinstance(caught.value, el.StoreUnavailable)
    assert await store.stream_version("s") == 0  # the store goes on working
