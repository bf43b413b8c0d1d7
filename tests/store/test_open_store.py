"""open_store: one URL chooses and configures the backend; bad URLs are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

import eventledger as el
from eventledger.errors import InvalidStoreURL
from eventledger.store.memory import MemoryEventStore
from eventledger.store.sqlite import SQLiteEventStore
from eventledger.store.sqlite_schema import SCHEMA_VERSION
from events import noted


async def test_memory_url_opens_a_memory_store() -> None:
    store = await el.open_store("memory://")
    assert isinstance(store, MemoryEventStore)
    await store.close()


async def test_sqlite_url_with_an_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "abs.db"
    async with el.open_store(f"sqlite:///{path}") as store:
        assert isinstance(store, SQLiteEventStore)
        await store.append("s", [noted("a")], expected_version=el.NO_STREAM)
    assert path.exists()


async def test_sqlite_url_with_a_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    async with el.open_store("sqlite:///data/rel.db") as store:
        assert isinstance(store, SQLiteEventStore)
        assert store.path == Path("data/rel.db")
    assert (tmp_path / "data" / "rel.db").exists()


async def test_sqlite_store_is_reopened_with_its_events(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'again.db'}"
    async with el.open_store(url) as store:
        await store.append("s", [noted("a"), noted("b")], expected_version=el.NO_STREAM)
    async with el.open_store(url) as store:
        assert await store.stream_version("s") == 2
        assert isinstance(store, SQLiteEventStore)
        assert await store.schema_version() == SCHEMA_VERSION


async def test_sqlite_url_options_are_applied(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}?synchronous=full&poll_interval=0.2&prefix=app_"
    async with el.open_store(url) as store:
        assert isinstance(store, SQLiteEventStore)
        assert store.poll_interval == 0.2
        assert store.events_table == "app_events"
        await store.append("s", [noted("a")], expected_version=el.NO_STREAM)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("orders.db", "scheme"),
        ("mysql://localhost/db", "unknown scheme 'mysql'"),
        ("sqlite://", "names no file"),
        ("sqlite:///", "names no file"),
        ("sqlite://host/file.db", "no host"),
        ("sqlite:///x.db?colour=blue", "unknown option 'colour'"),
        ("sqlite:///x.db?lock_timeout=soon", "lock_timeout"),
        ("sqlite:///x.db?prefix=Robert'); DROP TABLE events;--", "prefix"),
        ("sqlite:///x.db?synchronous=sometimes", "synchronous"),
        ("memory://somewhere", "no path"),
    ],
)
async def test_malformed_or_unknown_urls_raise_invalid_store_url(url: str, reason: str) -> None:
    with pytest.raises(InvalidStoreURL) as caught:
        await el.open_store(url)
    message = str(caught.value)
    assert url.split("?")[0] in message
    assert reason in message
    assert "memory://" in message and "sqlite:///" in message and "postgresql://" in message


async def test_unopenable_sqlite_file_raises_store_unavailable_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(el.StoreUnavailable) as caught:
        await el.open_store(f"sqlite:///{tmp_path}/missing-dir/x.db")
    assert "missing-dir/x.db" in str(caught.value)
