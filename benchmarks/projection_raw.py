"""A read model's batches through the target against the raw driver running the same statements.

Both sides get the same decoded events (read from the log once, before any timing), so the
figure is the write side of catch-up alone: per batch one transaction holding the checkpoint's
compare-and-set and one ``INSERT ... ON CONFLICT DO UPDATE`` per event, then ``COMMIT``.

- **eventledger**: the target's own batch path, as the runner's applier drives it
  (``TargetConnection.batch`` with the lease check and the checkpoint compare-and-set, then the
  projection's handler per event through the SQL session).
- **raw**: the driver with the statement text written out once. SQLite: ``sqlite3``,
  ``BEGIN IMMEDIATE``, the checkpoint ``UPDATE``, one ``Connection.execute`` per event (one
  cursor reused, and ``executemany``, beside it), ``COMMIT``. PostgreSQL: psycopg's async
  connection in pipeline mode, ``BEGIN``, the checkpoint ``UPDATE``, one ``execute`` per event,
  ``COMMIT`` (``executemany`` beside it), the checkpoint's row count checked after the
  pipeline's sync.

Contenders run interleaved: every repeat runs each of them once, in a rotating order, each on a
fresh read model (a new SQLite file, a new PostgreSQL schema).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg

import eventledger as el
from eventledger.projections import Projection, SQLiteTarget, SQLTransaction, Target
from eventledger.projections.targets.postgres import PostgresTarget

UPSERT = (
    "INSERT INTO {table} AS b (account, balance, events) VALUES ({mark}, {mark}, 1) "
    "ON CONFLICT (account) DO UPDATE SET balance = b.balance + excluded.balance, events = b.events + 1"
)
CREATE = "CREATE TABLE {table} (account TEXT PRIMARY KEY, balance BIGINT NOT NULL, events BIGINT NOT NULL)"
CHECKPOINT_TABLE = "CREATE TABLE {table} (projection TEXT PRIMARY KEY, position BIGINT NOT NULL)"
CHECKPOINT = "UPDATE {table} SET position = {mark} WHERE projection = {mark} AND position = {mark}"

Contender = Callable[[list[list[el.RecordedEvent]]], Awaitable[float]]
"""Applies every batch to a fresh read model; the seconds the batches took."""


def batches(events: Sequence[el.RecordedEvent], size: int) -> list[list[el.RecordedEvent]]:
    """``events`` cut into batches of ``size``."""
    return [list(events[start : start + size]) for start in range(0, len(events), size)]


async def through_target(target: Target[SQLTransaction], projection: Projection[SQLTransaction],
                         work: list[list[el.RecordedEvent]]) -> float:
    """The target's batch path, as the runner's applier drives it; the seconds the batches took."""
    connection = await target.connect()
    try:
        [build] = (await connection.prepare(projection)).run
        if not await connection.acquire_lease(projection.name, "benchmark", 30.0):
            raise RuntimeError("the benchmark's read model is leased by someone else")
        handler_for = projection.handler_for
        checkpoint = build.position
        started = time.perf_counter()
        for batch in work:
            position = batch[-1].position
            async with connection.batch(projection, build, checkpoint, position) as session:
                for recorded in batch:
                    handler = handler_for(type(recorded.event))
                    if handler is not None:
                        await handler(recorded.event, recorded, session)
            checkpoint = position
        return time.perf_counter() - started
    finally:
        await connection.close()
        await target.close()


def raw_sqlite(directory: Path, *, many: bool, one_cursor: bool = False) -> Contender:
    """sqlite3 on a new file per run, ``synchronous=FULL`` and WAL like the target; ``Connection.execute``
    per event (a new cursor each time, the usual code), or one cursor reused (``one_cursor``)."""

    async def run(work: list[list[el.RecordedEvent]]) -> float:
        db = sqlite3.connect(directory / f"raw-{uuid.uuid4().hex[:8]}.db", isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(CREATE.format(table="balances"))
            db.execute(CHECKPOINT_TABLE.format(table="checkpoints"))
            db.execute("INSERT INTO checkpoints VALUES ('raw', 0)")
            upsert = UPSERT.format(table="balances", mark="?")
            checkpoint_sql = CHECKPOINT.format(table="checkpoints", mark="?")
            checkpoint = 0
            started = time.perf_counter()
            for batch in work:
                position = batch[-1].position
                db.execute("BEGIN IMMEDIATE")
                if db.execute(checkpoint_sql, (position, "raw", checkpoint)).rowcount != 1:
                    raise RuntimeError("checkpoint moved")
                if many:
                    db.executemany(upsert, [(r.event.account, r.event.amount) for r in batch])
                else:
                    execute = db.cursor().execute if one_cursor else db.execute
                    for recorded in batch:
                        event = recorded.event
                        execute(upsert, (event.account, event.amount))
                db.execute("COMMIT")
                checkpoint = position
            return time.perf_counter() - started
        finally:
            db.close()

    return run


def raw_postgres(url: str, schemas: list[str], *, many: bool) -> Contender:
    """psycopg's async connection in pipeline mode, in a new schema per run (``schemas`` collects them)."""

    async def run(work: list[list[el.RecordedEvent]]) -> float:
        schema = f"bench_raw_{uuid.uuid4().hex[:10]}"
        schemas.append(schema)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
            table, checkpoints = f'"{schema}"."balances"', f'"{schema}"."checkpoints"'
            await connection.execute(f'CREATE SCHEMA "{schema}"'.encode())
            await connection.execute(CREATE.format(table=table).encode())
            await connection.execute(CHECKPOINT_TABLE.format(table=checkpoints).encode())
            await connection.execute(f"INSERT INTO {checkpoints} VALUES ('raw', 0)".encode())
            upsert = UPSERT.format(table=table, mark="%s").encode()
            checkpoint_sql = CHECKPOINT.format(table=checkpoints, mark="%s").encode()
            checkpoint = 0
            started = time.perf_counter()
            for batch in work:
                position = batch[-1].position
                async with connection.transaction(), connection.pipeline() as pipeline:
                    moved = await connection.execute(checkpoint_sql, (position, "raw", checkpoint))
                    if many:
                        rows = [(r.event.account, r.event.amount) for r in batch]
                        async with connection.cursor() as cursor:
                            await cursor.executemany(upsert, rows)
                    else:
                        for recorded in batch:
                            event = recorded.event
                            await connection.execute(upsert, (event.account, event.amount))
                    await pipeline.sync()
                    if moved.rowcount != 1:
                        raise RuntimeError("checkpoint moved")
                checkpoint = position
            return time.perf_counter() - started

    return run


