"""User code: projections whose ``target`` keeps its concrete type, beside the older spelling."""

from __future__ import annotations

import eventledger as el
from eventledger.projections import (
    MemoryReadModel,
    MemoryTarget,
    Projection,
    SQLiteTarget,
    SQLTransaction,
    handles,
)
from eventledger.projections.targets.postgres import PostgresTarget


class Deposited(el.Event, type_name="typed_projection_code.deposited"):
    amount: int


class Totals(Projection[SQLTransaction, SQLiteTarget], name="totals"):
    """Names its target class: ``self.target.read()`` type-checks without a cast."""

    tables = ("totals",)

    async def setup(self, sql: SQLTransaction) -> None:
        await sql.execute(f"CREATE TABLE {sql.table('totals')} (total BIGINT NOT NULL)")

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        await sql.execute(f"UPDATE {sql.table('totals')} SET total = total + %s", (event.amount,))

    async def total(self) -> int:
        async with self.target.read() as sql:
            row = await sql.fetch_one(f"SELECT total FROM {sql.table('totals')}")
        return 0 if row is None else int(row[0])


class AnySQLTotals(Projection[SQLTransaction], name="any-sql-totals"):
    """The older spelling: any target of SQL sessions."""

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        await sql.execute("SELECT %s", (event.amount,))


class Counts(Projection[MemoryReadModel, MemoryTarget], name="counts"):
    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
        model.table("counts")["deposits"] = int(model.table("counts").get("deposits", 0)) + 1

    def deposits(self) -> int:
        return int(self.target.table(self.name, "counts").get("deposits", 0))


def runner(store: el.EventStore) -> el.ProjectionRunner:
    totals = Totals(SQLiteTarget("read.db"))
    concrete: SQLiteTarget = totals.target
    assert concrete is totals.target
    projections: list[Projection[SQLTransaction]] = [
        totals,
        AnySQLTotals(SQLiteTarget("read.db")),
        AnySQLTotals(PostgresTarget("postgresql://localhost/test")),
    ]
    return el.ProjectionRunner(store, [*projections, Counts(MemoryTarget())])
