"""The SQLite store's schema is versioned: older files are upgraded on open, newer ones refused."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

import eventledger as el
from eventledger.errors import StoreSchemaError
from eventledger.store.sqlite import SQLiteEventStore
from eventledger.store.sqlite_schema import SCHEMA_VERSION, migrations, split_script
from events import noted


def write_version_1_file(path: Path) -> None:
    """A store file as release 1 of the schema left it: its tables, triggers and two events."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode = WAL")
        for statement in split_script(migrations("")[0]):
            db.execute(statement)
        db.execute("CREATE TABLE eventledger_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        db.execute("INSERT INTO eventledger_schema VALUES ('store', 1)")
        for version, note in enumerate(["a", "b"], start=1):
            db.execute(
                "INSERT INTO events (stream_id, version, event_id, type, schema_version, data, "
                "recorded_at) VALUES ('s', ?, ?, 'test.order-noted', 1, ?, 0)",
                (version, str(uuid.uuid4()), f'{{"note":"{note}"}}'),
            )


@pytest.fixture
def version_1_file(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    write_version_1_file(path)
    return path


def replace_first_event(path: Path) -> sqlite3.Error | None:
    """What another program could send: REPLACE over the stored event at position 1."""
    db = sqlite3.connect(path)
    try:
        db.execute(
            "INSERT OR REPLACE INTO events "
            "(position, stream_id, version, event_id, type, data, recorded_at) "
            "VALUES (1, 'intruder', 1, ?, 'Tampered', '{}', 0)",
            (str(uuid.uuid4()),),
        )
        db.commit()
    except sqlite3.Error as error:
        return error
    finally:
        db.close()
    return None


async def test_a_version_1_file_is_upgraded_on_open_and_then_refuses_replace(
    version_1_file: Path,
) -> None:
    async with el.open_store(f"sqlite:///{version_1_file}") as store:
        assert isinstance(store, SQLiteEventStore)
        assert await store.schema_version() == SCHEMA_VERSION == 2
        error = replace_first_event(version_1_file)
        assert error is not None and "immutable" in str(error)
        stored = [(r.position, r.version, r.event.note) async for r in store.read_all()]  # type: ignore[attr-defined]
        assert stored == [(1, 1, "a"), (2, 2, "b")]
        result = await store.append("s", [noted("c")], expected_version=2)
        assert (result.version, result.positions) == (3, (3,))


async def test_a_file_with_a_newer_schema_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    async with el.open_store(f"sqlite:///{path}"):
        pass
    with sqlite3.connect(path) as db:
        db.execute("UPDATE eventledger_schema SET version = 99 WHERE component = 'store'")
    with pytest.raises(StoreSchemaError) as caught:
        await el.open_store(f"sqlite:///{path}")
    assert "99" in str(caught.value)
    assert "upgrade eventledger" in str(caught.value)