NewProjection = Callable[[Target[SQLTransaction]], Projection[SQLTransaction]]


def target_contender(new_target: Callable[[], Target[SQLTransaction]],
                     new_projection: NewProjection) -> Contender:
    """The target's batch path on a fresh read model per run."""

    async def run(work: list[list[el.RecordedEvent]]) -> float:
        target = new_target()
        return await through_target(target, new_projection(target), work)

    return run


async def interleaved(contenders: dict[str, Contender], work: list[list[el.RecordedEvent]],
                      repeats: int) -> dict[str, list[float]]:
    """Events/s of every contender per repeat, the order rotating from repeat to repeat."""
    names = list(contenders)
    events = sum(len(batch) for batch in work)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            rates[name].append(events / await contenders[name](work))
    return rates


def sqlite_contenders(directory: Path, new_projection: NewProjection) -> dict[str, Contender]:
    """The SQLite target (default settings) and raw sqlite3, each on new files in ``directory``."""

    def new_target() -> Target[SQLTransaction]:
        return SQLiteTarget(directory / f"read-{uuid.uuid4().hex[:8]}.db")

    return {
        "eventledger": target_contender(new_target, new_projection),
        "raw": raw_sqlite(directory, many=False),
        "raw one cursor": raw_sqlite(directory, many=False, one_cursor=True),
        "raw executemany": raw_sqlite(directory, many=True),
    }


def postgres_contenders(url: str, schemas: list[str], new_projection: NewProjection) -> dict[str, Contender]:
    """The PostgreSQL target by default and with ``pipeline=False``, and raw psycopg (pipelined)."""

    def new_target(**options: Any) -> Callable[[], Target[SQLTransaction]]:
        def make() -> Target[SQLTransaction]:
            schema = f"bench_target_{uuid.uuid4().hex[:10]}"
            schemas.append(schema)
            return PostgresTarget(url, schema=schema, **options)

        return make

    return {
        "eventledger": target_contender(new_target(), new_projection),
        "eventledger pipeline=False": target_contender(new_target(pipeline=False), new_projection),
        "raw": raw_postgres(url, schemas, many=False),
        "raw executemany": raw_postgres(url, schemas, many=True),
    }
