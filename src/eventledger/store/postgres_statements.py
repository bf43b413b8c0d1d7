"""The SQL the PostgreSQL store runs, built once per store around its validated schema name.

Two ideas carry the design; the reasons are written next to each statement.

- **An append is one statement.** It checks the expected version and inserts the whole batch,
  so a success costs one round trip. The six forms are written out, each with its reason, in
  :mod:`eventledger.store.postgres_appends`.
- **The global log is read through a visibility barrier** that waits only for transactions
  that can still add events to this store. See :func:`barrier` below, and the lock-first rule
  it depends on (:data:`WRITING_TRANSACTION_LOCK`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eventledger.store.postgres_appends import AppendForms
from eventledger.store.postgres_schema import sql_text
from eventledger.store.records import OpenTransaction, VisibilityStatus
from eventledger.store.rows import RowPage

SELECTED = (
    "event.position, event.stream_id, event.version, event.event_id, event.type, "
    "event.schema_version, event.data::text, event.metadata::text, event.recorded_at"
)
"""Columns of a read; JSON comes back as text so pydantic can parse it in one pass."""

# The visibility barrier: a transaction id below which every event that will ever be committed
# is already committed, so readers may take rows below it and never find one behind them later.
#
# The simple barrier is the snapshot's xmin, the oldest transaction still running anywhere on
# the server: all ids below it have ended. But then any transaction anywhere (another
# database, a session that only ran ``SELECT pg_current_xact_id()``) holds back every reader.
# The narrowed barrier waits only for transactions that can still add events to THIS table:
#
#   barrier = least(xmax(S), min{X in xip(S) : not quiet(X)})
#
# where S is the statement's snapshot and quiet(X) means X is still running and holds (or
# waits for) no lock on this events table in a mode that can insert (anything stronger than
# ACCESS SHARE and ROW SHARE, which reads and SELECT ... FOR SHARE take).
# Every transaction id below the barrier then either ended before S (its rows are visible to
# S, or never will be) or is quiet: it has written no event and never will, PROVIDED THAT every
# event writer takes its events-table lock BEFORE it gets a transaction id (see
# WRITING_TRANSACTION_LOCK and the append statement). A transaction that got its id first and
# locks the table later has an id the barrier may already have passed: its events would be
# skipped. Locks are held until the transaction ends, so "running, and no writer lock" now
# means "never had one".
#
# How quiet(X) is decided from pg_locks, and why each step is safe:
# - pg_locks is read once (a MATERIALIZED CTE: pg_lock_status() copies the whole lock state at
#   its first call). Every transaction holds a granted ExclusiveLock on its own transactionid,
#   prepared transactions included (pid NULL); that maps X to its holder, the
#   ``virtualtransaction``, which also labels the holder's relation locks. A prepared
#   transaction keeps the vxid of the session that prepared it (recent minor releases; seen
#   on 15.20) or, on older ones and after a restart, shows ``-1/<xid>``: a writer holding
#   ``-1/N`` is taken to be transaction N.
# - X whose transactionid lock is NOT seen is never quiet. Either it ended after S was taken (it
#   may have committed rows S cannot see: skipping past them would lose them), or it got its id
#   a moment ago and has not entered its lock yet (GetNewTransactionId comes before
#   XactLockTableInsert), in which case its writer lock, if any, cannot be attributed to it.
# - pg_locks reads each backend's fast-path locks (where a writer's ROW EXCLUSIVE usually
#   lives) first, then the main lock table (where every transactionid lock lives), not
#   atomically. A transaction that commits releases its fast-path locks BEFORE its main-table
#   locks (LockReleaseAll), so a writer that has just committed can look "running, without a
#   writer lock". Hence the last check: X is quiet only if pg_xact_status(X) is not
#   'committed' when checked AFTER pg_locks was read (the check is applied to rows of the
#   ``idle`` CTE, which cannot exist before the lock state was read). The commit is recorded in
#   the commit log before any lock is released, so a transaction still uncommitted then held its
#   locks throughout the pg_locks read, and a lock held throughout is seen: in its backend's
#   fast-path array, or in the main table if it was moved there (moves are one way, under the
#   same backend lock the reader takes). An aborted X is harmless either way.
# - While PREPARE TRANSACTION moves a transaction's locks to its dummy entry one lock partition
#   at a time, an old-minor server can show its transactionid lock under ``-1/<xid>`` and its
#   table lock still under the session's vxid. So a ``-1/...`` holder is never quiet while some
#   writer lock is held by a vxid that has no transactionid lock in view.
#
# On a hot standby pg_locks shows only the standby's own locks, so the narrowing cannot work
# there; the standby's snapshot xmin is derived from the primary's running transactions (it
# counts every transaction the primary has given an id, even one that wrote nothing yet, as
# running once a later id shows up in the WAL), so plain xmin is safe and used. Plain xmin is
# also used when nothing is running (xmin = xmax) and, for reads only, when no committed row
# lies at or above xmin: then both barriers let readers see exactly the same rows, and the
# lock table is not read at all (an index probe instead). The barrier is a scalar subquery, so
# PostgreSQL evaluates it once per statement, with the statement's own snapshot.
_BARRIER_CTES = """WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s),
locks AS MATERIALIZED (
    SELECT locktype, transactionid, virtualtransaction FROM pg_catalog.pg_locks
    WHERE (locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted)
       OR (locktype = 'relation' AND relation = '{events}'::regclass
           AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
           AND mode NOT IN ('AccessShareLock', 'RowShareLock'))),
