"""The CLI tests' little domain (parcels), and helpers to put events in a store and read results."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

import eventledger as el
from eventledger.projections import Projection, SQLiteTarget, SQLTransaction, handles


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


class ParcelWeights(Projection[SQLTransaction], name="parcel-weights"):
    """Total weight registered per parcel: the projection the `projections` and `run` tests use."""

    tables = ("parcel_weights",)

    async def setup(self, sql: SQLTransaction) -> None:
        await sql.execute(
            f"CREATE TABLE {sql.table('parcel_weights')} (parcel_id TEXT PRIMARY KEY, grams INTEGER NOT NULL)"
        )

    @handles
    async def registered(
        self, event: ParcelRegistered, recorded: el.RecordedEvent, sql: SQLTransaction
    ) -> None:
        if is_refused(event.parcel_id):
            raise ValueError(f"parcel {event.parcel_id} is on the refused list")
        await sql.execute(
            f"INSERT INTO {sql.table('parcel_weights')} (parcel_id, grams) VALUES (%s, %s) "
            "ON CONFLICT (parcel_id) DO UPDATE SET grams = excluded.grams",
            (event.parcel_id, event.weight_grams),
        )


def is_refused(parcel_id: str) -> bool:
    """Is ``parcel_id`` in the file :data:`REFUSED_VARIABLE` names? (a small file, read per event)"""
    refused = os.environ.get(REFUSED_VARIABLE)
    if not refused or not Path(refused).exists():
        return False
    return parcel_id in Path(refused).read_text().split()


READ_MODEL_VARIABLE = "PARCELS_READ_MODEL"
REFUSED_VARIABLE = "PARCELS_REFUSED"
"""A file of parcel ids the projection refuses to apply (a cause an operator can fix, then retry)."""


def parcel_projections() -> list[Projection[SQLTransaction]]:
    """What `--app parcels:parcel_projections` names: configured from the environment, as apps are.

    The variable holds a SQLite file's path or a ``postgresql://`` URL.
    """
    where = os.environ[READ_MODEL_VARIABLE]
    if where.startswith("postgresql://"):
        from eventledger.projections.targets.postgres import PostgresTarget

        return [ParcelWeights(PostgresTarget(where))]
    return [ParcelWeights(SQLiteTarget(where))]


def parcel_projections_for(store: el.EventStore) -> list[Projection[SQLTransaction]]:
    """The form that takes the open store."""
    return parcel_projections()


class SegmentedParcelWeights(ParcelWeights, name="parcel-weights", segments=2):
    """The same read model, applied by two segments."""


def segmented_parcel_projections() -> list[Projection[SQLTransaction]]:
    """What `--app parcels:segmented_parcel_projections` names (a SQLite read model)."""
    return [SegmentedParcelWeights(SQLiteTarget(os.environ[READ_MODEL_VARIABLE]))]


seen_store_urls: list[str | None] = []
"""What ``parcel_projections_noting_the_environment`` found in ``EVENTLEDGER_URL``, call by call."""


def parcel_projections_noting_the_environment() -> list[Projection[SQLTransaction]]:
    """Like ``parcel_projections``, noting what the environment says the store is."""
    seen_store_urls.append(os.environ.get("EVENTLEDGER_URL"))
    return parcel_projections()


not_projections = {"parcel-weights": "a dict is not a list of projections"}


def stored_weights(path: Path) -> dict[str, int]:
    """The read model's rows, read straight from its SQLite file."""
    with sqlite3.connect(path) as database:
        return dict(database.execute("SELECT parcel_id, grams FROM parcel_weights").fetchall())
