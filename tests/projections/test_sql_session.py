"""The SQL session handlers write through: one placeholder style, declared tables, safe names."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from eventledger.errors import ProjectionDefinitionError
from eventledger.projections.sql import quote_identifier
from eventledger.projections.targets.sqlite import SQLiteTransaction
from eventledger.store.drivers.placeholders import to_qmark


def test_psycopg_placeholders_are_rewritten_for_sqlite() -> None:
    assert to_qmark("SELECT %s, %(name)s, '100%%'") == "SELECT ?, :name, '100%'"


async def test_sqlite_stores_decimals_uuids_and_datetimes_as_text() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (amount TEXT, id TEXT, at TEXT)")
    sql = SQLiteTransaction(db, {"t": "t"})
    identifier = uuid.uuid4()
    moment = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    await sql.execute("INSERT INTO t VALUES (%s, %s, %s)", (Decimal("12.50"), identifier, moment))
    assert await sql.fetch_one("SELECT amount, id, at FROM t") == (
        "12.50",
        str(identifier),
        "2024-05-01T12:30:00+00:00",
    )


async def test_sqlite_adapts_parameters_given_as_a_list_or_by_name_like_a_tuple(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "read.db")
    db.execute("CREATE TABLE t (amount TEXT, at TEXT)")
    sql = SQLiteTransaction(db, {"t": "t"})
    moment = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    await sql.execute("INSERT INTO t VALUES (%s, %s)", [Decimal("1.50"), moment])
    await sql.execute("INSERT INTO t VALUES (%(amount)s, %(at)s)", {"amount": Decimal("2.50"), "at": moment})
    assert await sql.fetch_all("SELECT amount, at FROM t ORDER BY amount") == [
        ("1.50", "2024-05-01T12:30:00+00:00"),
        ("2.50", "2024-05-01T12:30:00+00:00"),
    ]
    db.close()


async def test_named_parameters_work_on_sqlite() -> None:
    db = sqlite3.connect(":memory:")
    sql = SQLiteTransaction(db, {})
    assert await sql.fetch_all("SELECT %(a)s + %(b)s", {"a": 2, "b": 3}) == [(5,)]


async def test_execute_returns_the_number_of_rows_changed() -> None:
    db = sqlite3.connect(":memory:")
    sql = SQLiteTransaction(db, {})
    await sql.execute("CREATE TABLE t (a INTEGER)")
    await sql.execute_many("INSERT INTO t VALUES (%s)", [(1,), (2,), (3,)])
    assert await sql.execute("UPDATE t SET a = a + 1 WHERE a > %s", (1,)) == 2


def test_an_undeclared_table_is_refused_naming_the_declared_ones() -> None:
    sql = SQLiteTransaction(sqlite3.connect(":memory:"), {"balances": '"balances_v1_b1"'})
    with pytest.raises(ProjectionDefinitionError, match=r"'ledger' is not declared.*declared: balances"):
        sql.table("ledger")


@pytest.mark.parametrize("name", ['x"; DROP TABLE events; --', "Upper", "", "9lives"])
def test_identifiers_that_could_inject_sql_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        quote_identifier(name)
