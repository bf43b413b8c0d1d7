"""The production event store: PostgreSQL, through asyncpg for its own statements.

``open_store("postgresql://user@host:port/dbname?schema=NAME")`` opens it; the tables live in
their own schema (default ``eventledger``). Opening only reads an up-to-date schema, so a store
opens on a read-only connection (a hot standby, a role with USAGE and SELECT only,
``default_transaction_read_only``); there, writes raise :class:`~eventledger.errors.ReadOnlyStore`.

How the global log never skips (invariant 3), and what it costs
--------------------------------------------------------------

Positions come from an identity column, handed out at *insert*; rows become visible at
*commit*, which can happen in the other order. So each event also stores its writing
transaction's id (``pg_current_xact_id()``), the global order is ``(transaction_id,
position)``, and readers take only rows below a *visibility barrier*: a transaction id below
which no event can ever be committed again. ``read_all(after=p)`` continues exactly after the
event at ``p`` in that order. Writers are not serialised (inline appends aside); only readers wait.

The barrier waits only for transactions that can still add events to this store: those holding
a lock on its events table in a mode that can insert (prepared transactions included). Any
other open transaction, in this database or another, leaves readers alone. On a hot standby,
whose pg_locks do not show the primary's locks, it is the snapshot's xmin, so there every open
transaction of the primary holds readers back. The SQL and the argument for its safety are in
:mod:`eventledger.store.postgres_statements`.

**The lock-first rule.** That barrier is only safe if every transaction that writes events
locks the events table *before* it gets a transaction id: otherwise its id can be older than
events readers have already passed. A single append statement does so by itself. To write
events in a transaction of your own (next to other tables), use
:meth:`PostgresEventStore.writing_transaction`, and only that.

**The hazard**: an event writer that stays open (a ``writing_transaction`` left idle, a
forgotten prepared transaction that inserted events) holds back every reader of this store
until it ends; appends still succeed. It is visible: :meth:`PostgresEventStore.visibility_status`
returns the newest committed position, the newest visible one, how many committed events are
held back and since when, and the transaction they wait for (pid, database, state, age). Never
wait for a subscription to deliver an event from inside a ``writing_transaction``.

Subscriptions wake on LISTEN/NOTIFY (a NOTIFY follows each burst of appends, sent outside the
appending transactions so that it never serialises their commits) and also poll, so a lost
notification costs at most :attr:`poll_interval`; a dropped connection is retried and the
subscription resumes from the last event it delivered. A standby cannot LISTEN: there they poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC
from typing import Any, ClassVar, Final, Self

import asyncpg  # type: ignore[import-untyped]
import psycopg

from eventledger.backoff import Backoff
from eventledger.errors import ConcurrencyError, ReadOnlyStore
from eventledger.events import EncodedEvent, RecordedEvent
from eventledger.store.appends import EncodedAppend
from eventledger.store.base import (
    ANY,
    STREAM_EXISTS,
    EventStore,
    ExpectedVersion,
    expected_version_matches,
)
from eventledger.store.drivers.postgres import (
    RECONNECT_BACKOFF,
    CallersError,
    Connection,
    ConnectionLost,
    ConnectionSettings,
    connect,
    parse_postgres_url,
    unavailable,
)
from eventledger.store.drivers.postgres_pool import CallerConnections
from eventledger.store.drivers.postgres_store_connections import Row, StoreConnections
from eventledger.store.postgres_appends import STREAM_VERSION_CONSTRAINT
from eventledger.store.postgres_many import appended
from eventledger.store.postgres_notifications import Announcer, NotificationListener
from eventledger.store.postgres_own_writes import OwnWrites
from eventledger.store.postgres_recovery import Sent, recover
from eventledger.store.postgres_schema import SCHEMA_VERSION, open_schema
from eventledger.store.postgres_statements import (
    Statements,
    notify_channel,
    recorded_rows,
    visibility_status,
)
from eventledger.store.records import (
    AppendResult,
    OpenTransaction,
    RawEvent,
    Snapshot,
    StreamInfo,
    VisibilityStatus,
)

logger: Final = logging.getLogger("eventledger.postgres")


# ANY and STREAM_EXISTS stay satisfied when another appender wins the race for a version, so
# the append simply runs again; this bounds the retries under pathological contention.
_APPEND_ATTEMPTS: Final = 50
# A multi-stream append that lost a race waits a moment before it reads the versions again, so
# that appenders racing on the same streams do not retry in lockstep.
_RACED_AGAIN: Final = Backoff(first=0.0005, maximum=0.05, jitter=1.0)


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
    # A subscription outlives a lost connection: it reconnects and resumes (see the base loop).
    _resubscribe_on: ClassVar[tuple[type[Exception], ...]] = (ConnectionLost,)
    _resubscribe_backoff: ClassVar[Backoff] = RECONNECT_BACKOFF
    # NOTIFYs are spaced during a burst (below), so under steady traffic a subscriber follows
    # by quick re-reads of its own: commit-to-delivery p99 in another process 54 -> 7-11 ms.
    _follow_quickly: ClassVar[bool] = True

    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__()
        self.settings = settings
        self.schema = settings.schema
        self.poll_interval = settings.poll_interval
        self.events_table = f"{settings.schema}.events"
        self._statements = Statements.for_schema(settings.schema)
        self._connections = StoreConnections(settings, lambda: self._closed, repr(self))
        self._caller_connections = CallerConnections(settings, lambda: self._closed, repr(self))
        self._listener = NotificationListener(
            settings, notify_channel(settings.schema), self._wake_subscribers
        )
        # One NOTIFY per 50 ms at most during a burst: each is a statement of its own, and at
        # 10 ms they were a fifth of the statements four busy writers sent (C1: 0.54x -> 0.79x
        # the raw driver). A quiet store still announces its first append at once.
        self._announcer = Announcer(self._notify, spacing=0.05)
        self._own_writes = OwnWrites()

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
        connection = await connect(self.settings, "cannot connect")
        try:
            async with connection:
                await open_schema(connection, self.schema, self.settings.describe())
        except psycopg.Error as error:
            raise unavailable(self.settings, f"cannot open schema {self.schema!r}", error) from None
        await self._connections.open()
        return self

    async def schema_version(self) -> int:
        """The store schema version recorded in the database."""
        rows = await self._fetch(self._statements.schema_version, (), "read the schema version")
        return int(rows[0][0]) if rows else 0

    async def _fetch(self, statement: bytes, parameters: Any, doing: str) -> list[Row]:
        """Run a read; a connection lost mid-read is retried once (reads are idempotent)."""
        self._check_open()
        return await self._connections.fetch(statement, parameters, doing)

    # ----------------------------------------------------------------- writing

    async def _append(
        self,
        stream_id: str,
        events: list[EncodedEvent],
        expected: ExpectedVersion,
        metadata: str | None,
    ) -> AppendResult:
        statement, parameters = self._statements.appends.statement(stream_id, events, expected, metadata)
        doing = f"append to stream {stream_id!r}"
        for _attempt in range(_APPEND_ATTEMPTS):
            try:
                rows = await self._run_append(statement, parameters, doing)
            except asyncpg.UniqueViolationError as error:
                if error.constraint_name != STREAM_VERSION_CONSTRAINT:
                    raise unavailable(self.settings, doing, error) from None
                # Another appender took a version this batch aimed at, and committed first.
                if expected is ANY or expected is STREAM_EXISTS:
                    continue
                raise ConcurrencyError(stream_id, expected, await self.stream_version(stream_id)) from None
            except asyncpg.DeadlockDetectedError:
                continue  # chosen as a deadlock's victim (another writer's own order): nothing written
            except ConnectionLost as lost:
                first_id = parameters.get("event_id") or parameters["event_ids"][0]
                sent = [Sent(stream_id, first_id, len(events))]
                return (await self._recover(sent, f"the batch for stream {stream_id!r}", lost))[0]
            if not rows:
                actual = await self.stream_version(stream_id)
                if expected_version_matches(expected, actual):
                    continue  # the stream reached the expected version just now: append after it
                raise ConcurrencyError(stream_id, expected, actual)
            rows.sort(key=lambda row: int(row[1]))
            self._wrote(int(rows[0][2]))
            return AppendResult(stream_id, int(rows[-1][1]), tuple(int(row[0]) for row in rows))
        raise ConcurrencyError(stream_id, expected, await self.stream_version(stream_id))

    async def _append_many(self, requests: list[EncodedAppend]) -> list[AppendResult]:
        # One statement in autocommit: one round trip, one transaction (see postgres_many).
        statement, parameters = self._statements.appends.to_streams(requests)
        streams = ", ".join(repr(request.stream_id) for request in requests)
        doing = f"append to streams {streams}"
        for attempt in range(1, _APPEND_ATTEMPTS + 1):
            try:
                rows = await self._run_append(statement, parameters, doing)
            except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError) as error:
                if error.constraint_name not in (STREAM_VERSION_CONSTRAINT, None):
                    raise unavailable(self.settings, doing, error) from None
                # Another appender took a version this append aimed at, and committed (or, by
                # writing streams in its own order, made this statement a deadlock's victim):
                # nothing was written. Again, reading the versions anew: every form either holds
                # still (ANY, STREAM_EXISTS) or is refused naming every stream that no longer holds.
                await asyncio.sleep(_RACED_AGAIN.delay(attempt))
                continue
            except ConnectionLost as lost:
                return await self._recover_many(requests, parameters, doing, lost)
            results, transaction_id = appended(requests, rows)
            if transaction_id:
                self._wrote(transaction_id)
            return results
        first = requests[0]
        raise ConcurrencyError(first.stream_id, first.expected, await self.stream_version(first.stream_id))

    async def _recover_many(
        self, requests: list[EncodedAppend], parameters: dict[str, Any], doing: str, lost: ConnectionLost
    ) -> list[AppendResult]:
        """The connection dropped during a multi-stream append: was it stored, and where?"""
        sent = Sent.of(requests, parameters["event_ids"])
        if not sent:  # a check of versions only: nothing was to be written
            raise lost
        stored = iter(await self._recover(sent, doing.replace("append to", "the append to", 1), lost))
        return [
            next(stored)
            if request.events
            else AppendResult(request.stream_id, await self.stream_version(request.stream_id), ())
            for request in requests
        ]

    async def _recover(self, sent: list[Sent], what: str, lost: ConnectionLost) -> list[AppendResult]:
        results = await recover(self._fetch, self._statements, sent, what, lost)
        logger.info("eventledger: %s was stored before the connection dropped", what)
        if self.settings.notify:
            self._announcer.announce()
        return results

    def _wrote(self, transaction_id: int) -> None:
        """This store's append committed under ``transaction_id``: its reads wait for it, and
        other processes' subscribers are told (a NOTIFY, spaced)."""
        self._own_writes.wrote(transaction_id)
        if self.settings.notify:
            self._announcer.announce()

    async def _notify(self) -> None:
        self._check_open()
        await self._connections.run(self._statements.notify, (), "announce appends")

    async def _run_append(self, statement: bytes, parameters: dict[str, Any], doing: str) -> list[Row]:
        self._check_open()
        return await self._connections.run(statement, parameters, doing)

    @contextlib.asynccontextmanager
    async def writing_transaction(self, connection: Connection | None = None) -> AsyncIterator[Connection]:
        """A transaction of your own in which events may be written: the ONLY safe way to do so.

        Yields a psycopg connection in a transaction that has already locked this store's events
        table in ROW EXCLUSIVE mode (what an INSERT takes anyway), before anything could give it
        a transaction id (the lock-first rule in the module docstring: without it, events
        inserted after writing another table could be skipped by readers for ever). Use it for
        several streams at once, a checkpoint and the events it caused, a read model and its
        events. Once it has a transaction id, readers see nothing committed after that until it
        ends: keep it short.

        It commits when the block ends (waking this store's subscribers, and others' by a
        NOTIFY) and rolls back if the block raises. Errors of your own SQL reach you as psycopg
        raised them; failing to begin, lock or commit raises this store's errors
        (:class:`ReadOnlyStore` on a connection that may not write).

        ``connection``: an autocommit psycopg connection of your own to this store's database
        to run the transaction on instead of a pooled one (a reactor's, which also holds its
        lease as a session lock); it stays open afterwards.

        >>> async def transfer(store: PostgresEventStore) -> None:
        ...     async with store.writing_transaction() as connection:
        ...         await connection.execute("UPDATE accounts SET ...")   # any table, any order
        ...         await connection.execute("INSERT INTO eventledger.events ...")
        """
        doing = "write events in a transaction"
        self._check_open()
        lenders = self._caller_connections
        lender = lenders.connection(doing) if connection is None else lenders.translating(connection, doing)
        try:
            async with lender as connection, connection.transaction():
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
                    raise CallersError(error) from error  # not ours to translate
                cursor = await connection.execute(b"SELECT pg_current_xact_id_if_assigned()::text")
                row = await cursor.fetchone()
        except CallersError as wrapped:
            raise wrapped.error from None
        if row is not None and row[0] is not None:
            self._wrote(int(row[0]))
            self._wake_subscribers()

    # ----------------------------------------------------------------- reading

    async def _read_stream_page(
        self, stream_id: str, start: int | None, limit: int, backwards: bool
    ) -> Sequence[RecordedEvent]:
        if backwards:
            bound = start if start is not None else 2**62
            statement, parameters = self._statements.read_stream_backwards, (stream_id, bound, limit)
        else:
            statement, parameters = self._statements.read_stream_forwards, (stream_id, start or 1, limit)
        rows = await self._fetch(statement, parameters, f"read stream {stream_id!r}")
        return recorded_rows(rows)

    async def _read_all_page(
        self, after: int, limit: int, types: tuple[str, ...] | None
    ) -> Sequence[RecordedEvent]:
        return (await self._page_and_barrier(after, limit, types))[1]

    async def _read_own_writes_page(
        self, after: int, limit: int, types: tuple[str, ...] | None
    ) -> Sequence[RecordedEvent]:
        """A page of ``read_all``: read again (bounded by :attr:`own_writes_wait`) while the
        barrier it was read below has not passed this store's own latest appends."""
        return await self._own_writes.read_visible(
            lambda: self._page_and_barrier(after, limit, types),
            self.own_writes_wait,
            self.settings.describe(),
        )

    async def _page_and_barrier(
        self, after: int, limit: int, types: tuple[str, ...] | None
    ) -> tuple[int, Sequence[RecordedEvent]]:
        if types is not None and not types:
            return 0, []
        parameters: dict[str, Any] = {"after": after, "limit": limit}
        statement = self._statements.read_all
        if types is not None:
            statement = self._statements.read_all_of_types
            parameters["types"] = list(types)
        rows = await self._fetch(statement, parameters, f"read the global log after position {after}")
        # An empty page is one row of NULLs beside the barrier.
        events = recorded_rows([row[1:] for row in rows] if rows[0][1] is not None else [])
        return int(rows[0][0]), events

    async def _read_all_raw_page(self, after: int, limit: int) -> list[RawEvent]:
        # Plain position order, without the visibility barrier: a store-wide check wants every
        # committed row now, and must not stall behind an unrelated long transaction.
        rows = await self._fetch(
            self._statements.read_raw, (after, limit), f"read raw rows after position {after}"
        )
        return [RawEvent(*row) for row in rows]

    async def _stream_version(self, stream_id: str) -> int:
        """The stream's current version (0 when it has no events)."""
        rows = await self._fetch(self._statements.stream_version, (stream_id,), f"read stream {stream_id!r}")
        return int(rows[0][0])

    async def head_position(self) -> int:
        """The position of the last event a reader of the global log can see (0 if none).

        Events committed behind a still-open older event writer are not counted yet; compare
        with :meth:`visibility_status` to see whether readers are held back. Like
        :meth:`read_all`, it first waits (briefly) until this store's own appends are visible.
        """

        async def head() -> tuple[int, int]:
            rows = await self._fetch(self._statements.head_position, (), "read the head position")
            return int(rows[0][0]), int(rows[0][1] or 0)

        return await self._own_writes.read_visible(head, self.own_writes_wait, self.settings.describe())

    async def visibility_status(self) -> VisibilityStatus:
        """How far readers of the global log lag behind writers, and which transaction holds them.

        All from one snapshot: the newest committed position, the last visible one, how many
        committed events wait behind the barrier and when the oldest of them was recorded, and
        the transaction the barrier waits for (pid, database, state, age): one that holds a
        writer lock on this store's events table, or on a standby none (the primary's sessions
        are not listed there).
        """
        self._check_open()
        rows = await self._fetch(self._statements.visibility, (), "read the visibility status")
        return visibility_status(rows[0])

    async def _list_streams(self, after: str, limit: int) -> list[StreamInfo]:
        """Streams ordered by id, starting after ``after``."""
        rows = await self._fetch(self._statements.list_streams, (after or "", limit), "list streams")
        return [StreamInfo(row[0], int(row[1]), row[2].astimezone(UTC)) for row in rows]

    # ----------------------------------------------------------------- following

    @property
    def listening(self) -> bool:
        """True while the store's LISTEN connection is in place (it starts with the first
        subscriber that has caught up, and reconnects by itself when dropped)."""
        return self._listener.listening.is_set()

    def _before_waiting(self) -> None:
        """A subscriber is about to sleep: listen for other processes' NOTIFY (started once)."""
        self._listener.start()

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
        self._check_open()
        await self._connections.run(
            self._statements.save_snapshot, parameters, f"save a snapshot of stream {snapshot.stream_id!r}"
        )

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
        await self._connections.close()
        await self._caller_connections.close()


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
