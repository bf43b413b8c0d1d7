"""The SQL the PostgreSQL store runs, built once per store around its validated schema name.

Two ideas carry the design; the reasons are written next to each statement.

- **An append is one statement.** It checks the expected version and inserts the whole batch,
  so a success costs one round trip. The unique ``(stream_id, version)`` constraint settles a
  race between two appenders aiming at the same version (the loser waits for the winner's
  commit and then fails on the constraint), so there is no lost update between "check the
  version" and "insert".
- **The global log is read through a visibility barrier.** See ``READ_ALL`` below.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventledger.store.postgres_schema import sql_text

SELECTED = (
    "event.position, event.stream_id, event.version, event.event_id, event.type, "
    "event.schema_version, event.data::text, event.metadata::text, event.recorded_at"
)
"""Columns of a read; JSON comes back as text so pydantic can parse it in one pass."""

# The barrier: every transaction id below the oldest one still running belongs to a
# transaction that has finished, so no row can ever appear below it again. Rows at or above
# it may still be joined by rows of transactions that commit later, so readers wait for them.
# A scalar subquery makes PostgreSQL evaluate it once per statement, not once per row.
BARRIER = "(SELECT pg_snapshot_xmin(pg_current_snapshot()))"

# The reader's cursor is a position; its place in the global order is that event's
# (transaction id, position). For a number that is no event's position, the nearest event at
# or below it stands in (0 before the first event).
CURSOR_TRANSACTION = (
    "coalesce((SELECT cursor.transaction_id FROM {events} AS cursor "
    "WHERE cursor.position <= %(after)s ORDER BY cursor.position DESC LIMIT 1), '0'::xid8)"
)


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel that announces appends to ``schema``'s events."""
    return f"eventledger.{schema}"


@dataclass(frozen=True, slots=True)
class Statements:
    """Every statement of one store, as bytes ready for psycopg (prepared on first use)."""

    append_one_exact: bytes
    append_one_any: bytes
    append_one_existing: bytes
    append_many_exact: bytes
    append_many_any: bytes
    append_many_existing: bytes
    stream_version: bytes
    read_stream_forwards: bytes
    read_stream_backwards: bytes
    read_all: bytes
    read_all_of_types: bytes
    read_raw: bytes
    head_position: bytes
    list_streams: bytes
    save_snapshot: bytes
    load_snapshot: bytes
    find_event: bytes
    visibility: bytes
    barrier: bytes
    notify: bytes
    schema_version: bytes

    @classmethod
    def for_schema(cls, schema: str) -> Statements:
        """Build the statements for ``schema`` (a validated identifier)."""
        events = f'"{schema}".events'
        snapshots = f'"{schema}".snapshots'
        appends = {
            f"append_{size}_{form}": sql_text(_append(events, size, form))
            for size in ("one", "many")
            for form in ("exact", "any", "existing")
        }
        cursor = CURSOR_TRANSACTION.format(events=events)
        read_all = (
            f"SELECT {SELECTED} FROM {events} AS event "
            f"WHERE (event.transaction_id, event.position) > ({cursor}, %(after)s) "
            f"AND event.transaction_id < {BARRIER} "
        )
        order = "ORDER BY event.transaction_id, event.position LIMIT %(limit)s"
        return cls(
            **appends,
            stream_version=sql_text(f"SELECT coalesce(max(version), 0) FROM {events} WHERE stream_id = %s"),
            read_stream_forwards=sql_text(
                f"SELECT {SELECTED} FROM {events} AS event WHERE event.stream_id = %s "
                "AND event.version >= %s ORDER BY event.version LIMIT %s"
            ),
            read_stream_backwards=sql_text(
                f"SELECT {SELECTED} FROM {events} AS event WHERE event.stream_id = %s "
                "AND event.version <= %s ORDER BY event.version DESC LIMIT %s"
            ),
            read_all=sql_text(read_all + order),
            read_all_of_types=sql_text(read_all + "AND event.type = ANY(%(types)s) " + order),
            read_raw=sql_text(
                "SELECT position, stream_id, version, type, schema_version, data::text "
                f"FROM {events} WHERE position > %s ORDER BY position LIMIT %s"
            ),
            head_position=sql_text(
                f"SELECT position FROM {events} WHERE transaction_id < {BARRIER} "
                "ORDER BY transaction_id DESC, position DESC LIMIT 1"
            ),
            list_streams=sql_text(
                f"SELECT stream_id, max(version), max(recorded_at) FROM {events} "
                "WHERE stream_id > %s GROUP BY stream_id ORDER BY stream_id LIMIT %s"
            ),
            save_snapshot=sql_text(
                f"INSERT INTO {snapshots} AS snapshot "
                "(stream_id, version, aggregate_type, schema_version, state, recorded_at) "
                "VALUES (%s, %s, %s, %s, %s::json, %s) ON CONFLICT (stream_id) DO UPDATE SET "
                "version = excluded.version, aggregate_type = excluded.aggregate_type, "
                "schema_version = excluded.schema_version, state = excluded.state, "
                "recorded_at = excluded.recorded_at WHERE excluded.version >= snapshot.version"
            ),
            load_snapshot=sql_text(
                "SELECT stream_id, version, aggregate_type, schema_version, state::text, recorded_at "
                f"FROM {snapshots} WHERE stream_id = %s"
            ),
            find_event=sql_text(f"SELECT position, version FROM {events} WHERE event_id = %s"),
            barrier=sql_text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text"),
            notify=sql_text(f"SELECT pg_notify('{notify_channel(schema)}', '')::text"),
            schema_version=sql_text(
                f"SELECT version FROM \"{schema}\".eventledger_schema WHERE component = 'store'"
            ),
            # One snapshot, one barrier, so the three numbers agree with each other.
            visibility=sql_text(
                "WITH barrier AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) "
                f"SELECT (SELECT coalesce(max(position), 0) FROM {events}), "
                f"coalesce((SELECT position FROM {events} WHERE transaction_id < (SELECT xmin FROM barrier) "
                "ORDER BY transaction_id DESC, position DESC LIMIT 1), 0), "
                f"(SELECT count(*) FROM {events} WHERE transaction_id >= (SELECT xmin FROM barrier))"
            ),
        )


