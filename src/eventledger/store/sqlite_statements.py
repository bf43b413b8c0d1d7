"""Every statement the SQLite store runs, written out once, each with the reason for its shape.

The texts are templates over the store's table names (``{events}``, ``{snapshots}``), which
are built from a prefix that passed :func:`~eventledger.store.drivers.options.table_prefix`;
values always travel as ``?`` parameters. :class:`SQLiteStatements` fills them in once per store.

Why an append is safe without a lock of our own: SQLite takes the database's one write lock
before a write statement reads anything, so the version check inside an INSERT and the
insert itself cannot be separated by another writer, in this process or another. A batch
takes the write lock first (``BEGIN IMMEDIATE``), inserts its first event with the checked
statement and the rest with :data:`APPEND_REST` in that transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# The version is a scalar subquery inside VALUES, not INSERT ... SELECT: an INSERT whose SELECT
# reads its own table makes SQLite stage the rows in a temporary table first, which cost a
# quarter of a single-event append. A NULL version (the check failed) breaks the NOT NULL
# constraint, so the append is refused with nothing written and the store reports a
# ConcurrencyError after reading the actual version.

APPEND_EXACT: Final = """\
INSERT INTO {events} (stream_id, version, event_id, type, schema_version, data, metadata, recorded_at)
VALUES (?, (SELECT CASE WHEN coalesce(max(version), 0) = ? THEN coalesce(max(version), 0) + 1 END
            FROM {events} WHERE stream_id = ?), ?, ?, ?, ?, ?, ?)"""
"""Expected version exactly n: version n + 1 when the stream is at n, else NULL (refused).
Parameters: stream, expected, stream, event id, type, schema version, data, metadata, time.
No RETURNING: it too makes SQLite stage rows in a temporary table, and this form (every new
stream, every exact append) needs none: the caller knows the version, and the position is
the cursor's ``lastrowid``."""

APPEND_ANY: Final = """\
INSERT INTO {events} (stream_id, version, event_id, type, schema_version, data, metadata, recorded_at)
VALUES (?, (SELECT coalesce(max(version), 0) + 1 FROM {events} WHERE stream_id = ?), ?, ?, ?, ?, ?, ?)
RETURNING position, version"""
"""Expected version ANY: after whatever the stream holds (a new stream starts at 1)."""

APPEND_EXISTING: Final = """\
INSERT INTO {events} (stream_id, version, event_id, type, schema_version, data, metadata, recorded_at)
VALUES (?, (SELECT max(version) + 1 FROM {events} WHERE stream_id = ?), ?, ?, ?, ?, ?, ?)
RETURNING position, version"""
"""Expected version STREAM_EXISTS: max(version) is NULL for an empty stream, so it is refused."""

