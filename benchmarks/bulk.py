"""Filling a log fast, for the read workloads (R1, R2, M1), whose measured part is only the reading.

Appending a million events through each library's API would take minutes per contender (a
random UUID index outgrows SQLite's default 2 MB page cache). So the read workloads' events go
in with bulk SQL: one transaction per contender, in that contender's own table layout, with
values its own API would have written. Every measured read still goes through the contender's
own API.

Every event gets a time of its own, a millisecond after the one before, as a log written one
append at a time would have: a log whose events share one ``recorded_at`` lets a reader convert
one time per page instead of one per event, a shortcut no real log offers.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.payload import TYPE_NAME, fields
from benchmarks.places import Place

_DISTINCT_PAYLOADS = 1000
_FIRST_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def recorded_times(total: int) -> Iterator[datetime]:
    """``total`` distinct times, a millisecond apart."""
    step = timedelta(milliseconds=1)
    return (_FIRST_TIME + index * step for index in range(total))


def event_rows(
    total: int, stream_length: int, prefix: str = "m1", *, sqlite: bool
) -> Iterator[tuple[Any, ...]]:
    """(stream_id, version, event_id, type, schema_version, data, recorded_at) for eventledger's
    layout: streams ``{prefix}-0``, ``{prefix}-1``, ... of ``stream_length`` events, each with a
    time of its own (microseconds since the epoch on SQLite, a ``datetime`` for PostgreSQL)."""
    payloads = [json.dumps(fields(index), separators=(",", ":")) for index in range(_DISTINCT_PAYLOADS)]
    for index, moment in enumerate(recorded_times(total)):
        stream, offset = divmod(index, stream_length)
        recorded: Any = int(moment.timestamp() * 1_000_000) if sqlite else moment
        yield (f"{prefix}-{stream}", offset + 1, str(uuid.uuid4()), TYPE_NAME, 1,
               payloads[index % _DISTINCT_PAYLOADS], recorded)


def into_sqlite(path: str, statement: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert ``rows`` with ``statement`` in one transaction, with a page cache big enough."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA cache_size = -262144")
        db.execute("BEGIN IMMEDIATE")
        db.executemany(statement, rows)
        db.execute("COMMIT")
    finally:
        db.close()


def into_postgres(
    place: Place, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]
) -> None:
    """COPY ``rows`` into ``table`` (schema-qualified by the place) in one transaction."""
    import psycopg
    from psycopg import sql

    target = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
        sql.Identifier(place.schema), sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with psycopg.connect(place.conninfo) as connection, connection.cursor() as cursor:
        with cursor.copy(target) as copy:
            for row in rows:
                copy.write_row(row)
        connection.commit()
