"""The CLI tests' little domain (parcels), and helpers to put events in a store and read results."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

import eventledger as el


class ParcelRegistered(el.Event, type_name="cli-test.ParcelRegistered"):
    parcel_id: str
    weight_grams: int


class ParcelShipped(el.Event, type_name="cli-test.ParcelShipped"):
    parcel_id: str
    carrier: str


Invoke = Callable[..., Result]


def append(url: str, stream_id: str, *events: el.Event, metadata: dict[str, str] | None = None) -> None:
    """Append to the store at ``url`` (a real SQLite file) from synchronous test code."""

    async def write() -> None:
        async with el.open_store(url) as store:
            await store.append(stream_id, list(events), expected_version=el.ANY, metadata=metadata)

    asyncio.run(write())


def registered(parcel_id: str, weight_grams: int = 500) -> ParcelRegistered:
    return ParcelRegistered(parcel_id=parcel_id, weight_grams=weight_grams)


def shipped(parcel_id: str, carrier: str = "post") -> ParcelShipped:
    return ParcelShipped(parcel_id=parcel_id, carrier=carrier)


def insert_row_of_unknown_type(path: Path, stream_id: str, type_name: str) -> None:
    """Store an event whose type no class claims, the way an older release might have left one."""
    with sqlite3.connect(path) as database:
        version = database.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM events WHERE stream_id = ?", (stream_id,)
        ).fetchone()[0]
        database.execute(
            "INSERT INTO events (stream_id, version, event_id, type, schema_version, data, metadata, "
            "recorded_at) VALUES (?, ?, ?, ?, 1, '{}', NULL, 0)",
            (stream_id, version, str(uuid.uuid4()), type_name),
        )


def one_line_error(result: Result) -> str:
    """The command failed with exactly one line on stderr and no traceback; that line."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]
