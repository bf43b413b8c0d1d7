"""`eventledger migrate`: create or upgrade the store's schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from parcels import Invoke, append, registered

from eventledger.store.sqlite_schema import SCHEMA_VERSION


def test_creates_the_schema_of_a_new_store(invoke: Invoke, store_path: Path) -> None:
    result = invoke("migrate")

    assert result.exit_code == 0, result.output
    assert f"schema version {SCHEMA_VERSION}" in result.stdout
    with sqlite3.connect(store_path) as database:
        tables = {row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"events", "snapshots"} <= tables


def test_is_idempotent_and_keeps_every_event(invoke: Invoke, store_url: str) -> None:
    append(store_url, "parcel-1", registered("1"))

    first = invoke("migrate")
    second = invoke("migrate")

    assert first.exit_code == second.exit_code == 0
    assert "1 events in the log" in second.stdout
