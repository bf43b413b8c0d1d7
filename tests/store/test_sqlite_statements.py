"""The SQLite store's statements do what ``eventledger.store.sqlite_statements`` says of them.

Run on a real file with the store's own schema, through plain ``sqlite3``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventledger.store.sqlite_schema import migrations, split_script
from eventledger.store.sqlite_statements import SQLiteStatements

SQL = SQLiteStatements.for_prefix("")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tmp_path / "events.db", isolation_level=None)
    for script in migrations(""):
        for statement in split_script(script):
            connection.execute(statement)
    yield connection
    connection.close()


def row(event_id: str) -> tuple[object, ...]:
    """An event's columns after its version: event id, type, schema version, data, metadata, time."""
    return (event_id, "t", 1, "{}", None, 0)


def append_exact(db: sqlite3.Connection, stream: str, expected: int, event_id: str) -> int:
    cursor = db.execute(SQL.append_exact, (stream, expected, stream, *row(event_id)))
    return int(db.execute("SELECT version FROM events WHERE position = ?", (cursor.lastrowid,)).fetchone()[0])


def test_an_exact_append_writes_the_version_after_the_expected_one(db: sqlite3.Connection) -> None:
    assert append_exact(db, "s", 0, "e1") == 1
    assert append_exact(db, "s", 1, "e2") == 2


@pytest.mark.parametrize("expected", [0, 2])
def test_an_exact_append_at_another_version_is_refused_by_the_not_null_constraint(
    db: sqlite3.Connection, expected: int
) -> None:
    append_exact(db, "s", 0, "e1")

    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        append_exact(db, "s", expected, "e2")


def test_the_exact_append_stages_no_rows_in_a_temporary_table(db: sqlite3.Connection) -> None:
    opcodes = [step[1] for step in db.execute("EXPLAIN " + SQL.append_exact, ("s", 0, "s", *row("e1")))]

    assert "OpenEphemeral" not in opcodes


def test_an_any_append_numbers_after_the_streams_maximum(db: sqlite3.Connection) -> None:
    first = db.execute(SQL.append_any, ("s", "s", *row("e1"))).fetchall()
    second = db.execute(SQL.append_any, ("s", "s", *row("e2"))).fetchall()

    assert [version for _, version in first + second] == [1, 2]


def test_a_stream_exists_append_to_an_empty_stream_is_refused(db: sqlite3.Connection) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        db.execute(SQL.append_existing, ("s", "s", *row("e1"))).fetchall()


def test_a_stream_exists_append_follows_the_streams_last_version(db: sqlite3.Connection) -> None:
    append_exact(db, "s", 0, "e1")

    [(_, version)] = db.execute(SQL.append_existing, ("s", "s", *row("e2"))).fetchall()

    assert version == 2


def test_a_type_filtered_read_takes_one_parameter_per_type(db: sqlite3.Connection) -> None:
    for number, type_name in enumerate(["a", "b", "c"], start=1):
        db.execute(SQL.append_rest, (number, "s", number, f"e{number}", type_name, 1, "{}", None, 0))

    rows = db.execute(SQL.read_all_of_types(2), (0, "a", "c", 10)).fetchall()

    assert [read[4] for read in rows] == ["a", "c"]
