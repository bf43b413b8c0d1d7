"""Every sqlite3 error leaves the SQLite store as a member of the library's error family.

A refusal by the database (a trigger another program added, a constraint that is not a version
conflict) is a StoreError naming the stream, never swallowed and never a ConcurrencyError; a
lock held past lock_timeout is StoreUnavailable; nothing of a refused batch is written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import eventledger as el
from events import noted


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


def add_poison_trigger(path: Path) -> None:
    """A trigger of another program's: it refuses any event whose data mentions "poison"."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON events WHEN NEW.data LIKE '%poison%' "
            "BEGIN SELECT RAISE(ABORT, 'poison is not allowed here'); END"
        )


@pytest.mark.parametrize("poisoned", [1, 2, 4], ids=["second-row", "third-row", "last-row"])
async def test_a_batch_whose_later_row_is_refused_raises_and_writes_nothing(
    path: Path, poisoned: int
) -> None:
    async with el.open_store(f"sqlite:///{path}") as store:
        await store.append("other", [noted("before")], expected_version=el.NO_STREAM)
        head = await store.head_position()
        add_poison_trigger(path)
        batch = [noted(f"fine-{index}") for index in range(5)]
        batch[poisoned] = noted("poison")
        with pytest.raises(el.StoreError) as caught:
            await store.append("s", batch, expected_version=el.NO_STREAM)
        assert not isinstance(caught.value, el.StoreUnavailable), "a refusal is not an outage"
        assert "'s'" in str(caught.value)
        assert "poison is not allowed here" in str(caught.value)
        assert await store.stream_version("s") == 0
        assert await store.head_position() == head
        # The store is still usable, and the next append takes the next position.
        result = await store.append("s", [noted("after")], expected_version=el.NO_STREAM)
        assert result.positions == (head + 1,)


async def test_a_single_event_refused_by_the_database_raises_store_error_not_a_conflict(path: Path) -> None:
    async with el.open_store(f"sqlite:///{path}") as store:
        add_poison_trigger(path)
        for expected in (el.NO_STREAM, el.ANY):
            with pytest.raises(el.StoreError) as caught:
                await store.append("s", [noted("poison")], expected_version=expected)
            assert not isinstance(caught.value, el.ConcurrencyError | el.StoreUnavailable)
            assert "'s'" in str(caught.value)
        assert await store.head_position() == 0


async def test_an_append_that_waits_past_lock_timeout_raises_store_unavailable(path: Path) -> None:
    async with el.open_store(f"sqlite:///{path}?lock_timeout=0.2") as store:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(el.StoreUnavailable) as caught:
                await store.append("s", [noted("a")], expected_version=el.ANY)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert "locked" in str(caught.value)
        assert "'s'" in str(caught.value)
        assert str(path) in str(caught.value)
        await store.append("s", [noted("a")], expected_version=el.ANY)


async def test_opening_an_up_to_date_store_does_not_wait_for_another_writers_lock(path: Path) -> None:
    async with el.open_store(f"sqlite:///{path}"):
        pass
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        async with el.open_store(f"sqlite:///{path}?lock_timeout=0.2") as store:
            assert await store.head_position() == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.fixture
def text_file(path: Path) -> Path:
    path.write_bytes(b"this is a text file, not a SQLite database\n" * 100)
    return path


async def test_a_file_that_is_not_a_database_raises_store_error_naming_it(text_file: Path) -> None:
    path = text_file
    with pytest.raises(el.StoreError) as caught:
        await el.open_store(f"sqlite:///{path}")
    assert not isinstance(caught.value, el.StoreUnavailable), "retrying cannot make it a database"
    assert str(path) in str(caught.value)