def _append(events: str, size: str, form: str) -> str:
    """One append statement: the expected-version check and the whole batch's insert, at once.

    It returns a row per inserted event (position, version, writing transaction id) and no
    rows when the expected version did not match. An exact expected version needs no read of
    the stream's version: the batch goes right after it, and if the stream has already moved
    past it the unique ``(stream_id, version)`` refuses the insert. The other forms number the
    batch after the stream's current maximum. Batch rows are numbered and inserted in order, so
    positions rise with versions.
    """
    columns = "stream_id, version, event_id, type, schema_version, data, metadata"
    if size == "one":
        number = "1"
        values = "%(event_id)s, %(type)s, %(schema_version)s, %(data)s::json, %(metadata)s::json"
        batch, order = "", ""
    else:
        number = "batch.number"
        values = "batch.event_id, batch.type, batch.schema_version, batch.data::json, %(metadata)s::json"
        batch = (
            "unnest(%(event_ids)s::uuid[], %(types)s::text[], %(schema_versions)s::int[], "
            "%(datas)s::text[]) WITH ORDINALITY AS batch(event_id, type, schema_version, data, number)"
        )
        order = " ORDER BY batch.number"
    if form == "exact":
        rows = f"SELECT %(stream)s, %(expected)s::bigint + {number}, {values}"
        if batch:
            rows += f" FROM {batch}"
        rows += (
            f" WHERE (%(expected)s::bigint = 0 OR EXISTS (SELECT FROM {events} "
            "WHERE stream_id = %(stream)s AND version = %(expected)s::bigint))"
        )
    else:
        rows = (
            f"SELECT %(stream)s, current.version + {number}, {values} FROM (SELECT coalesce(max(version), 0) "
            f"AS version FROM {events} WHERE stream_id = %(stream)s) AS current"
        )
        if batch:
            rows += f", {batch}"
        if form == "existing":
            rows += " WHERE current.version > 0"
    # The writing transaction's id comes back too, so the store can let its own later reads of
    # the global log wait until the barrier has passed what it wrote.
    returning = "RETURNING position, version, pg_current_xact_id()::text"
    return f"INSERT INTO {events} ({columns}) {rows}{order} {returning}"
