"""A SQLite store opened with ``?mode=ro`` reads, follows and checks a store without ever writing it.

An append or a snapshot raises ReadOnlyStore naming the cause (never StoreUnavailable: retrying
cannot help); a missing file or a missing, older or newer schema raises StoreSchemaError,
because a read-only store may not create or migrate anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_sqlite_schema import write_version_1_file

import eventledger as el
from eventledger.errors import ReadOnlyStore, StoreSchemaError
from eventledger.store import Snapshot
from events import noted

READER = Path(__file__).with_name("read_only_reader.py")


@pytest.fixture
async def written(tmp_path: Path) -> Path:
    """A store file with two streams, closed again (so its WAL is checkpointed away)."""
    path = tmp_path / "events.db"
    async with el.open_store(f"sqlite:///{path}") as store:
        await store.append("a", [noted("a1"), noted("a2")], expected_version=el.NO_STREAM)
        await store.append("b", [noted("b1")], expected_version=el.NO_STREAM)
    return path


@pytest.fixture
async def reader(written: Path) -> AsyncIterator[el.EventStore]:
    async with el.open_store(f"sqlite:///{written}?mode=ro") as store:
        yield store


def notes(recorded: list[el.RecordedEvent]) -> list[str]:
    return [r.event.note for r in recorded]  # type: ignore[attr-defined]


async def test_a_read_only_store_reads_streams_and_the_log(reader: el.EventStore) -> None:
    assert notes([r async for r in reader.read_stream("a")]) == ["a1", "a2"]
    assert notes([r async for r in reader.read_all()]) == ["a1", "a2", "b1"]
    assert await reader.stream_version("a") == 2
    assert await reader.head_position() == 3
    assert [s.stream_id for s in await reader.list_streams()] == ["a", "b"]


async def test_a_read_only_store_follows_a_writer_live(written: Path, reader: el.EventStore) -> None:
    received: list[str] = []

    async def follow() -> None:
        async for recorded in reader.subscribe(after=3):
            received.append(recorded.event.note)  # type: ignore[attr-defined]
            return

    following = asyncio.create_task(follow())
    async with el.open_store(f"sqlite:///{written}") as writer:
        await writer.append("a", [noted("a3")], expected_version=2)
        try:
            async with asyncio.timeout(10):
                await following
        except TimeoutError:
            following.cancel()
            raise AssertionError("the read-only subscriber missed the writer's event for 10 s") from None
    assert received == ["a3"]


async def test_check_store_works_on_a_read_only_store(reader: el.EventStore) -> None:
    report = await el.check_store(reader)
    assert report.events_checked == 3
    assert not report.incompatible


async def test_an_append_to_a_read_only_store_raises_read_only_store_naming_the_cause(
    written: Path, reader: el.EventStore
) -> None:
    with pytest.raises(ReadOnlyStore) as caught:
        await reader.append("a", [noted("a3")], expected_version=2)
    error = caught.value
    assert str(written) in error.where
    assert "'a'" in error.doing
    assert "mode=ro" in error.reason
    assert await reader.stream_version("a") == 2


async def test_saving_a_snapshot_on_a_read_only_store_raises_read_only_store(reader: el.EventStore) -> None:
    with pytest.raises(ReadOnlyStore):
        await reader.save_snapshot(Snapshot("a", 2, "Thing", 1, {"n": 2}))
    assert await reader.load_snapshot("a") is None


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_read_only_session_leaves_the_file_untouched(written: Path) -> None:
    before = digest(written)
    async with el.open_store(f"sqlite:///{written}?mode=ro") as store:
        [r async for r in store.read_all()]
        with pytest.raises(ReadOnlyStore):
            await store.append("c", [noted("c1")], expected_version=el.NO_STREAM)
    assert digest(written) == before


async def test_opening_a_missing_file_read_only_raises_store_schema_error_and_creates_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nothing-here.db"
    with pytest.raises(StoreSchemaError) as caught:
        await el.open_store(f"sqlite:///{path}?mode=ro")
    assert str(path) in str(caught.value)
    assert "does not exist" in str(caught.value)
    assert not path.exists()


@pytest.fixture
def foreign_file(tmp_path: Path) -> Path:
    """A SQLite file of another program's, without eventledger's tables."""
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (name TEXT)")
    return path


async def test_opening_a_file_without_a_store_read_only_raises_store_schema_error(foreign_file: Path) -> None:
    with pytest.raises(StoreSchemaError, match="has no eventledger store"):
        await el.open_store(f"sqlite:///{foreign_file}?mode=ro")
    with sqlite3.connect(foreign_file) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert tables == ["customers"]


@pytest.fixture
def version_1_file(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    write_version_1_file(path)
    return path


async def test_opening_an_outdated_file_read_only_raises_store_schema_error_and_migrates_nothing(
    version_1_file: Path,
) -> None:
    with pytest.raises(StoreSchemaError) as caught:
        await el.open_store(f"sqlite:///{version_1_file}?mode=ro")
    assert "version 1" in str(caught.value)
    assert "needs version 2" in str(caught.value)
    with sqlite3.connect(version_1_file) as db:
        assert db.execute("SELECT version FROM eventledger_schema").fetchone() == (1,)


# ----------------------------------------------------------------------------- read-only disks
# Root ignores file permissions, so a chmod proves nothing when the tests run as root. There the
# reader runs in a private mount namespace where the store's directory is bind-mounted
# read-only: even root cannot write through it (EROFS), as on a read-only volume.


def read_only_view(directory: Path) -> list[str]:
    """The command prefix that runs a program with ``directory`` read-only (chmod when not root)."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        for child in directory.iterdir():
            child.chmod(0o444)
        return []
    probe = subprocess.run(
        ["unshare", "--mount", "--", "mount", "--bind", "-o", "ro", str(directory), str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, f"cannot make a read-only view of the directory as root: {probe.stderr}"
    remount = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    return ["unshare", "--mount", "--", "sh", "-c", remount, str(directory)]


def writable_again(directory: Path) -> None:
    if os.geteuid() != 0:
        directory.chmod(0o755)


async def read_through_a_read_only_view(directory: Path, url: str) -> dict[str, object]:
    command = [*read_only_view(directory), sys.executable, str(READER), url]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), *sys.path])}
    try:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment
        )
        out, err = await process.communicate()
    finally:
        writable_again(directory)
    assert process.returncode == 0, err.decode()
    result: dict[str, object] = json.loads(out)
    return result