writers AS MATERIALIZED (SELECT DISTINCT virtualtransaction AS holder FROM locks WHERE locktype = 'relation'),
running AS MATERIALIZED (
    SELECT transactionid AS xid, virtualtransaction AS holder FROM locks WHERE locktype = 'transactionid'),
idle AS MATERIALIZED (
    SELECT x FROM snap, pg_snapshot_xip(snap.s) AS x JOIN running ON running.xid = xid(x)
    WHERE running.holder NOT IN (SELECT holder FROM writers)
      AND running.xid NOT IN (
          SELECT split_part(holder, '/', 2)::xid FROM writers WHERE starts_with(holder, '-1/'))
      AND NOT (starts_with(running.holder, '-1/') AND EXISTS (
          SELECT FROM writers
          WHERE NOT starts_with(holder, '-1/') AND holder NOT IN (SELECT holder FROM running))))
"""
_NARROWED = (
    "(SELECT least(pg_snapshot_xmax(s), min(x)) FROM pg_snapshot_xip(s) AS x WHERE x NOT IN "
    "(SELECT idle.x FROM idle WHERE pg_xact_status(idle.x) IS DISTINCT FROM 'committed'))"
)


def barrier(events: str, *, for_reading: bool = True) -> str:
    """The visibility barrier (an ``xid8``) as a scalar subquery over ``events`` (see above).

    ``for_reading`` adds the shortcut that skips the lock table when no committed row lies at
    or above xmin; without it the result is the transaction readers actually wait for, which
    :meth:`~eventledger.store.postgres.PostgresEventStore.visibility_status` reports.
    """
    shortcut = (
        f"WHEN NOT EXISTS (SELECT FROM {events} AS held WHERE held.transaction_id >= pg_snapshot_xmin(s)) "
        "THEN pg_snapshot_xmin(s) "
        if for_reading
        else ""
    )
    return (
        f"({_BARRIER_CTES.format(events=events)}"
        "SELECT CASE WHEN pg_snapshot_xmin(s) = pg_snapshot_xmax(s) THEN pg_snapshot_xmin(s) "
        "WHEN pg_is_in_recovery() THEN pg_snapshot_xmin(s) "
        f"{shortcut}ELSE {_NARROWED} END FROM snap)"
    )


# The one statement that makes a transaction fit to write events: it takes the events table's
# writer lock before the transaction has an id, so the barrier sees it from the moment it gets
# one (see above). ROW EXCLUSIVE is what INSERT itself takes: writers do not block each other.
# A read-only transaction (default_transaction_read_only, a hot standby) may take this lock,
# so the same round trip asks whether the transaction may write at all.
WRITING_TRANSACTION_LOCK = (
    "LOCK TABLE {events} IN ROW EXCLUSIVE MODE; SELECT current_setting('transaction_read_only')"
)

# The reader's cursor is a position; its place in the global order is that event's
# (transaction id, position). For a number that is no event's position, the nearest event at
# or below it stands in (0 before the first event).
CURSOR_TRANSACTION = (
    "coalesce((SELECT cursor.transaction_id FROM {events} AS cursor "
    "WHERE cursor.position <= %(after)s ORDER BY cursor.position DESC LIMIT 1), '0'::xid8)"
)


# One page of the global log: the events after the reader's cursor in the global order
# (transaction id, position), below the barrier, so a reader never later finds an event that
# belongs before what it has passed. ``{types}`` is empty, or the filter on type names.
# The barrier comes back too, as the first column of every row (and of the one row of NULLs an
# empty page is): a read may be held below a transaction that committed while it ran (see
# above), and the store needs the barrier to tell whether the page can include its own latest
# appends or must be read again (:class:`~eventledger.store.postgres_own_writes.OwnWrites`).
READ_ALL = """\
SELECT seen.barrier::text, page.* FROM (SELECT {barrier} AS barrier) AS seen
LEFT JOIN LATERAL (
  SELECT {selected} FROM {events} AS event
  WHERE (event.transaction_id, event.position) > ({cursor}, %(after)s)
    AND event.transaction_id < seen.barrier
    {types}
  ORDER BY event.transaction_id, event.position LIMIT %(limit)s
) AS page ON true"""


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel that announces appends to ``schema``'s events."""
    return f"eventledger.{schema}"