APPEND_REST: Final = """\
INSERT INTO {events} (position, stream_id, version, event_id, type, schema_version, data, metadata,
                      recorded_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""
"""A batch's later events, numbered by the store after the first: the batch holds the write
lock since ``BEGIN IMMEDIATE``, so the next positions and versions are its own."""

STREAM_VERSIONS: Final = """\
SELECT NULL, coalesce(max(position), 0) FROM {events}
UNION ALL
SELECT stream_id, max(version) FROM {events} WHERE stream_id IN ({streams}) GROUP BY stream_id"""
"""A multi-stream append's one read, under the write lock: the last position (first row), then
each named stream that has events with its version. Both maxima come from an index."""

# Positions are the table's INTEGER PRIMARY KEY. SQLite has one writer at a time and commits
# in the order writes happen, so positions become visible in order: reading the global log in
# position order never skips an event that commits later.
_SELECTED: Final = "position, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at"

READ_ALL: Final = f"SELECT {_SELECTED} FROM {{events}} WHERE position > ? ORDER BY position LIMIT ?"
"""One page of the global log after a position."""

READ_ALL_OF_TYPES: Final = (
    f"SELECT {_SELECTED} FROM {{events}} WHERE position > ? AND type IN ({{types}}) "
    "ORDER BY position LIMIT ?"
)
"""One page of the global log, only the given types (``{types}``: one ``?`` per type name)."""

READ_RAW: Final = (
    "SELECT position, stream_id, version, type, schema_version, data FROM {events} "
    "WHERE position > ? ORDER BY position LIMIT ?"
)
"""One page of undecoded rows, for the store-wide compatibility check."""

READ_STREAM_FORWARDS: Final = (
    f"SELECT {_SELECTED} FROM {{events}} WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ?"
)
READ_STREAM_BACKWARDS: Final = (
    f"SELECT {_SELECTED} FROM {{events}} WHERE stream_id = ? AND version <= ? "
    "ORDER BY version DESC LIMIT ?"
)
STREAM_VERSION: Final = "SELECT coalesce(max(version), 0) FROM {events} WHERE stream_id = ?"
HEAD_POSITION: Final = "SELECT coalesce(max(position), 0) FROM {events}"
LIST_STREAMS: Final = (
    "SELECT stream_id, max(version), max(recorded_at) FROM {events} "
    "WHERE stream_id > ? GROUP BY stream_id ORDER BY stream_id LIMIT ?"
)

SAVE_SNAPSHOT: Final = """\
INSERT INTO {snapshots} (stream_id, version, aggregate_type, schema_version, state, recorded_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (stream_id) DO UPDATE SET
    version = excluded.version, aggregate_type = excluded.aggregate_type,
    schema_version = excluded.schema_version, state = excluded.state,
    recorded_at = excluded.recorded_at
WHERE excluded.version >= version"""
"""One row per stream; an older snapshot (a slower writer) never replaces a newer one."""

LOAD_SNAPSHOT: Final = (
    "SELECT stream_id, version, aggregate_type, schema_version, state, recorded_at "
    "FROM {snapshots} WHERE stream_id = ?"
)


@dataclass(frozen=True, slots=True)
class SQLiteStatements:
    """The statements above for one store's tables (``prefix`` already validated)."""

    append_exact: str
    append_any: str
    append_existing: str
    append_rest: str
    read_all: str
    read_raw: str
    read_stream_forwards: str
    read_stream_backwards: str
    stream_version: str
    head_position: str
    list_streams: str
    save_snapshot: str
    load_snapshot: str
    events_table: str

    @classmethod
    def for_prefix(cls, prefix: str) -> SQLiteStatements:
        """Fill the templates in with the tables ``{prefix}events`` and ``{prefix}snapshots``."""
        names = {"events": f"{prefix}events", "snapshots": f"{prefix}snapshots"}
        return cls(
            append_exact=APPEND_EXACT.format(**names),
            append_any=APPEND_ANY.format(**names),
            append_existing=APPEND_EXISTING.format(**names),
            append_rest=APPEND_REST.format(**names),
            read_all=READ_ALL.format(**names),
            read_raw=READ_RAW.format(**names),
            read_stream_forwards=READ_STREAM_FORWARDS.format(**names),
            read_stream_backwards=READ_STREAM_BACKWARDS.format(**names),
            stream_version=STREAM_VERSION.format(**names),
            head_position=HEAD_POSITION.format(**names),
            list_streams=LIST_STREAMS.format(**names),
            save_snapshot=SAVE_SNAPSHOT.format(**names),
            load_snapshot=LOAD_SNAPSHOT.format(**names),
            events_table=names["events"],
        )

    def stream_versions(self, count: int) -> str:
        """:data:`STREAM_VERSIONS` for ``count`` streams (sqlite3 caches each count's text)."""
        return STREAM_VERSIONS.format(events=self.events_table, streams=",".join("?" * count))

    def read_all_of_types(self, count: int) -> str:
        """:data:`READ_ALL_OF_TYPES` for ``count`` type names (sqlite3 caches each count's text)."""
        return READ_ALL_OF_TYPES.format(events=self.events_table, types=",".join("?" * count))