async def test_a_read_only_store_on_a_read_only_disk_reads_a_live_store(written: Path) -> None:
    async with el.open_store(f"sqlite:///{written}") as writer:
        await writer.append("b", [noted("b2")], expected_version=1)
        # The writer stays open, so the WAL's -shm and -wal files exist beside the file.
        result = await read_through_a_read_only_view(written.parent, f"sqlite:///{written}?mode=ro")
        assert result["open"] == "ok", result
        assert result["notes"] == ["a1", "a2", "b1", "b2"]
        assert result["append"] == "ReadOnlyStore", result
        assert "mode=ro" in str(result["message"])
        assert await writer.stream_version("s") == 0


async def test_a_writable_store_on_a_read_only_disk_opens_and_refuses_appends(written: Path) -> None:
    async with el.open_store(f"sqlite:///{written}"):
        result = await read_through_a_read_only_view(written.parent, f"sqlite:///{written}")
    assert result["open"] == "ok", result
    assert result["notes"] == ["a1", "a2", "b1"]
    assert result["append"] == "ReadOnlyStore", result
    assert "not writable" in str(result["message"])


async def test_a_read_only_disk_without_the_wal_files_raises_read_only_store_saying_why(
    written: Path,
) -> None:
    result = await read_through_a_read_only_view(written.parent, f"sqlite:///{written}?mode=ro")
    assert result["open"] == "ReadOnlyStore", result
    assert "-shm" in str(result["message"])
    assert str(written) in str(result["message"])
