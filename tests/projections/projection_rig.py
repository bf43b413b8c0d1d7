"""What the projection tests share: events, a ledger projection per target kind, and rigs.

The ledger read model is built to reveal a lost or doubled event: balances and per-account
event counts are *increments* (applying an event twice changes them), and every applied
event appends a row to ``applied`` (no unique key, so a duplicate shows up as a second row).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import signal
import sqlite3
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from waits import WAIT, bounded, visible

import eventledger as el
from eventledger.errors import EventDecodeError, UnknownEventType
from eventledger.projections import (
    MemoryReadModel,
    MemoryTarget,
    Projection,
    SQLiteTarget,
    SQLTransaction,
    Target,
    handles,
)
from eventledger.projections.targets.postgres import PostgresTarget
from eventledger.store.memory import MemoryEventStore, StoredEvent
from eventledger.store.records import VisibilityStatus

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


class Deposited(el.Event, type_name="test.projections.deposited"):
    account: str
    amount: int


class Withdrawn(el.Event, type_name="test.projections.withdrawn"):
    account: str
    amount: int


class Remarked(el.Event, type_name="test.projections.remarked"):
    """No ledger handler: passed over, yet the checkpoint moves past it."""

    text: str


class Faults:
    """Makes the handler refuse chosen amounts, a number of times each (then it succeeds)."""

    def __init__(self) -> None:
        self.remaining: dict[int, int] = {}
        self.attempts: Counter[int] = Counter()

    def refuse(self, amount: int, times: int = 1_000_000) -> None:
        self.remaining[amount] = times

    def heal(self) -> None:
        self.remaining.clear()

    def check(self, amount: int) -> None:
        self.attempts[amount] += 1
        if self.remaining.get(amount, 0) > 0:
            self.remaining[amount] -= 1
            raise RuntimeError(f"refusing amount {amount}")


@dataclass
class Gate:
    """Holds the handler at an event until the test opens it (to look at things mid-build)."""

    at_amount: int
    armed: bool = True
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    async def pass_through(self, amount: int) -> None:
        if self.armed and amount == self.at_amount and not self.opened.is_set():
            self.reached.set()
            await self.opened.wait()


class PausedReads:
    """Wraps a store so that reading the log pauses once past a position, until opened.

    Unlike a :class:`Gate` it pauses a runner *between* batches, outside any transaction, so
    other runners can write meanwhile (SQLite has one writer at a time). Only batch reads
    pause: a status query's one-event peek goes through.
    """

    def __init__(self, store: el.EventStore, after: int) -> None:
        self.store = store
        self.after = after
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()

    async def read_all(self, *, after: int = 0, limit: int | None = None) -> AsyncIterator[el.RecordedEvent]:
        if after >= self.after and limit != 1 and not self.opened.is_set():
            self.reached.set()
            await self.opened.wait()
        async for recorded in self.store.read_all(after=after, limit=limit):
            yield recorded

    def subscribe(self, *, after: int = 0) -> AsyncIterator[el.RecordedEvent]:
        return self.store.subscribe(after=after)

    async def head_position(self) -> int:
        return await self.store.head_position()

    async def visibility_status(self) -> VisibilityStatus:
        return await self.store.visibility_status()


class SQLLedger(Projection[SQLTransaction], name="ledger"):
    """The ledger into a SQL target."""

    tables = ("balances", "applied")

    def __init__(
        self,
        target: Target[SQLTransaction],
        *,
        faults: Faults | None = None,
        gate: Gate | None = None,
        runner_id: str = "",
        delay: float = 0.0,
    ) -> None:
        super().__init__(target)
        self.faults = faults or Faults()
        self.gate = gate
        self.runner_id = runner_id
        self.delay = delay

    async def setup(self, sql: SQLTransaction) -> None:
        await sql.execute(
            f"CREATE TABLE {sql.table('balances')} "
            "(account TEXT PRIMARY KEY, balance BIGINT NOT NULL, events INTEGER NOT NULL)"
        )
        await sql.execute(
            f"CREATE TABLE {sql.table('applied')} (position BIGINT NOT NULL, event_id TEXT NOT NULL, "
            "runner TEXT NOT NULL)"
        )

    async def _move(self, account: str, amount: int, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        self.faults.check(abs(amount))
        if self.gate is not None:
            await self.gate.pass_through(abs(amount))
        if self.delay:
            await asyncio.sleep(self.delay)  # widens the window a kill can land in
        balances = sql.table("balances")
        await sql.execute(
            f"INSERT INTO {balances} AS b (account, balance, events) VALUES (%s, %s, 1) "
            "ON CONFLICT (account) DO UPDATE SET balance = b.balance + excluded.balance, "
            "events = b.events + 1",
            (account, amount),
        )
        await sql.execute(
            f"INSERT INTO {sql.table('applied')} (position, event_id, runner) VALUES (%s, %s, %s)",
            (recorded.position, str(recorded.event_id), self.runner_id),
        )

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        await self._move(event.account, event.amount, recorded, sql)

    @handles
    async def withdrawn(self, event: Withdrawn, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        await self._move(event.account, -event.amount, recorded, sql)


class MemoryLedger(Projection[MemoryReadModel], name="ledger"):
    """The same ledger into the in-memory target."""

    tables = ("balances", "applied")

    def __init__(
        self,
        target: Target[MemoryReadModel],
        *,
        faults: Faults | None = None,
        gate: Gate | None = None,
        runner_id: str = "",
    ) -> None:
        super().__init__(target)
        self.faults = faults or Faults()
        self.gate = gate
        self.runner_id = runner_id

    async def _move(
        self, account: str, amount: int, recorded: el.RecordedEvent, model: MemoryReadModel
    ) -> None:
        self.faults.check(abs(amount))
        if self.gate is not None:
            await self.gate.pass_through(abs(amount))
        balances = model.table("balances")
        balance, events = balances.get(account, (0, 0))
        balances[account] = (balance + amount, events + 1)
        applied = model.table("applied")
        applied[len(applied)] = (recorded.position, str(recorded.event_id), self.runner_id)

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
        await self._move(event.account, event.amount, recorded, model)

    @handles
    async def withdrawn(self, event: Withdrawn, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
        await self._move(event.account, -event.amount, recorded, model)


@dataclass(frozen=True)
class LedgerView:
    """What a ledger read model holds (or should hold)."""

    balances: dict[str, tuple[int, int]]
    applied: list[int]
    runners: Counter[str] = field(default_factory=Counter, compare=False)


async def expected_view(store: el.EventStore) -> LedgerView:
    """The ledger a from-scratch replay of the whole log produces."""
    return expected_from([recorded async for recorded in store.read_all()])


def expected_from(log: list[el.RecordedEvent]) -> LedgerView:
    """The ledger that applying ``log`` in order produces."""
    balances: dict[str, tuple[int, int]] = {}
    applied: list[int] = []
    for recorded in log:
        event = recorded.event
        if isinstance(event, Deposited | Withdrawn):
            amount = event.amount if isinstance(event, Deposited) else -event.amount
            balance, count = balances.get(event.account, (0, 0))
            balances[event.account] = (balance + amount, count + 1)
            applied.append(recorded.position)
    return LedgerView(balances, applied)


async def ledger_view(target: Target[Any]) -> LedgerView:
    """What the serving build of the ledger holds, read the way a reader would."""
    if isinstance(target, MemoryTarget):
        balances = dict(target.table("ledger", "balances"))
        rows = list(target.table("ledger", "applied").values())
        return LedgerView(balances, [row[0] for row in rows], Counter(row[2] for row in rows))
    assert isinstance(target, SQLiteTarget | PostgresTarget)
    async with target.read() as sql:
        balance_rows = await sql.fetch_all(f"SELECT account, balance, events FROM {sql.table('balances')}")
        applied_rows = await sql.fetch_all(f"SELECT position, runner FROM {sql.table('applied')}")
    return LedgerView(
        {row[0]: (int(row[1]), int(row[2])) for row in balance_rows},
        sorted(int(row[0]) for row in applied_rows),
        Counter(row[1] for row in applied_rows),
    )


async def deposit_many(
    store: el.EventStore, count: int, *, accounts: int = 7, start: int = 1, wait: bool = True
) -> None:
    """Append ``count`` deposits (amounts start, start+1, ...) in batches over several streams,
    with a withdrawal and an unhandled remark now and then; with ``wait``, until readers see them."""
    amount = start
    written = 0
    last = 0
    while written < count:
        size = min(5, count - written)
        events: list[el.Event] = []
        for _ in range(size):
            account = f"acct-{amount % accounts}"
            events.append(
                Withdrawn(account=account, amount=amount)
                if amount % 11 == 0
                else Deposited(account=account, amount=amount)
            )
            amount += 1
        if amount % 3 == 0:
            events.append(Remarked(text=f"after {amount}"))
        result = await store.append(f"acct-{amount % accounts}", events, expected_version=el.ANY)
        last = result.positions[-1]
        written += size
    if wait:
        await visible(store, last)


async def readable_events(store: el.EventStore) -> list[el.RecordedEvent]:
    """The global log one event at a time, stepping over events that cannot be decoded."""
    events: list[el.RecordedEvent] = []
    cursor = 0
    while True:
        try:
            got = [recorded async for recorded in store.read_all(after=cursor, limit=1)]
        except (UnknownEventType, EventDecodeError) as error:
            cursor = error.position
            continue
        if not got:
            return events
        events.extend(got)
        cursor = got[-1].position


async def insert_undecodable(rig: Rig, stream_id: str) -> int:
    """Store an event of a type no class is registered for, as a foreign writer would; its position."""
    type_name, data = "test.projections.vanished", '{"what": "nobody knows"}'
    if rig.kind == "memory":
        assert isinstance(rig.store, MemoryEventStore)
        rows = rig.store.stored_events()
        position = rows[-1].position + 1 if rows else 1
        rig.store.insert_stored_event(
            StoredEvent(position, stream_id, 1, uuid.uuid4(), type_name, 1, data, None, datetime.now(UTC))
        )
        return position
    if rig.kind == "sqlite":
        path = rig.store_url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            cursor = db.execute(
                "INSERT INTO events (stream_id, version, event_id, type, schema_version, data, metadata, "
                "recorded_at) VALUES (?, 1, ?, ?, 1, ?, NULL, 0) RETURNING position",
                (stream_id, str(uuid.uuid4()), type_name, data),
            )
            return int(cursor.fetchone()[0])
    async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
        cursor = await connection.execute(
            f'INSERT INTO "{rig.schema}".events (stream_id, version, event_id, type, data) '
            "VALUES (%s, 1, gen_random_uuid(), %s, %s::jsonb) RETURNING position".encode(),
            (stream_id, type_name, data),
        )
        row = await cursor.fetchone()
        assert row is not None
        return int(str(row[0]))


@dataclass
class Rig:
    """A store and a read-model database of one kind, fresh for one test."""

    kind: str
    store: el.EventStore
    new_target: Callable[[], Target[Any]]
    store_url: str
    target_url: str
    schema: str = ""
    cleanups: list[Callable[[], Any]] = field(default_factory=list)

    @functools.cached_property
    def reader(self) -> Target[Any]:
        """One target object for reading the read model (one small pool on PostgreSQL)."""
        return self.new_target()

    def ledger(self, target: Target[Any] | None = None, **options: Any) -> Projection[Any]:
        chosen = target if target is not None else self.new_target()
        if self.kind == "memory":
            return MemoryLedger(chosen, **options)
        return SQLLedger(chosen, **options)

    async def open_store(self) -> el.EventStore:
        """Another store object (another connection) on the same event database."""
        if self.kind == "memory":
            return self.store
        opened = await el.open_store(self.store_url)
        self.cleanups.append(opened.close)
        return opened


async def drop_schema(schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


async def make_rig(kind: str, tmp_path: Path) -> AsyncIterator[Rig]:
    """Yield a rig of ``kind`` (memory, sqlite, postgres) and clean up after it."""
    targets: list[Target[Any]] = []
    if kind == "memory":
        store: el.EventStore = await el.open_store("memory://")
        shared = MemoryTarget()
        rig = Rig(kind, store, lambda: shared, "memory://", "memory")
        yield rig
    elif kind == "sqlite":
        store_url = f"sqlite:///{tmp_path / 'events.db'}"
        read_path = tmp_path / "read.db"
        store = await el.open_store(store_url)

        def new_sqlite() -> Target[Any]:
            made = SQLiteTarget(read_path)
            targets.append(made)
            return made

        rig = Rig(kind, store, new_sqlite, store_url, str(read_path))
        yield rig
    else:
        schema = f"test_proj_{uuid.uuid4().hex[:12]}"
        url = f"{POSTGRES_URL}?schema={schema}"
        store = await el.open_store(url)

        def new_postgres() -> Target[Any]:
            made = PostgresTarget(url)
            targets.append(made)
            return made

        rig = Rig(kind, store, new_postgres, url, url, schema)
        try:
            yield rig
        finally:
            await _close(rig, store, targets)
            await drop_schema(schema)
        return
    await _close(rig, store, targets)


async def _close(rig: Rig, store: el.EventStore, targets: list[Target[Any]]) -> None:
    for cleanup in rig.cleanups:
        await cleanup()
    for target in targets:
        await target.close()
    await store.close()


class RunnerProcess:
    """``projection_process.py`` running the SQL ledger of a rig in a child process."""

    SCRIPT = Path(__file__).with_name("projection_process.py")

    def __init__(
        self, rig: Rig, runner_id: str, *, batch: int = 20, delay: float = 0.0, ttl: float = 1.0
    ) -> None:
        self.rig = rig
        self.runner_id = runner_id
        self.arguments = ["--batch", str(batch), "--delay", str(delay), "--ttl", str(ttl)]
        self.process: asyncio.subprocess.Process | None = None

    def command(self) -> list[str]:
        """The script's arguments."""
        return [self.rig.kind, self.rig.store_url, self.rig.target_url, self.runner_id, *self.arguments]

    async def start(self) -> RunnerProcess:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(self.SCRIPT),
            *self.command(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return self

    async def wait_for(self, line: str, within: float = WAIT) -> None:
        """Wait until the process prints ``line``; fail (with its stderr) if it exits first."""
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout

        async def printed() -> None:
            while True:
                output = await stdout.readline()
                if not output:
                    assert self.process is not None
                    stderr = await self.process.stderr.read() if self.process.stderr else b""
                    raise AssertionError(f"runner process exited before {line!r}: {stderr.decode()[-2000:]}")
                if output.decode().strip() == line:
                    return

        what = f"runner process {self.runner_id} to print {line!r}"
        await bounded(printed(), what, within=within, store=self.rig.store)

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs in the child."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()


async def kill_at_random(
    rig: Rig,
    process: type[RunnerProcess],
    lives: int,
    chance: random.Random,
    append_more: Callable[..., Awaitable[object]],
) -> None:
    """Run ``lives`` runner processes one after another, each SIGKILLed at a random moment (up
    to 0.2 s) after it took the lease; after every fourth, ``append_more(start=n)`` appends more
    events, so later lives also meet events that arrived between kills."""
    for life in range(lives):
        runner = await process(rig, f"life-{life}", batch=25, delay=0.0005, ttl=0.3).start()
        try:
            await runner.wait_for("leading")
            await asyncio.sleep(chance.uniform(0.0, 0.2))
        finally:
            await runner.kill()
        if life % 4 == 3:
            await append_more(start=100_000 + life * 100)
