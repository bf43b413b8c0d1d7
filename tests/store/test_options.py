"""Store and target options are checked before anything is opened, alike in URLs and keywords.

Intervals and timeouts must be finite and above zero (a non-positive poll_interval made an idle
subscriber spin at a full core); PostgreSQL's own schemas are refused before any connection is
made. Each refusal is an InvalidArgument (InvalidStoreURL for a store URL) naming the option.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import eventledger as el
from eventledger.errors import InvalidStoreURL
from eventledger.projections.targets.postgres import PostgresTarget
from eventledger.projections.targets.sqlite import SQLiteTarget
from eventledger.store.drivers.postgres import parse_postgres_url
from eventledger.store.sqlite import SQLiteEventStore

# Nothing listens on port 1: a check that ran only after connecting would raise StoreUnavailable.
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/test"


@pytest.mark.parametrize(
    "query",
    [
        "poll_interval=-1",
        "poll_interval=0",
        "poll_interval=nan",
        "poll_interval=inf",
        "poll_interval=soon",
        "lock_timeout=-5",
        "lock_timeout=0",
        "lock_timeout=inf",
        "mode=rw",
    ],
)
async def test_a_bad_sqlite_url_option_is_refused_naming_it(tmp_path: Path, query: str) -> None:
    path = tmp_path / "x.db"
    with pytest.raises(InvalidStoreURL) as caught:
        await el.open_store(f"sqlite:///{path}?{query}")
    assert f"option {query.split('=')[0]}=" in str(caught.value)
    assert not path.exists(), "the file was created before the options were checked"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("poll_interval", -1),
        ("poll_interval", 0),
        ("poll_interval", float("nan")),
        ("poll_interval", True),
        ("lock_timeout", -5.0),
        ("lock_timeout", float("inf")),
        ("synchronous", "sometimes"),
        ("prefix", "Robert'); DROP TABLE events;--"),
        ("colour", "blue"),
    ],
)
async def test_a_bad_sqlite_keyword_option_is_refused_naming_it(
    tmp_path: Path, option: str, value: object
) -> None:
    with pytest.raises(InvalidStoreURL) as caught:
        await el.open_store(f"sqlite:///{tmp_path / 'x.db'}", **{option: value})
    assert option in str(caught.value)


async def test_the_sqlite_store_class_refuses_a_bad_option_naming_it(tmp_path: Path) -> None:
    with pytest.raises(el.InvalidArgument, match="option poll_interval=-1"):
        SQLiteEventStore(tmp_path / "x.db", poll_interval=-1)


async def test_memory_url_refuses_options() -> None:
    with pytest.raises(InvalidStoreURL, match="poll_interval"):
        await el.open_store("memory://", poll_interval=-1)


@pytest.mark.parametrize(
    "query",
    [
        "schema=information_schema",
        "schema=pg_catalog",
        "schema=pg_toast",
        "schema=pg_temp_1",
        "schema=pg_eventledger",
        "poll_interval=0",
        "poll_interval=nan",
        "poll_interval=inf",
    ],
)
async def test_a_bad_postgres_url_option_is_refused_before_connecting(query: str) -> None:
    with pytest.raises(InvalidStoreURL) as caught:
        await el.open_store(f"{UNREACHABLE}?{query}")
    assert f"option {query.split('=')[0]}=" in str(caught.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [("schema", "information_schema"), ("schema", "pg_x"), ("poll_interval", -0.5)],
)
async def test_a_bad_postgres_keyword_option_is_refused_before_connecting(option: str, value: object) -> None:
    with pytest.raises(InvalidStoreURL, match=option):
        await el.open_store(UNREACHABLE, **{option: value})


def test_the_public_schema_is_an_ordinary_user_schema_and_allowed() -> None:
    assert parse_postgres_url(f"{UNREACHABLE}?schema=public", {}).schema == "public"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("lock_timeout", 0),
        ("lock_timeout", float("nan")),
        ("synchronous", "sometimes"),
        ("prefix", ""),
        ("prefix", "Bad-Prefix"),
    ],
)
def test_a_bad_sqlite_target_option_is_refused_naming_it(tmp_path: Path, option: str, value: object) -> None:
    with pytest.raises(el.InvalidArgument, match=f"option {option}="):
        SQLiteTarget(tmp_path / "read.db", **{option: value})


def test_a_bad_postgres_target_prefix_is_refused_naming_it() -> None:
    with pytest.raises(el.InvalidArgument, match="option prefix="):
        PostgresTarget(UNREACHABLE, prefix="Bad-Prefix")


@pytest.mark.parametrize("schema", ["information_schema", "pg_read_models"])
def test_a_postgres_target_in_a_system_schema_is_refused(schema: str) -> None:
    with pytest.raises(InvalidStoreURL, match="option schema="):
        PostgresTarget(UNREACHABLE, schema=schema)


# ----------------------------------------------------------------------------- durability


def synchronous_of(db: sqlite3.Connection) -> str:
    return {0: "off", 1: "normal", 2: "full", 3: "extra"}[db.execute("PRAGMA synchronous").fetchone()[0]]


async def test_the_sqlite_store_commits_durably_by_default(tmp_path: Path) -> None:
    async with el.open_store(f"sqlite:///{tmp_path / 'x.db'}") as store:
        assert isinstance(store, SQLiteEventStore)
        assert synchronous_of(store._db) == "full"


async def test_synchronous_normal_is_an_explicit_choice(tmp_path: Path) -> None:
    async with el.open_store(f"sqlite:///{tmp_path / 'x.db'}?synchronous=normal") as store:
        assert isinstance(store, SQLiteEventStore)
        assert synchronous_of(store._db) == "normal"


def test_the_sqlite_target_commits_durably_by_default(tmp_path: Path) -> None:
    db = SQLiteTarget(tmp_path / "read.db").open_database()
    try:
        assert synchronous_of(db) == "full"
    finally:
        db.close()
