"""Document read models against plain SQL handlers: catch-up throughput on SQLite and PostgreSQL.

Run: ``.venv/bin/python -m benchmarks.document_throughput [--events 20000] [--rounds 3]
[--batch-size 500] [--postgres postgresql://postgres@127.0.0.1:5432/test] [--json out.json]``

The log holds ``--events`` deposits over 1,000 accounts (appended beforehand, the same log as
``projection_throughput.py``). A fresh read model is built from position 0 with
``run_until_caught_up()``, one transaction per batch with the checkpoint compare-and-set, by
three projections that keep the same facts (balance and event count per account):

- **sql upsert**: one ``INSERT ... ON CONFLICT DO UPDATE`` per event (the database adds);
- **sql read+write**: a ``SELECT`` of the row, then the upsert of the new values (the shape of a
  handler that decides from what it reads, as a document handler does);
- **documents**: ``get`` the account's pydantic document, ``put`` the evolved copy (JSON text on
  SQLite, JSONB on PostgreSQL; the put checks the JSON reads back equal).

The figure is events per second: min, median and max of ``--rounds`` (each round runs every
case once, so drifts in the machine's load fall on all cases alike). Each SQLite run uses a file
of its own; each PostgreSQL run a schema of its own, dropped afterwards. Nothing is asserted:
it measures and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pydantic

import eventledger as el
from benchmarks.projection_throughput import (
    Balances,
    Deposited,
    Place,
    machine,
    postgres_place,
    preload,
    sqlite_place,
)
from eventledger.projections import Projection, SQLTransaction, Target, handles
from eventledger.projections.documents import DocumentProjection, DocumentSession


class Balance(pydantic.BaseModel):
    """One account's document."""

    account: str
    balance: int = 0
    events: int = 0


class BalanceDocuments(
    DocumentProjection, name="benchmark-balance-documents", documents={"balances": Balance}
):
    """Load, evolve and store one document per event."""

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        balances = docs[Balance]
        current = await balances.get(event.account) or Balance(account=event.account)
        evolved = {"balance": current.balance + event.amount, "events": current.events + 1}
        await balances.put(event.account, current.model_copy(update=evolved))


class ReadThenWrite(Projection[SQLTransaction], name="benchmark-balances-read-write"):
    """Read the row, then write the new values: what a handler deciding from its read model does."""

    tables = ("balances",)

    async def setup(self, sql: SQLTransaction) -> None:
        await sql.execute(
            f"CREATE TABLE {sql.table('balances')} "
            "(account TEXT PRIMARY KEY, balance BIGINT NOT NULL, events BIGINT NOT NULL)"
        )

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        table = sql.table("balances")
        row = await sql.fetch_one(f"SELECT balance, events FROM {table} WHERE account = %s", (event.account,))
        balance, events = (0, 0) if row is None else (int(row[0]), int(row[1]))
        await sql.execute(
            f"INSERT INTO {table} (account, balance, events) VALUES (%s, %s, %s) "
            "ON CONFLICT (account) DO UPDATE SET balance = excluded.balance, events = excluded.events",
            (event.account, balance + event.amount, events + 1),
        )


CASES: dict[str, Callable[[Target[SQLTransaction]], Projection[SQLTransaction]]] = {
    "sql upsert": Balances,
    "sql read+write": ReadThenWrite,
    "documents": BalanceDocuments,
}


@dataclass
class Result:
    """One case's figures."""

    database: str
    case: str
    events: int
    batch_size: int
    minimum: float
    median: float
    maximum: float
    unit: str = "events/s"


async def catch_up(place: Place, events: int, batch_size: int, rounds: int) -> list[Result]:
    rates: dict[str, list[float]] = {case: [] for case in CASES}
    async with el.open_store(place.store_url) as store:
        await preload(store, events)
        # Rounds interleave the cases, so a drift in the machine's load falls on all of them alike.
        for _ in range(rounds):
            for case, make in CASES.items():
                runner = el.ProjectionRunner(store, [make(place.new_target())], batch_size=batch_size)
                started = time.perf_counter()
                [status] = await runner.run_until_caught_up()
                elapsed = time.perf_counter() - started
                assert status.lag_events == 0, status
                rates[case].append(events / elapsed)
    results = []
    for case, measured in rates.items():
        median = statistics.median(measured)
        result = Result(place.database, case, events, batch_size, min(measured), median, max(measured))
        results.append(result)
        print(
            f"  {place.database:<12} {case:<15} min {result.minimum:>9,.0f}  "
            f"median {result.median:>9,.0f}  max {result.maximum:>9,.0f} events/s"
        )
    return results


async def run(arguments: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="eventledger-document-bench-") as directory:
        async with sqlite_place(Path(directory)) as place:
            results += await catch_up(place, arguments.events, arguments.batch_size, arguments.rounds)
    if arguments.postgres:
        async with postgres_place(arguments.postgres) as place:
            results += await catch_up(place, arguments.events, arguments.batch_size, arguments.rounds)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000, help="events in the log")
    parser.add_argument("--rounds", type=int, default=3, help="catch-up runs per case (min/median/max)")
    parser.add_argument("--batch-size", type=int, default=500, help="events per batch transaction")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test", help="'' to skip")
    parser.add_argument("--json", type=Path, help="also write the results here")
    arguments = parser.parse_args()
    print(f"machine: {machine()}")
    results = asyncio.run(run(arguments))
    print()
    print(f"{'database':<12} {'case':<15} {'min':>10} {'median':>10} {'max':>10}  unit")
    for result in results:
        print(
            f"{result.database:<12} {result.case:<15} {result.minimum:>10,.0f} {result.median:>10,.0f} "
            f"{result.maximum:>10,.0f}  {result.unit} ({result.events} events, batch {result.batch_size})"
        )
    if arguments.json:
        arguments.json.write_text(
            json.dumps({"machine": machine(), "results": [asdict(r) for r in results]}, indent=2)
        )


if __name__ == "__main__":
    main()