@dataclass(frozen=True, slots=True)
class Statements:
    """Every statement of one store, as bytes ready for psycopg (prepared on first use)."""

    appends: AppendForms
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
    lock_for_writing: bytes
    notify: bytes
    schema_version: bytes

    @classmethod
    def for_schema(cls, schema: str) -> Statements:
        """Build the statements for ``schema`` (a validated identifier)."""
        events = f'"{schema}".events'
        snapshots = f'"{schema}".snapshots'
        reading_barrier = barrier(events)
        read_all = READ_ALL.format(
            selected=SELECTED,
            events=events,
            cursor=CURSOR_TRANSACTION.format(events=events),
            barrier=reading_barrier,
            types="{types}",
        )
        return cls(
            appends=AppendForms(events),
            stream_version=sql_text(f"SELECT coalesce(max(version), 0) FROM {events} WHERE stream_id = %s"),
            read_stream_forwards=sql_text(
                f"SELECT {SELECTED} FROM {events} AS event WHERE event.stream_id = %s "
                "AND event.version >= %s ORDER BY event.version LIMIT %s"
            ),
            read_stream_backwards=sql_text(
                f"SELECT {SELECTED} FROM {events} AS event WHERE event.stream_id = %s "
                "AND event.version <= %s ORDER BY event.version DESC LIMIT %s"
            ),
            read_all=sql_text(read_all.format(types="")),
            read_all_of_types=sql_text(read_all.format(types="AND event.type = ANY(%(types)s)")),
            read_raw=sql_text(
                "SELECT position, stream_id, version, type, schema_version, data::text "
                f"FROM {events} WHERE position > %s ORDER BY position LIMIT %s"
            ),
            # The barrier comes back with the head, for the same reason as with a page.
            head_position=sql_text(
                f"SELECT seen.barrier::text, (SELECT position FROM {events} "
                "WHERE transaction_id < seen.barrier ORDER BY transaction_id DESC, position DESC LIMIT 1) "
                f"FROM (SELECT {reading_barrier} AS barrier) AS seen"
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
            lock_for_writing=sql_text(WRITING_TRANSACTION_LOCK.format(events=events)),
            notify=sql_text(f"SELECT pg_notify('{notify_channel(schema)}', '')::text"),
            schema_version=sql_text(
                f"SELECT version FROM \"{schema}\".eventledger_schema WHERE component = 'store'"
            ),
            visibility=sql_text(_visibility(events)),
        )


def recorded_rows(rows: Sequence[Sequence[Any]]) -> RowPage:
    """Rows of :data:`SELECTED` columns, decoded as they are read."""
    return RowPage(rows, event_id=None, recorded_at=_in_utc)


def _in_utc(moment: datetime) -> datetime:
    # A driver that already answers in UTC (a session whose TimeZone is 'UTC', asyncpg) needs
    # no conversion; any other zone is converted, on every row, since times differ.
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def visibility_status(row: Sequence[Any]) -> VisibilityStatus:
    """The row of the ``visibility`` statement, as a :class:`VisibilityStatus`."""
    written, visible, held_back, oldest_at, found, pid, database, age, state = row
    transaction = None
    if found:
        transaction = OpenTransaction(
            pid=None if pid is None else int(pid),
            database=database,
            state=str(state or "unknown"),
            age=age if isinstance(age, timedelta) else timedelta(0),
        )
    oldest = oldest_at.astimezone(UTC) if held_back and oldest_at is not None else None
    return VisibilityStatus(int(written), int(visible), int(held_back), oldest, transaction)


def _visibility(events: str) -> str:
    """Written and visible positions, what is held back, and the transaction it waits for.

    One statement, so one snapshot and one barrier: the numbers agree with each other. The
    barrier is the one readers would compute without their shortcut, so the transaction named
    is the one they actually wait for: the barrier is its id, found in pg_locks (readable by
    every role, unlike another role's ``backend_xid`` in pg_stat_activity). None when the
    barrier is the snapshot's xmax (readers wait for nothing) or on a standby (the primary's
    sessions are not listed there).
    """
    waited_for = (
        "SELECT true AS found, lock.pid, coalesce(activity.datname, prepared.database) AS database, "
        "now() - coalesce(activity.xact_start, prepared.prepared) AS age, "
        "coalesce('prepared transaction ' || prepared.gid, activity.state) AS state "
        "FROM barrier, pg_catalog.pg_locks AS lock "
        "LEFT JOIN pg_catalog.pg_stat_activity AS activity ON activity.pid = lock.pid "
        "LEFT JOIN pg_catalog.pg_prepared_xacts AS prepared ON prepared.transaction = lock.transactionid "
        "WHERE barrier.xid < barrier.xmax AND lock.locktype = 'transactionid' "
        "AND lock.mode = 'ExclusiveLock' AND lock.granted AND lock.transactionid = xid(barrier.xid) LIMIT 1"
    )
    return (
        f"WITH barrier AS MATERIALIZED (SELECT {barrier(events, for_reading=False)} AS xid, "
        "pg_snapshot_xmax(pg_current_snapshot()) AS xmax), "
        "held AS MATERIALIZED (SELECT count(*) AS events, min(event.recorded_at) AS oldest "
        f"FROM {events} AS event, barrier WHERE event.transaction_id >= barrier.xid) "
        f"SELECT (SELECT coalesce(max(position), 0) FROM {events}), "
        f"coalesce((SELECT position FROM {events} WHERE transaction_id < (SELECT xid FROM barrier) "
        "ORDER BY transaction_id DESC, position DESC LIMIT 1), 0), "
        "held.events, held.oldest, waiter.found, waiter.pid, waiter.database, waiter.age, waiter.state "
        f"FROM held LEFT JOIN LATERAL ({waited_for}) AS waiter ON true"
    )
