"""The production event store: PostgreSQL through psycopg 3 (async) and a connection pool.

``open_store("postgresql://user@host:port/dbname?schema=NAME")`` opens it; the tables live in
their own schema (default ``eventledger``) and are created or migrated on open.

How the global log never skips (invariant 3), and what it costs
--------------------------------------------------------------

Positions come from an identity column, handed out at *insert*; rows become visible at
*commit*, which can happen in the other order. A reader that trusted ``position > last`` would
step past a position whose transaction had not committed yet and never come back for it.

Each event therefore also stores its writing transaction's id (``pg_current_xact_id()``, a
64-bit ``xid8``). The global order is ``(transaction_id, position)``, and readers take only rows
whose transaction id is below ``pg_snapshot_xmin(pg_current_snapshot())``: the id of the oldest
transaction still running anywhere on the server. Every transaction below that id has finished,
so nothing can ever appear below the barrier again, and a reader that has passed a point in
the order never finds a committed event behind it. Writers are never serialised: they insert
and commit concurrently; only what readers may see waits. A reader's cursor stays a plain
position: ``read_all(after=p)`` looks up the transaction id of the event at ``p`` and continues
exactly after it in the global order.

The cost: one 8-byte column and one index per event, a little work per read, and visibility
that waits for the oldest *writing* transaction on the whole server (not just this database,
not just event writers). **The hazard**: a transaction that has written anything and stays
open (an idle-in-transaction session, a long batch job, a forgotten prepared transaction)
holds back every reader of every store on that server until it ends; appends still succeed.
It is visible: :meth:`PostgresEventStore.head_position` returns the last *visible* position,
and :meth:`PostgresEventStore.visibility_status` returns the newest written position, the
newest visible one, how many committed events are held back, and which transaction holds them
(its pid, database, state and age). Set ``idle_in_transaction_session_timeout`` on the server
to bound the damage. Never wait for a subscription to deliver an event while your own
transaction on the same server, one that has written something, is still open: it holds
back that very event.

Subscriptions wake on LISTEN/NOTIFY (a NOTIFY follows each burst of appends, sent outside the
appending transactions so that it never serialises their commits) and also poll, so a lost
notification costs at most :attr:`poll_interval`; a dropped connection is retried and
the subscription resumes from the last event it delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Self

import psycopg
import psycopg.errors
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from eventledger.errors import (
    ConcurrencyError,
    InvalidArgument,
    ReadOnlyStore,
    StoreClosed,
    StoreError,
    StoreUnavailable,
)
from eventledger.events import EncodedEvent, RecordedEvent
from eventledger.store.base import (
    ANY,
    STREAM_EXISTS,
    AppendResult,
    EventStore,
    ExpectedVersion,
    OpenTransaction,
    RawEvent,
    Snapshot,
    StreamInfo,
    TypeFilter,
    VisibilityStatus,
    decode_rows,
    expected_version_matches,
    type_names,
)
from eventledger.store.limits import check_position
from eventledger.store.postgres_connection import ConnectionSettings, parse_postgres_url, unavailable
from eventledger.store.postgres_notifications import Announcer, NotificationListener
from eventledger.store.postgres_schema import SCHEMA_VERSION, open_schema
from eventledger.store.postgres_statements import Statements, notify_channel

logger: Final = logging.getLogger("eventledger.postgres")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

Connection = psycopg.AsyncConnection[TupleRow]

_STREAM_VERSION_CONSTRAINT: Final = "events_stream_version"
# ANY and STREAM_EXISTS stay satisfied when another appender wins the race for a version, so
# the append simply runs again; this bounds the retries under pathological contention.
_APPEND_ATTEMPTS: Final = 50
_RESUBSCRIBE_DELAYS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
# SQLSTATEs that mean "this connection may not write": read_only_sql_transaction (a standby,
# default_transaction_read_only) and insufficient_privilege (a role without INSERT).
_READ_ONLY_STATES: Final = frozenset({"25006", "42501"})
# Classes that mean "the server refused the value it was given" (data exceptions, program
# limits such as an index row too large): the caller's input, never a connection fault.
_INPUT_CLASSES: Final = ("22", "54")


class _ConnectionLost(StoreUnavailable):
    """The server went away mid-operation or cannot be reached now; worth trying again."""


class PostgresEventStore(EventStore):
    """The ``postgresql://`` store. Open it with :func:`eventledger.open_store`.

    URL query options (or keyword arguments to ``open_store``): ``schema`` (default
    ``eventledger``), ``pool_min_size`` (1), ``pool_max_size`` (10), ``poll_interval`` (seconds
    between a subscriber's re-reads when no notification arrives, 0.05) and ``notify``
    (``true``: appends send a NOTIFY that wakes subscribers in other processes at once).
    Other query parameters (``sslmode``, ``application_name``, ...) go to libpq.
    """

    #: Seconds a read of the global log waits for this store's own appends to become visible.
    own_writes_wait: float = 1.0

    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__()
        self.settings = settings
        self.schema = settings.schema
        self.poll_interval = settings.poll_interval
        self.events_table = f"{settings.schema}.events"
        self._statements = Statements.for_schema(settings.schema)
        self._pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            settings.conninfo,
            connection_class=psycopg.AsyncConnection,
            kwargs={"autocommit": True},
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            open=False,
            name=f"eventledger:{settings.schema}",
        )
        self._listener = NotificationListener(
            settings, notify_channel(settings.schema), self._wake_subscribers
        )
        # One NOTIFY per 50 ms at most during a burst: each is a statement of its own, and at
        # 10 ms they were a fifth of the statements four busy writers sent (C1: 0.54x -> 0.79x
        # the raw driver). A quiet store still announces its first append at once.
        self._announcer = Announcer(self._notify, spacing=0.05)
        self._own_writes = _OwnWrites()

    def __repr__(self) -> str:
        return f"PostgresEventStore({self.settings.describe()}, schema={self.schema!r})"

    # ----------------------------------------------------------------- opening

    async def open(self) -> Self:
        """Connect, check the schema (creating or migrating it only when needed), fill the pool.

        An up-to-date schema is only read, so a store opens on a read-only connection. An
        unreachable server, wrong credentials or a missing database raise
        :class:`StoreUnavailable` naming host, port, database and user (never the password); a
        schema that is newer than this release, or missing or older on a connection that may
        not create it, raises :class:`StoreSchemaError`.
        """
        try:
            connection = await psycopg.AsyncConnection.connect(self.settings.conninfo, autocommit=True)
        except psycopg.Error as error:
            raise unavailable(self.settings, "cannot connect", error) from None
        try:
            async with connection:
                await open_schema(connection, self.schema, self.settings.describe())
        except psycopg.Error as error:
            raise unavailable(self.settings, f"cannot open schema {self.schema!r}", error) from None
        try:
            await self._pool.open(wait=True, timeout=30.0)
        except PoolTimeout as error:
            raise unavailable(self.settings, "cannot fill the connection pool", error) from None
        return self

    async def schema_version(self) -> int:
        """The store schema version recorded in the database."""
        rows = await self._fetch(self._statements.schema_version, (), "read the schema version")
        return int(rows[0][0]) if rows else 0

    @contextlib.asynccontextmanager
    async def _connection(self, doing: str) -> AsyncIterator[Connection]:
        """A pooled connection; driver errors become eventledger errors naming the server."""
        self._check_open()
        try:
            connection = await self._live_connection()
            try:
                yield connection
            finally:
                await self._pool.putconn(connection)
        except psycopg.IntegrityError:
            raise
        except (psycopg.Error, PoolTimeout, PoolClosed) as error:
            raise self._store_error(error, doing) from None

    def _store_error(self, error: Exception, doing: str) -> StoreError | InvalidArgument:
        """The eventledger error for a driver error met while ``doing`` something.

        Only faults of the server or the way to it become :class:`StoreUnavailable`: a refused
        write becomes :class:`ReadOnlyStore`, a value the server refused (classes 22 and 54;
        psycopg files the latter under OperationalError) an :class:`InvalidArgument`.
        """
        if isinstance(error, PoolClosed) or self._closed:
            return StoreClosed(f"{self!r} is closed")
        where = self.settings.describe()
        reason = self.settings.scrub(" ".join(str(error).split()) or type(error).__name__)
        state = getattr(error, "sqlstate", None) or ""
        if state in _READ_ONLY_STATES:
            return ReadOnlyStore(where, doing, reason)
        if state.startswith(_INPUT_CLASSES):
            return InvalidArgument(f"{where}: {doing}: the server refused the input: {reason}")
        if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError | PoolTimeout):
            return _ConnectionLost(f"{where}: {doing}: connection lost or unavailable: {reason}")
        return unavailable(self.settings, doing, error)

    async def _live_connection(self) -> Connection:
        """A pooled connection whose server end has not hung up while it sat idle.

        After a server restart or a killed backend, idle pooled connections are dead but do not
        know it yet. A non-blocking read (no round trip) finds out: the first takes in whatever
        the server said last, the second meets the closed socket. Dead ones go back to the pool,
        which replaces them, so an append after a restart does not fail for nothing.
        """
        for _ in range(self.settings.pool_max_size):
            connection = await self._pool.getconn()
            try:
                connection.pgconn.consume_input()
                connection.pgconn.consume_input()
            except psycopg.OperationalError:
                await self._pool.putconn(connection)
                continue
            return connection
        return await self._pool.getconn()

    async def _fetch(self, statement: bytes, parameters: Any, doing: str) -> list[TupleRow]:
        """Run a read; a connection lost mid-read is retried once (reads are idempotent)."""
        for attempt in (1, 2):
            try:
                async with self._connection(doing) as connection:
                    cursor = _cursor(connection)
                    await cursor.execute(statement, parameters, prepare=True)
                    return await cursor.fetchall()
            except _ConnectionLost:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # ----------------------------------------------------------------- writing

    async def _append(
        self,
        stream_id: str,
        events: list[EncodedEvent],
        expected: ExpectedVersion,
        metadata: str | None,
    ) -> AppendResult:
        statement, parameters = self._append_statement(stream_id, events, expected, metadata)
        for _attempt in range(_APPEND_ATTEMPTS):
            try:
                rows = await self._run_append(statement, parameters)
            except psycopg.errors.UniqueViolation as error:
                if error.diag.constraint_name != _STREAM_VERSION_CONSTRAINT:
                    raise unavailable(self.settings, f"append to stream {stream_id!r}", error) from None
                # Another appender took a version this batch aimed at, and committed first.
                if expected is ANY or expected is STREAM_EXISTS:
                    continue
                raise ConcurrencyError(stream_id, expected, await self.stream_version(stream_id)) from None
            except _ConnectionLost as error:
                return await self._recover_append(stream_id, parameters, len(events), error)
            if not rows:
                actual = await self.stream_version(stream_id)
                if expected_version_matches(expected, actual):
                    continue  # the stream reached the expected version just now: append after it
                raise ConcurrencyError(stream_id, expected, actual)
            rows.sort(key=lambda row: int(row[1]))
            self._own_writes.wrote(int(rows[0][2]))
            if self.settings.notify:
                self._announcer.announce()
            return AppendResult(stream_id, int(rows[-1][1]), tuple(int(row[0]) for row in rows))
        raise ConcurrencyError(stream_id, expected, await self.stream_version(stream_id))

    def _append_statement(
        self,
        stream_id: str,
        events: list[EncodedEvent],
        expected: ExpectedVersion,
        metadata: str | None,
    ) -> tuple[bytes, dict[str, Any]]:
        statements = self._statements
        parameters: dict[str, Any] = {"stream": stream_id, "metadata": metadata}
        if len(events) == 1:
            event = events[0]
            parameters.update(
                event_id=uuid.uuid4(), type=event.type, schema_version=event.schema_version, data=event.data
            )
            forms = (statements.append_one_exact, statements.append_one_any, statements.append_one_existing)
        else:
            parameters.update(
                event_ids=[uuid.uuid4() for _ in events],
                types=[event.type for event in events],
                schema_versions=[event.schema_version for event in events],
                datas=[event.data for event in events],
            )
            forms = (
                statements.append_many_exact,
                statements.append_many_any,
                statements.append_many_existing,
            )
        if expected is ANY:
            return forms[1], parameters
        if expected is STREAM_EXISTS:
            return forms[2], parameters
        parameters["expected"] = expected
        return forms[0], parameters

    async def _notify(self) -> None:
        async with self._connection("announce appends") as connection:
            await connection.execute(self._statements.notify, prepare=True)

    async def _run_append(self, statement: bytes, parameters: dict[str, Any]) -> list[TupleRow]:
        async with self._connection(f"append to stream {parameters['stream']!r}") as connection:
            cursor = _cursor(connection)
            await cursor.execute(statement, parameters, prepare=True)
            return await cursor.fetchall()

    @contextlib.asynccontextmanager
    async def writing_transaction(self) -> AsyncIterator[Connection]:
        """A transaction of your own in which events may be written: the ONLY safe way to do so.

        Yields a psycopg connection inside a transaction that has already locked this store's
        events table in ROW EXCLUSIVE mode (what an INSERT takes anyway: writers do not block
        each other), before anything else could give the transaction an id. Readers of the
        global log wait only for transactions that hold such a lock, so a transaction that
        wrote another table first (and so got its id) and only then inserted events would have
        an id that readers may already have moved past: its events would be skipped for ever.
        Write events in a transaction of your own (several streams at once, a checkpoint and
        the events it caused, a read model and its events) only through this helper. While it
        is open, readers see nothing committed after it began: keep it short.

        The transaction commits when the block ends and rolls back if it raises; subscribers
        of this store are woken afterwards, and other processes' by a NOTIFY. Errors of the
        SQL you send reach you as psycopg raised them; failing to begin, lock or commit raises
        this store's errors (:class:`ReadOnlyStore` on a connection that may not write).

        >>> async def transfer(store: PostgresEventStore) -> None:
        ...     async with store.writing_transaction() as connection:
        ...         await connection.execute("UPDATE accounts SET ...")   # any table, any order
        ...         await connection.execute("INSERT INTO eventledger.events ...")
        """
        doing = "write events in a transaction"
        try:
            async with (
                self._connection(doing) as connection,
                connection.transaction(),
            ):
                # Two statements in one round trip (the simple protocol: nothing to prepare).
                cursor = await connection.execute(self._statements.lock_for_writing, prepare=False)
                cursor.nextset()
                if await cursor.fetchone() == ("on",):
                    raise ReadOnlyStore(
                        self.settings.describe(),
                        doing,
                        "this is a read-only transaction (default_transaction_read_only, or a hot standby)",
                    )
                try:
                    yield connection
                except psycopg.Error as error:
                    raise _CallersError(error) from error  # not ours to translate
                cursor = await connection.execute(b"SELECT pg_current_xact_id_if_assigned()::text")
                row = await cursor.fetchone()
        except _CallersError as wrapped:
            raise wrapped.error from None
        if row is not None and row[0] is not None:
            self._own_writes.wrote(int(row[0]))
            if self.settings.notify:
                self._announcer.announce()
            self._wake_subscribers()

    async def _recover_append(
        self, stream_id: str, parameters: dict[str, Any], count: int, lost: _ConnectionLost
    ) -> AppendResult:
        """The connection dropped during an append: find out whether the batch was stored.

        One statement wrote the batch, so it is stored entirely or not at all; its first event
        id tells which. If it was stored, the append succeeded and its result is returned.
        """
        first_id = parameters.get("event_id") or parameters["event_ids"][0]
        try:
            rows = await self._fetch(self._statements.find_event, (first_id,), "look for an appended event")
        except StoreUnavailable:
            raise StoreUnavailable(
                f"{lost}; whether the batch for stream {stream_id!r} was stored is unknown (it is "
                f"all or nothing): look for event id {first_id} before appending again"
            ) from None
        if not rows:
            raise StoreUnavailable(
                f"{lost}; nothing of the batch for stream {stream_id!r} is stored (a batch is all or "
                "nothing): append again"
            ) from None
        first_version = int(rows[0][1])
        logger.info("eventledger: append to %r was stored before the connection dropped", stream_id)
        if self.settings.notify:
            self._announcer.announce()
        # Concurrent inserts may interleave positions, so read the batch's positions back.
        rows = await self._fetch(
            self._statements.read_stream_forwards, (stream_id, first_version, count), "read an appended batch"
        )
        return AppendResult(stream_id, first_version + count - 1, tuple(int(row[0]) for row in rows))

    # ----------------------------------------------------------------- reading

    async def _read_stream_page(
        self, stream_id: str, start: int | None, limit: int, backwards: bool
    ) -> list[RecordedEvent]:
        if backwards:
            bound = start if start is not None else 2**62
            statement, parameters = self._statements.read_stream_backwards, (stream_id, bound, limit)
        else:
            statement, parameters = self._statements.read_stream_forwards, (stream_id, start or 1, limit)
        rows = await self._fetch(statement, parameters, f"read stream {stream_id!r}")
        return _recorded_rows(rows)

    async def _read_all_page(
        self, after: int, limit: int, types: tuple[str, ...] | None
    ) -> list[RecordedEvent]:
        if types is not None and not types:
            return []
        parameters: dict[str, Any] = {"after": after, "limit": limit}
        statement = self._statements.read_all
        if types is not None:
            statement = self._statements.read_all_of_types
            parameters["types"] = list(types)
        rows = await self._fetch(statement, parameters, f"read the global log after position {after}")
        return _recorded_rows(rows)

    async def _read_all_raw_page(self, after: int, limit: int) -> list[RawEvent]:
        # Plain position order, without the visibility barrier: a store-wide check wants every
        # committed row now, and must not stall behind an unrelated long transaction.
        rows = await self._fetch(
            self._statements.read_raw, (after, limit), f"read raw rows after position {after}"
        )
        return [RawEvent(*row) for row in rows]

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        types: TypeFilter = None,
    ) -> AsyncIterator[RecordedEvent]:
        """Yield the global log after position ``after``, each committed event exactly once.

        Reads see this store's own appends: when another transaction on the server still holds
        the visibility barrier below them, the read first waits for it, up to
        :attr:`own_writes_wait` seconds (see :meth:`visibility_status`).
        """
        await self._see_own_writes()
        async for recorded in super().read_all(after=after, limit=limit, types=types):
            yield recorded

    async def _see_own_writes(self) -> None:
        """Wait until readers can see this store's own appends (bounded; never skips anything).

        Other transactions on the server usually end within milliseconds. If one stays open
        for longer than :attr:`own_writes_wait`, the read goes ahead with what is visible
        (it is the long-transaction hazard, and :meth:`visibility_status` shows it), and later
        reads do not wait again until that transaction has ended.
        """
        written = self._own_writes.pending
        if written is None:
            return
        deadline = asyncio.get_running_loop().time() + self.own_writes_wait
        delay = 0.002
        while True:
            rows = await self._fetch(self._statements.barrier, (), "read the visibility barrier")
            barrier = int(rows[0][0])
            if barrier > written:
                self._own_writes.seen(written)
                return
            if self._own_writes.stuck_at == barrier:
                return
            if asyncio.get_running_loop().time() >= deadline:
                self._own_writes.stuck_at = barrier
                logger.warning(
                    "eventledger: %s: an open transaction holds back readers of the global log; "
                    "reading without this store's latest appends (see visibility_status())",
                    self.settings.describe(),
                )
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def _stream_version(self, stream_id: str) -> int:
        """The stream's current version (0 when it has no events)."""
        rows = await self._fetch(self._statements.stream_version, (stream_id,), f"read stream {stream_id!r}")
        return int(rows[0][0])

    async def head_position(self) -> int:
        """The position of the last event a reader of the global log can see (0 if none).

        Events committed behind a still-open older transaction are not counted yet; compare
        with :meth:`visibility_status` to see whether readers are held back. Like
        :meth:`read_all`, it first waits (briefly) until this store's own appends are visible.
        """
        await self._see_own_writes()
        rows = await self._fetch(self._statements.head_position, (), "read the head position")
        return int(rows[0][0]) if rows else 0

    async def visibility_status(self) -> VisibilityStatus:
        """How far readers of the global log lag behind writers, and which transaction holds them.

        All from one snapshot: the newest committed position, the last visible one, how many
        committed events wait behind the barrier and when the oldest of them was recorded, and
        the transaction the barrier waits for (pid, database, state, age): one that holds a
        writer lock on this store's events table, or on a standby none (the primary's sessions
        are not listed there).

        >>> async def watch(store: PostgresEventStore) -> None:
        ...     status = await store.visibility_status()
        ...     if status.held_back_events and status.oldest_open_transaction:
        ...         print("readers wait for", status.oldest_open_transaction)
        """
        self._check_open()
        rows = await self._fetch(self._statements.visibility, (), "read the visibility status")
        written, visible, held_back, oldest_at, found, pid, database, age, state = rows[0]
        transaction = None
        if found:
            transaction = OpenTransaction(
                pid=None if pid is None else int(pid),
                database=database,
                state=str(state or "unknown"),
                age=age if isinstance(age, timedelta) else timedelta(0),
            )
        return VisibilityStatus(
            int(written),
            int(visible),
            int(held_back),
            oldest_at.astimezone(UTC) if held_back and oldest_at is not None else None,
            transaction,
        )

    async def _list_streams(self, after: str, limit: int) -> list[StreamInfo]:
        """Streams ordered by id, starting after ``after``."""
        rows = await self._fetch(self._statements.list_streams, (after or "", limit), "list streams")
        return [StreamInfo(row[0], int(row[1]), row[2].astimezone(UTC)) for row in rows]

    # ----------------------------------------------------------------- following

    async def subscribe(self, *, after: int = 0, types: TypeFilter = None) -> AsyncIterator[RecordedEvent]:
        """Catch up on the global log after ``after``, then follow new events live.

        Wakes on appends in this process and on NOTIFY from other processes, and re-reads at
        least every :attr:`poll_interval` seconds. A lost connection does not end the
        subscription: it reconnects (pausing longer each time the server stays away) and
        resumes after the last event it delivered.
        """
        check_position("after", after)
        names = type_names(types)
        position = after
        failures = 0
        cancellation = _CancellationWatch()
        pause = _Pause(self.poll_interval)
        while True:
            self._check_open()
            cancellation.check()
            waiter = self._new_waiter()
            try:
                try:
                    page = await self._read_all_page(position, self.page_size, names)
                except _ConnectionLost as error:
                    delay = _RESUBSCRIBE_DELAYS[min(failures, len(_RESUBSCRIBE_DELAYS) - 1)]
                    failures += 1
                    logger.warning("eventledger: subscriber retrying in %ss: %s", delay, error)
                    await asyncio.sleep(delay)
                    continue
                cancellation.check()
                failures = 0
                for recorded in page:
                    position = recorded.position
                    yield recorded
                if len(page) < self.page_size:
                    pause.after_read(found_events=bool(page))
                    pause.after_wait(woken=await self._sleep_until_woken(waiter, pause.seconds))
            finally:
                self._waiters.discard(waiter)
                if not waiter.done():
                    waiter.cancel()

    @property
    def listening(self) -> bool:
        """True while the store's LISTEN connection is in place (it starts with the first
        subscriber that has caught up, and reconnects by itself when dropped)."""
        return self._listener.listening.is_set()

    async def _wait_for_events(self, waiter: asyncio.Future[None]) -> None:
        """Sleep until an append here, a NOTIFY from elsewhere, or at most :attr:`poll_interval`."""
        await self._sleep_until_woken(waiter, self.poll_interval)

    async def _sleep_until_woken(self, waiter: asyncio.Future[None], seconds: float) -> bool:
        """Start listening for NOTIFY (once), then sleep as every store does."""
        self._listener.start()
        return await super()._sleep_until_woken(waiter, seconds)

    # ----------------------------------------------------------------- snapshots

    async def _save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` unless a newer one of the stream is already stored."""
        state = json.dumps(snapshot.state, separators=(",", ":"))
        parameters = (
            snapshot.stream_id,
            snapshot.version,
            snapshot.aggregate_type,
            snapshot.schema_version,
            state,
            snapshot.recorded_at,
        )
        async with self._connection(f"save a snapshot of stream {snapshot.stream_id!r}") as connection:
            await connection.execute(self._statements.save_snapshot, parameters, prepare=True)

    async def _load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of ``stream_id``, or None."""
        rows = await self._fetch(
            self._statements.load_snapshot, (stream_id,), f"load a snapshot of {stream_id!r}"
        )
        if not rows:
            return None
        row = rows[0]
        return Snapshot(row[0], int(row[1]), row[2], int(row[3]), json.loads(row[4]), row[5].astimezone(UTC))

    async def _close(self) -> None:
        await self._announcer.stop()
        await self._listener.stop()
        await self._pool.close()


class _CallersError(Exception):
    """Carries an error of the caller's own SQL past the store's error translation."""

    def __init__(self, error: psycopg.Error) -> None:
        super().__init__(str(error))
        self.error = error


class _OwnWrites:
    """The newest transaction id this store wrote that readers may not see yet."""

    def __init__(self) -> None:
        self.pending: int | None = None
        #: The barrier at which the last wait gave up (a long-open transaction); None if none.
        self.stuck_at: int | None = None

    def wrote(self, transaction_id: int) -> None:
        if self.pending is None or transaction_id > self.pending:
            self.pending = transaction_id

    def seen(self, transaction_id: int) -> None:
        # A newer append may have come in meanwhile; only forget what was actually seen.
        if self.pending == transaction_id:
            self.pending = None
        self.stuck_at = None


class _CancellationWatch:
    """Notices a cancellation of the subscribing task that something swallowed.

    On Python 3.11, ``asyncio.wait_for`` (which psycopg_pool uses while a task waits for a
    connection) drops a cancellation that arrives just as the connection is handed over. A
    one-off read then merely finishes; a subscription, which never ends by itself, would run
    on for ever. So it compares the task's pending cancellations with those it started with.
    """

    def __init__(self) -> None:
        self._task = asyncio.current_task()
        self._at_start = self._task.cancelling() if self._task is not None else 0

    def check(self) -> None:
        task = self._task
        if task is not None and task is asyncio.current_task() and task.cancelling() > self._at_start:
            raise asyncio.CancelledError


class _Pause:
    """How long a caught-up subscriber sleeps before it re-reads, if nothing wakes it.

    Normally :attr:`PostgresEventStore.poll_interval`. But a wake-up that finds nothing new
    usually means the event it announced is committed and still behind the visibility barrier
    (another transaction on the server is open), and no second notification will come when
    that transaction ends. Then it re-reads soon, backing off from 10 ms up to the interval.
    """

    _FIRST: Final = 0.01

    def __init__(self, poll_interval: float) -> None:
        self._poll_interval = poll_interval
        self._woken = False
        self._quick: float | None = None

    @property
    def seconds(self) -> float:
        return self._poll_interval if self._quick is None else min(self._quick, self._poll_interval)

    def after_read(self, *, found_events: bool) -> None:
        if found_events:
            self._quick = None
        elif self._woken:
            self._quick = self._FIRST
        elif self._quick is not None:
            self._quick = None if self._quick * 2 >= self._poll_interval else self._quick * 2

    def after_wait(self, *, woken: bool) -> None:
        self._woken = woken


def _recorded_rows(rows: list[TupleRow]) -> list[RecordedEvent]:
    return decode_rows(rows, event_id=_same_uuid, recorded_at=_in_utc)


def _same_uuid(value: uuid.UUID) -> uuid.UUID:
    return value


def _in_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


_CURSORS: Final[weakref.WeakKeyDictionary[Connection, psycopg.AsyncCursor[TupleRow]]] = (
    weakref.WeakKeyDictionary()
)


def _cursor(connection: Connection) -> psycopg.AsyncCursor[TupleRow]:
    """The connection's own reusable cursor (a pooled connection serves one task at a time)."""
    cursor = _CURSORS.get(connection)
    if cursor is None or cursor.closed:
        cursor = _CURSORS[connection] = connection.cursor()
    return cursor


async def open_postgres_store(url: str, **options: Any) -> PostgresEventStore:
    """Open the PostgreSQL store ``url`` names (``open_store`` calls this for postgresql:// URLs).

    Keyword ``options`` override the URL's query options; see :class:`PostgresEventStore`.
    """
    store = PostgresEventStore(parse_postgres_url(url, options))
    try:
        return await store.open()
    except BaseException:
        await store.close()
        raise


__all__ = [
    "SCHEMA_VERSION",
    "OpenTransaction",
    "PostgresEventStore",
    "VisibilityStatus",
    "open_postgres_store",
]
